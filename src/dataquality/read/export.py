"""A split as pandas: filtered (``dq.metrics.get_dataframe``), with its edits applied
(``get_edited_dataframe``), and exported to CSV, Parquet or JSON lines in the schema it was logged
with (``export_dataframe``, the console's download)."""

from __future__ import annotations

from pathlib import Path

from ..core import layout as S
from ..core.splits import normalize_split
from ..exceptions import ConfigurationError, SchemaError
from .edits import apply_edits, load_edits
from .views import ROW, SplitRef, load_npy, meta_columns, select


def dataframe(split: SplitRef, filt=None, include_embs: bool = False, include_probs: bool = False, *, fn: str):
    """The samples of ``split`` matching ``filt`` (all without one), with the final-epoch
    embedding (``emb``) and probabilities (``prob``) of each row on request."""
    import pyarrow.parquet as pq

    if filt is None:
        df = pq.read_table(split.samples_path).to_pandas()
        rows = None
    else:
        df = select(split, filt, fn=fn)
        rows = df.pop(ROW).to_numpy()
    if include_embs:
        per = split.task.embeddings_rows(split.manifest)
        if per != "samples":
            raise SchemaError(f"{fn}: `include_embs` needs embeddings per sample; {split.task.name} splits store them "
                              f"per {per.rstrip('s')}: read them with dq.metrics.get_{per}(..., include_embs=True).")
        embs = load_npy(split.dir / S.EMBEDDINGS_FILE, fn=fn, what="embeddings")
        df[S.EMB] = list(embs if rows is None else embs[rows])
    if include_probs:
        probs = load_npy(split.dir / S.PROBS_FILE, fn=fn, what="probabilities")
        df[S.PROB] = list(probs if rows is None else probs[rows])
    return df


def edited_dataframe(split: SplitRef, filt=None, *, fn: str):
    """The samples of ``split`` matching ``filt`` with the run's active edits applied."""
    return apply_edits(dataframe(split, filt, fn=fn), load_edits(split.paths.dir), split.key, split.task, split.manifest)


def export(split: SplitRef, path, filt=None, *, edited: bool = True, format: str | None = None,
           include_signals: bool = False, fn: str) -> Path:
    """Write the split (filtered and/or edited) to ``path``; by default in the schema the samples
    were logged with (``Task.logged_schema``), every column with ``include_signals``."""
    df = edited_dataframe(split, filt, fn=fn) if edited else dataframe(split, filt, fn=fn)
    if "similarity" in df.columns and not include_signals:
        df = df.drop(columns=["similarity"])
    if not include_signals:
        labeled = normalize_split(split.key.split("/")[0], fn=fn) != S.INFERENCE
        df = split.task.logged_schema(df, has_labels=labeled, meta=meta_columns(list(df.columns)), manifest=split.manifest)
    return write_table(df, Path(path), format, fn=fn)


def write_table(df, path: Path, fmt: str | None, *, fn: str) -> Path:
    """Write ``df`` as CSV, Parquet or JSON lines (by ``fmt`` or the file suffix)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson"):
        fmt = "jsonl"
    if fmt not in ("csv", "parquet", "jsonl"):
        raise ConfigurationError(f"{fn}: export format must be 'csv', 'parquet' or 'jsonl' (or a path with that suffix); got {fmt!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{S.TMP_PREFIX}{path.name}")
    if fmt == "csv":
        df.to_csv(tmp, index=False)
    elif fmt == "parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_json(tmp, orient="records", lines=True, force_ascii=False)
    tmp.replace(path)
    return path
