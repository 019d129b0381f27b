"""A run's split opened for reading (:func:`open_split`): its folder, manifest and task, its
schema, and plain reads of its files (ids, rows by number, row-aligned arrays). No DuckDB here:
:mod:`.views` builds the split's views on top of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core import layout as S
from ..core import store
from ..core.splits import normalize_split
from ..exceptions import RunNotFoundError, SplitError

ROW = "_row"  # row of a sample in samples.parquet / embeddings.npy / probs.npy


def column_kind(typ) -> str | None:
    """``"bool"``, ``"number"``, ``"string"``, ``"temporal"`` or None (lists, structs) for an Arrow type."""
    import pyarrow as pa

    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "number"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "string"
    if pa.types.is_temporal(typ):
        return "temporal"
    return None


@dataclass(frozen=True)
class SplitRef:
    """A split of a run, opened for reading.

    Attributes
    ----------
    paths : dataquality.core.store.RunPaths
    manifest : dict
        The run's ``run.json``.
    task : dataquality.tasks.Task
        The run's task type.
    key : str
        The split's folder under ``results/``: ``training`` or ``inference/<name>``.
    dir : pathlib.Path
        ``results/<key>``.
    """

    paths: Any
    manifest: dict
    task: Any
    key: str
    dir: Path

    @property
    def samples_path(self) -> Path:
        return self.dir / S.SAMPLES_FILE

    def table_path(self, table: str) -> Path | None:
        """The file of a task table (``Task.result_tables``) when the split has it."""
        name = self.task.result_tables(self.manifest).get(table)
        return None if name is None or not (self.dir / name).exists() else self.dir / name


def open_run(project_name: str, run_name: str, *, fn: str, root=None) -> tuple[Any, dict, Any]:
    """``(paths, manifest, task)`` of a run."""
    from ..tasks import get_task

    paths, manifest = store.find_run(project_name, run_name, fn=fn, root=root)
    return paths, manifest, get_task(manifest.get("task_type"), fn=fn)


def open_split(project_name: str, run_name: str, split: str, inference_name: str = "", *, fn: str,
               root=None) -> SplitRef:
    """The results of ``split`` (and ``inference_name``) of a run.

    Raises
    ------
    SplitError
        An unknown split; ``inference`` without ``inference_name``, or a name with another split.
    RunNotFoundError
        No such run, or the split has no results (the message lists the splits that have).
    """
    paths, manifest, task = open_run(project_name, run_name, fn=fn, root=root)
    s = normalize_split(split, fn=fn)
    if s == S.INFERENCE:
        if not inference_name:
            raise SplitError(f"{fn}: split 'inference' needs `inference_name`.")
        store.check_name(inference_name, fn=fn, arg="inference_name")
    elif inference_name:
        raise SplitError(f"{fn}: `inference_name` applies only to split 'inference'; got split {split!r}.")
    key = S.split_key(s, inference_name or None)
    d = paths.results(key)
    if not (d / S.SAMPLES_FILE).exists():
        have = sorted(manifest.get("results", {}))
        raise RunNotFoundError(
            f"{fn}: run {project_name}/{run_name} has no results for split {key!r}; splits with "
            f"results: {have}. Results appear after dq.finish()."
        )
    return SplitRef(paths, manifest, task, key, d)


def split_at(paths: Any, manifest: dict, task: Any, key: str) -> SplitRef:
    """The split ``key`` of an opened run (no checks: for keys listed by the run)."""
    return SplitRef(paths, manifest, task, key, paths.results(key))


# -- the split's schema -----------------------------------------------------------------------------


def schema_of(split: SplitRef):
    import pyarrow.parquet as pq

    return pq.read_schema(split.samples_path)


def n_rows(split: SplitRef) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(split.samples_path).metadata.num_rows


def column_info(split: SplitRef) -> list[dict]:
    """Each column of the split: ``name``, arrow ``type``, ``kind`` (:func:`column_kind`),
    ``sortable`` and ``meta`` (a column the user logged)."""
    out = []
    for f in schema_of(split):
        k = column_kind(f.type)
        out.append({"name": f.name, "type": str(f.type), "kind": k,
                    "sortable": k in ("number", "string", "bool", "temporal"),
                    "meta": f.name not in S.RESERVED_COLUMNS})
    return out


def meta_columns(columns: list[str]) -> list[str]:
    """The user's meta columns among a results table's columns."""
    return [c for c in columns if c not in S.RESERVED_COLUMNS]


def read_rows(split: SplitRef, rows: np.ndarray, columns: list[str]):
    """Columns of the given rows of a split's ``samples.parquet`` (in the order of ``rows``),
    reading only the row groups that hold them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = np.asarray(rows, dtype=np.int64)
    pf = pq.ParquetFile(split.samples_path)
    cols = [c for c in columns if c in pf.schema_arrow.names]
    sizes = np.array([pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    groups = np.unique(np.searchsorted(starts, rows, side="right") - 1)
    if len(groups) == 0:
        return pf.schema_arrow.empty_table().select(cols).to_pandas()
    table = pf.read_row_groups(groups.tolist(), columns=cols)
    offsets = np.concatenate([[0], np.cumsum(sizes[groups])])
    gpos = np.searchsorted(groups, np.searchsorted(starts, rows, side="right") - 1)
    local = offsets[gpos] + rows - starts[groups[gpos]]
    return table.take(pa.array(local)).to_pandas()


def ids_of(split: SplitRef) -> np.ndarray:
    """The split's sample ids, in row order."""
    import pyarrow.parquet as pq

    return pq.read_table(split.samples_path, columns=[S.ID]).column(0).to_numpy(zero_copy_only=False)


def load_npy(path: Path, *, fn: str, what: str) -> np.ndarray:
    """A results array, memory-mapped; RunNotFoundError when the split has none."""
    if not path.exists():
        raise RunNotFoundError(f"{fn}: no {what} for this split (logged with exclude_embs=True?).")
    return np.load(path, mmap_mode="r")
