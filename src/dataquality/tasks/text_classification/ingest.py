"""Text-classification inputs for ``dq.log_dataset``: ids, texts (and text pairs), labels, meta.

:func:`normalize_frame` turns one DataFrame chunk into the stored input table: ``id``, ``text``,
[``text_pair``], [``gold`` | ``gold_index``], then meta columns.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...core import layout as S
from ...exceptions import LabelError, SchemaError
from ..base import Columns
from ..columns import id_and_text, text_values


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def normalize_frame(df: Any, *, fn: str, cols: Columns, split: str, labels: list[str] | None):
    """Validate one DataFrame chunk and return it as an Arrow table of the input schema.

    Returns
    -------
    pyarrow.Table
        Columns ``id``, ``text``, [``text_pair``], [``gold`` | ``gold_index``], then meta columns.
    """
    import pyarrow as pa

    present = set(map(str, df.columns))
    ids, out = id_and_text(df, cols, fn=fn)

    if cols.text_pair in present:
        out[S.TEXT_PAIR] = pa.array(
            text_values(df, cols.text_pair, fn=fn, ids=ids, arg="text_pair"), pa.string()
        )
    elif cols.text_pair_explicit:
        raise SchemaError(
            f"{fn}: the dataset has no {cols.text_pair!r} column for `text_pair`; columns are {sorted(present)}."
        )

    if split == S.INFERENCE:
        if cols.label_explicit:
            raise LabelError(
                f"{fn}: split 'inference' takes no labels (production data is unlabeled); got "
                f"`label={cols.label!r}`. Drop the argument, or log labeled data as 'test'."
            )
        if cols.label in present:
            warnings.warn(
                f"{fn}: column {cols.label!r} is ignored for split 'inference' (it has no labels).",
                stacklevel=8,  # the caller of dq.log_dataset (through the run and its task)
            )
    else:
        if cols.label not in present:
            raise LabelError(
                f"{fn}: split {split!r} needs labels, but the dataset has no {cols.label!r} column; "
                f"columns are {sorted(present)}. Pass `label=<column name>`."
            )
        out.update(_gold_columns(df[cols.label].tolist(), ids, fn=fn, labels=labels, col=cols.label))

    for m in cols.meta:
        out[m] = meta_column(df, m, fn=fn, reserved=(cols.id, cols.text, cols.label, cols.text_pair))
    return pa.table(out)


def meta_column(df: Any, name: str, *, fn: str, reserved: Iterable[str] = ()):
    """The meta column ``name`` of ``df`` as an Arrow array of numbers, strings, booleans or
    dates; SchemaError if it is missing, clashes with a stored column or holds anything else."""
    import pyarrow as pa

    present = set(map(str, df.columns))
    if name not in present:
        raise SchemaError(f"{fn}: `meta` column {name!r} is not in the dataset; columns are {sorted(present)}.")
    if name in S.RESERVED_COLUMNS or name in reserved:
        raise SchemaError(
            f"{fn}: `meta` column {name!r} clashes with a column dataquality uses; rename it "
            f"(reserved: {sorted(S.RESERVED_COLUMNS)})."
        )
    try:
        arr = pa.array(df[name].tolist(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise SchemaError(f"{fn}: `meta` column {name!r} must hold numbers, strings or booleans: {e}") from None
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_string(arr.type)
            or pa.types.is_large_string(arr.type) or pa.types.is_boolean(arr.type) or pa.types.is_null(arr.type)
            or pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type)):
        raise SchemaError(f"{fn}: `meta` column {name!r} must hold numbers, strings, booleans or dates; got {arr.type}.")
    return arr


def _gold_columns(values: list, ids: np.ndarray, *, fn: str, labels: list[str] | None, col: str = "label") -> dict:
    """Map user labels to the ``gold`` (names) or, while labels are unknown, ``gold_index`` column."""
    import pyarrow as pa

    arg = f"`label` (column {col!r})"
    missing = [i for i, v in enumerate(values) if _missing(v)]
    if missing:
        raise LabelError(
            f"{fn}: {arg} must hold a label for every sample of a labeled split; {len(missing)} "
            f"are missing, e.g. ids {[ids[i].item() if hasattr(ids[i], 'item') else ids[i] for i in missing[:5]]}. "
            "Log unlabeled data as split 'inference'."
        )
    is_int = [isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) or
              (isinstance(v, float) and v.is_integer()) for v in values]
    is_str = [isinstance(v, str) for v in values]
    if all(is_int):
        idx = np.asarray(values, dtype=np.int64)
        if labels is None:
            if idx.min() < 0:
                raise LabelError(f"{fn}: {arg} integer labels must be >= 0; got {int(idx.min())}.")
            return {S.GOLD_INDEX: pa.array(idx)}
        bad = (idx < 0) | (idx >= len(labels))
        if bad.any():
            raise LabelError(
                f"{fn}: {arg} integer labels index the {len(labels)} labels set by "
                f"dq.set_labels_for_run, so must be in 0..{len(labels) - 1}; got "
                f"{sorted(set(idx[bad].tolist()))[:10]}."
            )
        return {S.GOLD: pa.array(np.asarray(labels, dtype=object)[idx], pa.string())}
    if all(is_str):
        if labels is not None:
            check_label_names(values, labels, fn=fn, arg=arg)
        return {S.GOLD: pa.array(values, pa.string())}
    types = sorted({type(v).__name__ for v in values})
    raise LabelError(f"{fn}: {arg} must hold all label names (str) or all integers; got a mix of {types}.")


def check_label_names(values: Iterable[str], labels: list[str], *, fn: str, arg: str = "`label`") -> None:
    """LabelError naming ``fn`` and ``arg`` if ``values`` hold names outside ``labels``."""
    unknown = sorted(set(values) - set(labels))
    if unknown:
        raise LabelError(
            f"{fn}: {arg} must hold labels set by dq.set_labels_for_run {labels}; got unknown "
            f"labels {unknown[:10]}."
        )
