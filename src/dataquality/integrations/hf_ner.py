"""``log_hf_ner``: log a Hugging Face NER dataset (``tokens`` + ``ner_tags``) through ``dq`` in one call.

The preparation (sub-word alignment, tagging schema, character spans) is the NER task's
(:func:`dataquality.tasks.text_ner.hf.prepare_hf_ner`); this module only logs what it prepares,
with the public ``dq`` functions. The public path is ``dataquality.ner.log_hf_ner``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..exceptions import ConfigurationError
from ..tasks.text_ner.hf import HFNerData, prepare_hf_ner
from ..tasks.text_ner.tagging import SCHEMA_PREFIXES, normalize_schema


def log_hf_ner(
    splits: Mapping[str, Any],
    tokenizer,
    *,
    labels: Sequence[str] | None = None,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    tag_names: Sequence[str] | None = None,
    schema: str | None = None,
    max_length: int | None = None,
    meta: Sequence[str] | None = None,
) -> dict[str, HFNerData]:
    """Log every split of a Hugging Face-style NER dataset (``tokens`` + ``ner_tags``) to the
    current ``text_ner`` run: aligns sub-words with ``tokenizer``, infers the schema, sets the
    labels and the schema, and calls ``dq.log_dataset`` per split.

    Parameters
    ----------
    splits : mapping of split name to dataset
        E.g. a ``datasets.DatasetDict`` or ``{"train": [...], "validation": [...]}`` of dicts
        with ``tokens`` and ``ner_tags``.
    tokenizer : a fast tokenizer (``transformers``)
    labels : sequence of str, optional
        The model's tag list in logit-column order (``model.config.id2label``); default: the
        dataset's ``names`` for integer tags, else ``"O"`` and every schema tag of each entity type
        seen in any split, sorted by type.
    meta : sequence of str, optional
        Extra columns of the dataset to keep.

    Returns
    -------
    dict of split name to HFNerData
        ``samples[i]["token_positions"]`` says which rows of the model's per-token outputs (over
        ``input_ids``) belong to the logged ``text_token_indices``: log
        ``logits[token_positions]`` and ``embs[token_positions]`` for sample ``samples[i]["id"]``.
    """
    import pandas as pd

    from .. import api as dq

    fn = "dataquality.ner.log_hf_ner"
    if not isinstance(splits, Mapping) or not splits:
        raise ConfigurationError(f"{fn}: `splits` must map split names to datasets; got {type(splits).__name__}.")
    prepared = {name: prepare_hf_ner(ds, tokenizer, tokens_column=tokens_column, tags_column=tags_column,
                                     tag_names=tag_names, schema=schema, max_length=max_length)
                for name, ds in splits.items()}
    schemas = {p.schema for p in prepared.values()}
    if len(schemas) > 1 and schema is None:
        raise ConfigurationError(f"{fn}: the splits use different tagging schemas {sorted(schemas)}; pass `schema=`.")
    use_schema = schema or schemas.pop()
    if labels is None:
        if tag_names is not None or len({p.labels for p in prepared.values()}) == 1:
            labels = list(next(iter(prepared.values())).labels)
        else:
            types = sorted({t for p in prepared.values() for t in p.tag_set.entity_types})
            labels = ["O"] + [f"{pre}-{t}" for t in types for pre in SCHEMA_PREFIXES[normalize_schema(use_schema)]]
    dq.set_labels_for_run(list(labels))
    dq.set_tagging_schema(use_schema)
    for name, prep in prepared.items():
        rows = [{"id": s["id"], "text": s["text"], "text_token_indices": s["text_token_indices"],
                 "gold_spans": s["gold_spans"]} for s in prep.samples]
        df = pd.DataFrame(rows)
        if meta:
            extra = pd.DataFrame(columns_of(splits[name], list(meta)))
            df = pd.concat([df, extra.reset_index(drop=True)], axis=1)
        dq.log_dataset(df, split=name, meta=list(meta) if meta else None)
    return prepared


def columns_of(dataset, names: list[str]) -> dict:
    if hasattr(dataset, "column_names"):
        return {n: list(dataset[n]) for n in names}
    return {n: [row[n] for row in dataset] for n in names}
