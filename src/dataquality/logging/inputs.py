"""Turning what a user passes to ``log_dataset`` into validated Arrow tables of the input schema.

Accepted datasets: pandas DataFrames, Hugging Face ``datasets.Dataset`` (ClassLabel labels are
mapped to their names), pyarrow Tables, dicts of columns, paths to CSV / Parquet / JSON-lines
files, and any iterable of dicts (read in chunks of ``batch_size``, so generators work).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core import layout as S
from ..core.convert import check_ids
from ..exceptions import InputTypeError, LabelError, SchemaError

_DEFAULT = object()  # marks a column argument the user did not pass


@dataclass(frozen=True)
class Columns:
    """Which user columns hold what; ``label_explicit`` tells a passed ``label=`` from the default."""

    id: str = "id"
    text: str = "text"
    label: str = "label"
    text_pair: str = "text_pair"
    meta: tuple[str, ...] = ()
    label_explicit: bool = False
    text_pair_explicit: bool = False


def _is_hf_dataset(obj: Any) -> bool:
    return type(obj).__module__.startswith("datasets") and hasattr(obj, "features")


def iter_frames(dataset: Any, *, fn: str, batch_size: int, cols: Columns) -> Iterator[Any]:
    """Yield pandas DataFrames of at most ``batch_size`` rows from any supported dataset."""
    import pandas as pd

    if isinstance(dataset, pd.DataFrame):
        for start in range(0, max(len(dataset), 1), batch_size):
            yield dataset.iloc[start : start + batch_size]
        return
    if isinstance(dataset, (str, Path)):
        yield from iter_frames(_read_file(Path(dataset), fn=fn), fn=fn, batch_size=batch_size, cols=cols)
        return
    if _is_hf_dataset(dataset):
        names = _class_label_names(dataset, cols.label)
        for start in range(0, max(len(dataset), 1), batch_size):
            df = dataset.select(range(start, min(start + batch_size, len(dataset)))).to_pandas()
            if names is not None and cols.label in df:
                df[cols.label] = [names[int(v)] if v is not None and v >= 0 else None for v in df[cols.label]]
            yield df
        return
    if type(dataset).__module__.startswith("pyarrow") and hasattr(dataset, "to_batches"):
        for batch in dataset.to_batches(max_chunksize=batch_size):
            yield batch.to_pandas()
        return
    if isinstance(dataset, dict):
        yield pd.DataFrame(dataset)
        return
    if isinstance(dataset, Iterable):
        it = iter(dataset)
        while True:
            chunk = list(itertools.islice(it, batch_size))
            if not chunk:
                return
            if not all(isinstance(r, dict) for r in chunk):
                bad = next(type(r).__name__ for r in chunk if not isinstance(r, dict))
                raise InputTypeError(
                    f"{fn}: `dataset` given as an iterable must yield dicts (one per sample); "
                    f"got an item of type {bad}."
                )
            yield pd.DataFrame.from_records(chunk)
        return
    raise InputTypeError(
        f"{fn}: `dataset` must be a pandas DataFrame, a Hugging Face Dataset, a pyarrow Table, a "
        f"dict of columns, an iterable of dicts or a path to a .csv/.parquet/.jsonl file; got "
        f"{type(dataset).__name__}."
    )


def _read_file(path: Path, *, fn: str):
    import pandas as pd

    if not path.exists():
        raise SchemaError(f"{fn}: `dataset` file {str(path)!r} does not exist.")
    suffix = "".join(path.suffixes[-2:]) if path.suffix in (".gz", ".bz2") else path.suffix
    if suffix.startswith(".csv"):
        return pd.read_csv(path)
    if suffix.startswith(".parquet"):
        return pd.read_parquet(path)
    if suffix.startswith((".jsonl", ".json")):
        return pd.read_json(path, lines=suffix.startswith(".jsonl"))
    raise InputTypeError(
        f"{fn}: `dataset` file must end in .csv, .parquet, .json or .jsonl; got {path.name!r}."
    )


def _class_label_names(dataset: Any, column: str) -> list[str] | None:
    feature = dataset.features.get(column) if hasattr(dataset.features, "get") else None
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def _text_column(df, col: str, *, fn: str, ids: np.ndarray, arg: str) -> list[str]:
    values = df[col].tolist()
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        examples = [(ids[i].item() if hasattr(ids[i], "item") else ids[i], values[i]) for i in bad[:5]]
        raise SchemaError(
            f"{fn}: column {col!r} (`{arg}`) must hold a string for every sample; "
            f"{len(bad)} row(s) do not, e.g. (id, value) {examples}."
        )
    return values


def normalize_frame(
    df: Any,
    *,
    fn: str,
    cols: Columns,
    split: str,
    labels: list[str] | None,
):
    """Validate one DataFrame chunk and return it as an Arrow table of the input schema.

    Returns
    -------
    pyarrow.Table
        Columns ``id``, ``text``, [``text_pair``], [``gold`` | ``gold_index``], then meta columns.
    """
    import pyarrow as pa

    present = set(map(str, df.columns))
    for arg, col in (("id", cols.id), ("text", cols.text)):
        if col not in present:
            raise SchemaError(
                f"{fn}: the dataset has no {col!r} column for `{arg}`; columns are "
                f"{sorted(present)}. Pass `{arg}=<column name>`."
            )
    if len(df) == 0:
        raise SchemaError(f"{fn}: `dataset` is empty; log at least one sample.")
    ids = check_ids(df[cols.id].to_numpy(), fn=fn, arg=f"id (column {cols.id!r})")
    out: dict[str, Any] = {S.ID: pa.array(ids, type=pa.int64() if ids.dtype.kind == "i" else pa.string())}
    out[S.TEXT] = pa.array(_text_column(df, cols.text, fn=fn, ids=ids, arg="text"), pa.string())

    if cols.text_pair in present:
        out[S.TEXT_PAIR] = pa.array(
            _text_column(df, cols.text_pair, fn=fn, ids=ids, arg="text_pair"), pa.string()
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
                stacklevel=4,
            )
    else:
        if cols.label not in present:
            raise LabelError(
                f"{fn}: split {split!r} needs labels, but the dataset has no {cols.label!r} column; "
                f"columns are {sorted(present)}. Pass `label=<column name>`."
            )
        out.update(_gold_columns(df[cols.label].tolist(), ids, fn=fn, labels=labels, col=cols.label))

    for m in cols.meta:
        if m not in present:
            raise SchemaError(
                f"{fn}: `meta` column {m!r} is not in the dataset; columns are {sorted(present)}."
            )
        if m in S.RESERVED_COLUMNS or m in (cols.id, cols.text, cols.label, cols.text_pair):
            raise SchemaError(
                f"{fn}: `meta` column {m!r} clashes with a column dataquality uses; rename it "
                f"(reserved: {sorted(S.RESERVED_COLUMNS)})."
            )
        try:
            arr = pa.array(df[m].tolist(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise SchemaError(f"{fn}: `meta` column {m!r} must hold numbers, strings or booleans: {e}") from None
        if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_string(arr.type)
                or pa.types.is_large_string(arr.type) or pa.types.is_boolean(arr.type) or pa.types.is_null(arr.type)
                or pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type)):
            raise SchemaError(
                f"{fn}: `meta` column {m!r} must hold numbers, strings, booleans or dates; got {arr.type}."
            )
        out[m] = arr
    return pa.table(out)


def _gold_columns(
    values: list, ids: np.ndarray, *, fn: str, labels: list[str] | None, col: str = "label"
) -> dict:
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
    unknown = sorted(set(values) - set(labels))
    if unknown:
        raise LabelError(
            f"{fn}: {arg} must hold labels set by dq.set_labels_for_run {labels}; got unknown "
            f"labels {unknown[:10]}."
        )
