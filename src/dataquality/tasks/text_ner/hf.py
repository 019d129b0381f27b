"""Hugging Face-style NER data (words + word tags) → ``text_ner`` inputs for a (fast) tokenizer.

A dataset like CoNLL-2003 or WNUT has per sample a list of words (``tokens``) and one tag per word
(``ner_tags``, strings or integers with a ``names`` list). :func:`prepare_hf_ner` turns it into what
``dq.log_dataset`` takes for ``text_ner``: ``text`` (the words joined by single spaces),
``text_token_indices`` (per model token the character offsets of its word) and ``gold_spans``
(character spans decoded from the word tags), plus the schema and the tagged label list.

``transformers`` is only used through the tokenizer object the caller passes in; ``datasets`` is
never imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ...exceptions import ConfigurationError, SchemaError
from .tag_codec import decode_batch
from .tagging import SCHEMA_PREFIXES, TagSet, infer_schema, normalize_schema, parse_labels

_WHERE = "prepare_hf_ner"


@dataclass(frozen=True)
class HFNerData:
    """What :func:`prepare_hf_ner` returns.

    Attributes
    ----------
    samples : list of dict
        Per sample: ``id`` (its position in the dataset), ``text``, ``text_token_indices`` (list of
        ``(start, end)``, one per non-special model token, the offsets of the token's word),
        ``gold_spans`` (list of ``{"start", "end", "label"}``), ``input_ids`` (the tokenizer's ids,
        special tokens included) and ``token_positions`` (for each entry of
        ``text_token_indices``, its position in ``input_ids``, to pick the matching logits rows).
    schema : str
        The tagging schema, given or inferred from the tags.
    labels : tuple of str
        The tagged label list (logit-column order): the dataset's ``names`` when the tags are
        integers, else ``"O"`` followed, per entity type in sorted order, by every tag the schema
        has for it (``B-``, ``I-`` [, ``L-``/``E-``, ``U-``/``S-``]).
    tag_set : TagSet
        ``parse_labels(labels, schema)``.
    n_dropped_spans : int
        Word-level spans left out of ``gold_spans`` because none of their words got a model token,
        or because truncation (``max_length``) cut them.
    """

    samples: list[dict[str, Any]]
    schema: str
    labels: tuple[str, ...]
    tag_set: TagSet
    n_dropped_spans: int


def _columns(dataset, tokens_column: str, tags_column: str):
    """Words, tags and the tag names (if the dataset declares them) of a Dataset or list of dicts."""
    features = getattr(dataset, "features", None)
    if features is not None and hasattr(dataset, "column_names"):
        missing = [c for c in (tokens_column, tags_column) if c not in dataset.column_names]
        if missing:
            raise SchemaError(
                f"{_WHERE}: the dataset has no column {missing[0]!r}; its columns are "
                f"{list(dataset.column_names)}. Pass `tokens_column=`/`tags_column=`."
            )
        feat = features[tags_column]
        names = getattr(getattr(feat, "feature", None), "names", None)
        return list(dataset[tokens_column]), list(dataset[tags_column]), names
    words, tags = [], []
    for i, row in enumerate(dataset):
        try:
            words.append(row[tokens_column])
            tags.append(row[tags_column])
        except (KeyError, TypeError, IndexError):
            keys = list(row) if isinstance(row, dict) else type(row).__name__
            raise SchemaError(
                f"{_WHERE}: sample {i} must be a mapping with keys {tokens_column!r} and {tags_column!r}; "
                f"got {keys}."
            ) from None
    return words, tags, None


def _default_labels(tags: Sequence[Sequence[str]], schema: str) -> list[str]:
    types = sorted({t.split("-", 1)[1] for seq in tags for t in seq if "-" in t and t[1:2] == "-"})
    return ["O"] + [f"{p}-{t}" for t in types for p in SCHEMA_PREFIXES[schema]]


def prepare_hf_ner(
    dataset,
    tokenizer,
    *,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    tag_names: Sequence[str] | None = None,
    schema: str | None = None,
    max_length: int | None = None,
) -> HFNerData:
    """Turn word-tagged NER data into ``text``, ``text_token_indices`` and ``gold_spans``.

    Parameters
    ----------
    dataset : datasets.Dataset or sequence of dict
        Each sample has ``tokens_column`` (list of words) and ``tags_column`` (one tag per word,
        strings such as ``"B-PER"`` or integer ids into ``tag_names``).
    tokenizer : transformers.PreTrainedTokenizerFast
        A fast tokenizer (``word_ids()`` is needed), called with ``is_split_into_words=True``.
    tokens_column, tags_column : str
        Column names.
    tag_names : sequence of str, optional
        Names of integer tags. Defaults to the dataset's ``features[tags_column].feature.names``.
    schema : str, optional
        ``"BIO"``, ``"BILOU"`` or ``"BIOES"``; inferred from the tags when omitted.
    max_length : int, optional
        Truncate each sample to this many model tokens (special tokens included). ``text`` stays
        whole; spans not entirely tokenized are dropped and counted in ``n_dropped_spans``.

    Returns
    -------
    HFNerData

    Raises
    ------
    SchemaError
        A missing column; words and tags of different lengths; a word that is not a string.
    ConfigurationError
        Integer tags without names, an id outside the names, tags that fit no schema, a slow
        tokenizer, or a ``schema`` the tags do not fit.

    Notes
    -----
    Word tags decode with ``decode(..., mode="lenient")``: a stray ``I-X`` starts an entity (as
    seqeval's default mode does), so no annotated word is lost.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigurationError(
            f"{_WHERE}: `tokenizer` must be a fast (Rust) Hugging Face tokenizer, which gives word_ids(); "
            f"got {type(tokenizer).__name__}. Load it with AutoTokenizer.from_pretrained(..., use_fast=True)."
        )
    words, raw_tags, names = _columns(dataset, tokens_column, tags_column)
    names = list(tag_names) if tag_names is not None else (list(names) if names is not None else None)
    tags: list[list[str]] = []
    for i, (w, t) in enumerate(zip(words, raw_tags)):
        w, t = list(w), list(t)
        if len(w) != len(t):
            raise SchemaError(
                f"{_WHERE}: sample {i} has {len(w)} words in {tokens_column!r} but {len(t)} tags in "
                f"{tags_column!r}; give one tag per word."
            )
        bad = [x for x in w if not isinstance(x, str)]
        if bad:
            raise SchemaError(f"{_WHERE}: sample {i}: every word must be a string; got {bad[0]!r}.")
        if t and not isinstance(t[0], str):
            if names is None:
                raise ConfigurationError(
                    f"{_WHERE}: the tags of {tags_column!r} are integers but no names are known; pass "
                    "`tag_names=[...]` (the ClassLabel names, e.g. ['O', 'B-PER', 'I-PER', ...])."
                )
            try:
                t = [names[int(x)] for x in t]
            except (IndexError, ValueError, TypeError):
                raise ConfigurationError(
                    f"{_WHERE}: sample {i} has tag ids {t} but `tag_names` has {len(names)} names."
                ) from None
        tags.append(t)
    observed = {x for seq in tags for x in seq}
    name = normalize_schema(schema, where=_WHERE) if schema is not None else infer_schema(
        observed | set(names or ()))
    labels = names if names is not None else _default_labels(tags, name)
    tag_set = parse_labels(labels, name)
    unknown = sorted(observed - set(labels))
    if unknown:
        hint = ""
        if schema is not None and names is None:
            seen = infer_schema(observed)
            if seen != name:
                hint = f" The tags look like {seen}: pass schema={seen!r} or leave `schema` out to infer it."
        raise ConfigurationError(f"{_WHERE}: tags {unknown[:5]} are not among the labels {labels}.{hint}")

    # word-level spans of every sample at once
    lengths = np.fromiter((len(t) for t in tags), np.int64, count=len(tags))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = tag_set.ids_of([x for seq in tags for x in seq], where=_WHERE, argument=tags_column)
    spans = decode_batch(flat, offsets, tag_set, mode="lenient")
    by_sample = np.searchsorted(spans.sample, np.arange(len(tags) + 1))

    kwargs: dict[str, Any] = {"is_split_into_words": True}
    if max_length is not None:
        kwargs.update(truncation=True, max_length=int(max_length))
    enc = tokenizer([list(w) for w in words], **kwargs) if words else None

    samples: list[dict[str, Any]] = []
    dropped = 0
    for i, w in enumerate(words):
        w = list(w)
        wlen = np.fromiter((len(x) for x in w), np.int64, count=len(w))
        wstart = np.concatenate([[0], np.cumsum(wlen + 1)[:-1]]) if len(w) else wlen
        wend = wstart + wlen
        word_ids = enc.word_ids(i)
        positions = [j for j, wid in enumerate(word_ids) if wid is not None]
        kept = [word_ids[j] for j in positions]
        has_tok = np.zeros(len(w), bool)
        has_tok[kept] = True
        last_tok_word = max(kept) if kept else -1
        gold = []
        for k in range(by_sample[i], by_sample[i + 1]):
            s, e = int(spans.start[k]), int(spans.end[k])
            if not has_tok[s:e].any() or (max_length is not None and e - 1 > last_tok_word):
                dropped += 1
                continue
            gold.append({"start": int(wstart[s]), "end": int(wend[e - 1]),
                         "label": tag_set.entity_types[int(spans.type_id[k])]})
        samples.append({
            "id": i,
            "text": " ".join(w),
            "text_token_indices": [(int(wstart[x]), int(wend[x])) for x in kept],
            "gold_spans": gold,
            "input_ids": list(enc["input_ids"][i]),
            "token_positions": positions,
        })
    return HFNerData(samples=samples, schema=name, labels=tuple(labels), tag_set=tag_set,
                     n_dropped_spans=dropped)


__all__ = ["HFNerData", "prepare_hf_ner"]


def padded_inputs(samples: Sequence[Mapping[str, Any]]):
    """``(input_ids, attention_mask)``, (n, longest) ``torch.long`` tensors, for a batch of
    :func:`prepare_hf_ner` samples (their ``input_ids``), right-padded with 0."""
    import torch

    longest = max(len(s["input_ids"]) for s in samples)
    ids = torch.zeros((len(samples), longest), dtype=torch.long)
    att = torch.zeros((len(samples), longest), dtype=torch.long)
    for r, s in enumerate(samples):
        ids[r, : len(s["input_ids"])] = torch.tensor(s["input_ids"])
        att[r, : len(s["input_ids"])] = 1
    return ids, att
