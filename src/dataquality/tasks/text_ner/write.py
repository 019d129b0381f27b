"""The logging side of the task: labels, options, inputs and output batches (see ..base.Task)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...core.convert import as_matrix, check_label_list, py_value, to_numpy
from ...exceptions import ConfigurationError, LabelError, ShapeError
from ..base import Columns, OutputBatch
from .ingest import GOLD_SPANS, TOKEN_INDICES, normalize_ner_frame
from .tagging import infer_schema, normalize_schema, parse_labels


class NerWrite:
    """Logging-side methods of the task protocol: a tagged label list that fits the tagging
    schema, inputs with ``text_token_indices`` and ``gold_spans``, and per sample ``embs[i]``
    ``(tokens_i, d)`` and ``logits[i]`` ``(tokens_i, k)``, logged as one output row per token."""

    sample_arguments: ClassVar[tuple[str, ...]] = (TOKEN_INDICES, GOLD_SPANS)

    def normalize_labels(self, labels: Any, *, fn: str, manifest: dict) -> list[str]:
        """The tag list (``["O", "B-PER", "I-PER", ...]``, no binary shorthand); it must fit the
        run's tagging schema, or one inferred from the tags."""
        out = check_label_list(labels, fn=fn)
        schema = manifest.get("tagging_schema") or _with_fn(infer_schema, fn, out)
        _with_fn(parse_labels, fn, out, schema)
        return out

    def set_option(self, option: str, value: Any, *, fn: str, manifest: dict) -> dict:
        """``tagging_schema``: ``"BIO"``, ``"BILOU"`` or ``"BIOES"``, once per run, fitting the
        labels already set."""
        if option != "tagging_schema":
            return super().set_option(option, value, fn=fn, manifest=manifest)  # type: ignore[misc]
        schema = normalize_schema(value, where=fn, argument="tagging_schema")
        old = manifest.get("tagging_schema")
        if old is not None and old != schema:
            raise ConfigurationError(
                f"{fn}: run {manifest.get('project_name')}/{manifest.get('run_name')} already uses "
                f"{old!r}; got {schema!r}."
            )
        if manifest.get("labels") is not None:
            _with_fn(parse_labels, fn, manifest["labels"], schema)
        return {"tagging_schema": schema}

    def normalize_inputs(self, df: Any, *, fn: str, cols: Columns, split: str, manifest: dict):
        if cols.label_explicit:
            raise LabelError(
                f"{fn}: a text_ner run takes its labels as `{GOLD_SPANS}` (per sample a list of "
                f"{{'start', 'end', 'label'}}), not as `label`; got `label` ({cols.label!r})."
            )
        return normalize_ner_frame(df, fn=fn, cols=cols, split=split, labels=manifest.get("labels"))

    def output_batch(self, ids: np.ndarray, embs: Any, logits: Any, probs: Any, *,
                     exclude_embs: bool, fn: str, manifest: dict) -> OutputBatch:
        """Per sample ``embs[i]`` (tokens_i, d) and ``logits[i]`` (tokens_i, k), as lists of
        arrays/tensors or padded 3-D arrays (padding is cut at finish() to the sample's logged
        token count), as one row per token: the sample id repeats over its tokens."""
        n = len(ids)
        if probs is not None:
            raise ShapeError(f"{fn}: NER takes `logits` per token; `probs` is not supported for text_ner.")
        if logits is None:
            raise ShapeError(f"{fn}: `logits` is required: one (tokens, n_labels) array per sample.")
        labels = manifest.get("labels")
        k = len(labels) if labels is not None else manifest.get("logits_dim")
        d = manifest.get("embedding_dim")
        lg = _per_sample(logits, n, fn=fn, arg="logits")
        em = None if exclude_embs else _per_sample(embs, n, fn=fn, arg="embs") if embs is not None else None
        if em is None and not exclude_embs:
            raise ShapeError(f"{fn}: `embs` is required (one (tokens, d) array per sample) unless exclude_embs=True.")
        lengths = np.empty(n, dtype=np.int64)
        for i in range(n):
            a = lg[i]
            if a.ndim != 2 or a.shape[0] == 0 or (k is not None and a.shape[1] != k):
                raise ShapeError(
                    f"{fn}: `logits[{i}]` (id {py_value(ids[i])!r}) must have shape (tokens, {k if k else 'n_labels'})"
                    f"{' to match the ' + str(k) + ' tags set by dq.set_labels_for_run' if labels else ''}; got {a.shape}."
                )
            k = a.shape[1]
            lengths[i] = a.shape[0]
            if em is not None:
                e = em[i]
                if e.ndim != 2 or e.shape[0] != a.shape[0] or (d is not None and e.shape[1] != d):
                    raise ShapeError(
                        f"{fn}: `embs[{i}]` (id {py_value(ids[i])!r}) must have shape ({a.shape[0]}, {d if d else 'd'}) to match "
                        f"`logits[{i}]`{' and the embedding width of earlier batches' if d else ''}; got {e.shape}."
                    )
                d = e.shape[1]
        rows = int(lengths.sum())
        flat_logits = as_matrix(np.concatenate(lg), fn=fn, arg="logits", n_rows=rows, width=k)
        flat_embs = None if em is None else as_matrix(np.concatenate(em), fn=fn, arg="embs", n_rows=rows, width=d)
        return OutputBatch(np.repeat(ids, lengths), flat_embs, flat_logits)


def _with_fn(check, fn: str, *args):
    """Call a tagging checker; its ConfigurationError names ``fn`` instead of itself."""
    try:
        return check(*args)
    except ConfigurationError as e:
        msg = str(e)
        head, sep, rest = msg.partition(": ")
        raise ConfigurationError(f"{fn}: {rest if sep and ' ' not in head else msg}") from None


def _per_sample(x: Any, n: int, *, fn: str, arg: str) -> list[np.ndarray]:
    """Per-token arrays as a list of ``n`` numpy arrays (from a list, or a padded 3-D array)."""
    if isinstance(x, (list, tuple)):
        if len(x) != n:
            raise ShapeError(f"{fn}: `{arg}` must hold one array per sample ({n} to match `ids`); got {len(x)}.")
        return [to_numpy(v, fn=fn, arg=f"{arg}[{i}]") for i, v in enumerate(x)]
    arr = to_numpy(x, fn=fn, arg=arg)
    if arr.ndim != 3 or arr.shape[0] != n:
        raise ShapeError(
            f"{fn}: `{arg}` must be a list of {n} (tokens, width) arrays or an array of shape ({n}, tokens, width); "
            f"got shape {arr.shape}."
        )
    return list(arr)
