"""The columns every task's inputs start with: ``id`` and ``text``, checked and converted once.

Each task's ``normalize_inputs`` begins here (then adds its labels, token offsets or spans).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.convert import check_ids
from ..exceptions import SchemaError


def text_values(df: Any, col: str, *, fn: str, ids: np.ndarray, arg: str) -> list[str]:
    """Column ``col`` of ``df`` as a list of strings; SchemaError naming ``fn``, the argument and
    a few (id, value) examples when a row holds anything else (None, NaN, a number)."""
    values = df[col].tolist()
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        examples = [(ids[i].item() if hasattr(ids[i], "item") else ids[i], values[i]) for i in bad[:5]]
        raise SchemaError(
            f"{fn}: column {col!r} (`{arg}`) must hold a string for every sample; "
            f"{len(bad)} row(s) do not, e.g. (id, value) {examples}."
        )
    return values


def id_and_text(df: Any, cols: Any, *, fn: str, required: tuple[tuple[str, str], ...] = ()) -> tuple[np.ndarray, dict]:
    """The checked ids of a chunk of inputs and its ``id`` and ``text`` columns as Arrow arrays.

    Parameters
    ----------
    df : pandas.DataFrame
        One chunk of a logged dataset, with the user's column names.
    cols : Columns
        Which user column holds the id and the text.
    required : tuple of (argument, column)
        Other columns the task needs, checked for presence with the same message.

    Raises
    ------
    SchemaError
        A column is missing (the message lists the columns there are), the chunk is empty, or a
        text is not a string.
    DuplicateIdError, InputTypeError
        From :func:`dataquality.core.convert.check_ids`.
    """
    import pyarrow as pa

    from ..core import layout as S

    present = set(map(str, df.columns))
    for arg, col in (("id", cols.id), ("text", cols.text), *required):
        if col not in present:
            raise SchemaError(
                f"{fn}: the dataset has no {col!r} column for `{arg}`; columns are "
                f"{sorted(present)}. Pass `{arg}=<column name>`." if arg in ("id", "text") else
                f"{fn}: the dataset needs a {col!r} column (`{arg}`); columns are {sorted(present)}."
            )
    if len(df) == 0:
        raise SchemaError(f"{fn}: `dataset` is empty; log at least one sample.")
    ids = check_ids(df[cols.id].to_numpy(), fn=fn, arg=f"id (column {cols.id!r})")
    out = {S.ID: pa.array(ids, type=pa.int64() if ids.dtype.kind == "i" else pa.string()),
           S.TEXT: pa.array(text_values(df, cols.text, fn=fn, ids=ids, arg="text"), pa.string())}
    return ids, out
