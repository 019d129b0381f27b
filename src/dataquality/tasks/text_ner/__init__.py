"""Named-entity recognition core: schemas and span decoding, character ↔ token alignment,
Hugging Face word-tag conversion, error types and span metrics, and token/span/sample DEP.

Pure functions over lists and numpy arrays; nothing here touches the run or the store.
``transformers`` is used only through a tokenizer object passed to :func:`prepare_hf_ner`.
"""

from .align import char_spans_to_token_spans, token_spans_to_char_spans
from .dep import ner_dep, sample_dep, span_dep, span_embeddings, token_aum_dep, token_dep, token_margins, word_ids
from .errors import ERROR_TYPES, SpanErrors, entity_metrics, span_errors, span_errors_batch
from .hf import HFNerData, prepare_hf_ner
from .tag_codec import decode, decode_batch, encode, encode_batch
from .tagging import SCHEMA_PREFIXES, TagSet, infer_schema, normalize_schema, parse_labels
from .spans import SpanArrays, arrays_to_spans, spans_to_arrays

__all__ = [
    "ERROR_TYPES",
    "HFNerData",
    "SCHEMA_PREFIXES",
    "SpanArrays",
    "SpanErrors",
    "TagSet",
    "arrays_to_spans",
    "char_spans_to_token_spans",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "entity_metrics",
    "infer_schema",
    "ner_dep",
    "normalize_schema",
    "parse_labels",
    "prepare_hf_ner",
    "sample_dep",
    "span_dep",
    "span_embeddings",
    "span_errors",
    "span_errors_batch",
    "spans_to_arrays",
    "token_aum_dep",
    "token_dep",
    "token_margins",
    "token_spans_to_char_spans",
    "word_ids",
]
