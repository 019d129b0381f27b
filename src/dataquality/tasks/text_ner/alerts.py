"""Alerts of a labeled NER split: span errors, frequently problematic words, hard samples."""

from __future__ import annotations

import numpy as np

from ...core import layout as S
from ...signals.alerts import alert
from .tables import ERRORS


def error_alerts(span_table: dict, errors: dict, dep_sample: np.ndarray, hard: float, n: int) -> list[dict]:
    out = []
    errs = np.asarray(span_table["error_type"].to_pylist(), object)
    texts = np.asarray([t.lower() for t in span_table["span_text"].to_pylist()], object)
    ids = np.asarray(span_table[S.ID].to_pylist(), object)
    # An alert's count is what its filter selects: samples (with such a span), not spans.
    for e, c in errors.items():
        if c:
            m = len(set(ids[errs == e].tolist()))
            out.append(alert(e, "warning" if e != "ghost_span" else "info",
                              f"{c} spans are {e.replace('_', ' ')}s, in {m} samples.", {"error_type": [e]}, m))
    bad = np.isin(errs, ERRORS)
    if bad.any():
        words, counts = np.unique(texts[bad], return_counts=True)
        order = np.argsort(-counts, kind="stable")[:10]
        top = [{"text": str(words[i]), "errors": int(counts[i])} for i in order if counts[i] >= 2]
        if top:
            word = top[0]["text"]
            m = len({i for i, t in zip(ids.tolist(), texts.tolist()) if word in t})
            out.append(alert("problematic_words", "info",
                              "Frequently problematic spans: " + ", ".join(f"{t['text']!r} ({t['errors']})" for t in top[:5]) + ".",
                              {"span_text": word}, m, words=top))
    cut = round(hard, 4)
    c = int((dep_sample.astype(np.float64) >= cut).sum()) if n else 0
    if c:
        out.append(alert("hard_for_the_model", "info", f"{c} samples ({c / n:.1%}) have a span DEP ≥ {cut:.2f}.",
                          {"dep_min": cut}, c))
    return out
