"""Reading what a user passes to ``log_dataset`` as pandas DataFrames, a chunk at a time.

The run's task turns each chunk into the stored input table (``Task.normalize_inputs``).

Accepted datasets: pandas DataFrames, Hugging Face ``datasets.Dataset`` (ClassLabel labels are
mapped to their names), pyarrow Tables, dicts of columns, paths to CSV / Parquet / JSON-lines
files, and any iterable of dicts (read in chunks of ``batch_size``, so generators work).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..exceptions import InputTypeError, SchemaError
from ..tasks.base import Columns


class _Default:
    def __repr__(self) -> str:
        return "<default>"


DEFAULT = _Default()
"""Marks a column argument of ``dq.log_dataset`` the caller did not pass (``label``, ``text_pair``)."""


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
