"""Where a logging call goes: the split (and inference name) and epoch it logs to.

A call names them or takes what ``dq.set_split`` / ``dq.set_epoch`` chose; :class:`Routing`
holds those choices and resolves a call's arguments against them.
"""

from __future__ import annotations

from typing import Any

from ..core import layout as S
from ..core import store
from ..core.splits import check_epoch, normalize_split
from ..exceptions import SplitError

_MAX_ROUTES = 64  # answers kept (e.g. a new epoch number every call: keep it small)


def plain(split: Any, inference_name: Any, epoch: Any) -> bool:
    """Whether ``split`` and ``inference_name`` are None or exactly ``str`` and ``epoch`` None or
    exactly ``int`` (not bool, not a numpy type): such values compare equal only to values that
    route the same, so they can key a cache (True == 1 and 1.0 == 1, which are refused as epochs)."""
    return ((epoch is None or type(epoch) is int) and (split is None or type(split) is str)
            and (inference_name is None or type(inference_name) is str))


class Routing:
    """The split, inference name and epoch set on a run, and the route of each call.

    Attributes
    ----------
    split : str or None
        Canonical split name set by :meth:`set_split`.
    inference_name : str or None
    epoch : int or None
    """

    __slots__ = ("split", "inference_name", "epoch", "_routes")

    def __init__(self) -> None:
        self.split: str | None = None
        self.inference_name: str | None = None
        self.epoch: int | None = None
        self._routes: dict[tuple, tuple[str, int | None]] = {}

    def state(self) -> tuple:
        """What the route of a call depends on besides its arguments."""
        return (self.split, self.inference_name, self.epoch)

    def set_split(self, split: Any, inference_name: Any = None, *, fn: str) -> None:
        s = normalize_split(split, fn=fn)
        if s == S.INFERENCE:
            if inference_name is None:
                raise SplitError(
                    f"{fn}: split 'inference' needs an `inference_name` (e.g. "
                    "dq.set_split('inference', inference_name='2026-11'))."
                )
            inference_name = store.check_name(inference_name, fn=fn, arg="inference_name")
        elif inference_name is not None:
            raise SplitError(f"{fn}: `inference_name` applies only to split 'inference'; got split {split!r}.")
        self.split, self.inference_name = s, inference_name

    def set_epoch(self, epoch: Any, *, fn: str) -> None:
        self.epoch = check_epoch(epoch, fn=fn)

    def resolve(self, split: Any, inference_name: Any, *, fn: str) -> tuple[str, str | None]:
        """The (split, inference_name) of a call: its arguments, else what set_split chose."""
        if split is None:
            if self.split is None:
                raise SplitError(
                    f"{fn}: no split is set. Pass `split=` or call dq.set_split(...) first "
                    "(train, validation, test or inference)."
                )
            s, name = self.split, self.inference_name
            if inference_name is not None:
                name = inference_name
        else:
            s = normalize_split(split, fn=fn)
            name = inference_name
            if s == S.INFERENCE and name is None and self.split == S.INFERENCE:
                name = self.inference_name
        if s == S.INFERENCE:
            if name is None:
                raise SplitError(
                    f"{fn}: split 'inference' needs an `inference_name`; pass it here or with "
                    "dq.set_split('inference', inference_name=...)."
                )
            name = store.check_name(name, fn=fn, arg="inference_name")
        elif name is not None:
            raise SplitError(
                f"{fn}: `inference_name` applies only to split 'inference'; got split "
                f"{split if split is not None else s!r}{'' if split is not None else ' (set by dq.set_split)'}."
            )
        return s, name

    def output_route(self, split: Any, inference_name: Any, epoch: Any, *, fn: str) -> tuple[str, int | None]:
        """The split folder key and epoch a ``log_model_outputs`` call logs to.

        A training loop asks the same question every batch: answers for plain ``str``/``int``/None
        arguments are kept, keyed by the arguments and the split and epoch set on the run.
        """
        cacheable = plain(split, inference_name, epoch)
        if cacheable:
            ck = (split, inference_name, epoch, self.split, self.inference_name, self.epoch)
            hit = self._routes.get(ck)
            if hit is not None:
                return hit
        s, name = self.resolve(split, inference_name, fn=fn)
        if s == S.INFERENCE:
            ep = None
        else:
            ep = self.epoch if epoch is None else epoch
            if ep is None:
                raise SplitError(
                    f"{fn}: no epoch is set for split {s!r}. Pass `epoch=` or call dq.set_epoch(...) first."
                )
            ep = check_epoch(ep, fn=fn)
        route = (S.split_key(s, name), ep)
        if cacheable:
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[ck] = route
        return route
