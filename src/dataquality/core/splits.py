"""Split and epoch arguments as every side of the package accepts them (``"train"`` -> ``"training"``).

Shared by the write side (``dq.set_split``, ``dq.set_epoch``) and the read side (``dq.metrics``):
one spelling of the aliases and one error message for each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import SplitError
from . import layout as S


def normalize_split(split: Any, *, fn: str) -> str:
    """The canonical split name of ``split`` (a name or alias, any case).

    Raises
    ------
    SplitError
        ``split`` is not a string naming a split; the message lists the accepted names.
    """
    if not isinstance(split, str) or split.lower() not in S.SPLIT_ALIASES:
        raise SplitError(
            f"{fn}: `split` must be one of {sorted(S.SPLIT_ALIASES)}; got {split!r}."
        )
    return S.SPLIT_ALIASES[split.lower()]


def check_epoch(epoch: Any, *, fn: str) -> int:
    """``epoch`` as an int, checked to be a non-negative integer (not a bool).

    Raises
    ------
    SplitError
        Anything else; the message names ``fn`` and what arrived.
    """
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)):
        raise SplitError(f"{fn}: `epoch` must be a non-negative integer; got {epoch!r}.")
    if epoch < 0:
        raise SplitError(f"{fn}: `epoch` must be a non-negative integer; got {epoch}.")
    return int(epoch)
