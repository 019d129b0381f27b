"""Benchmark: drift of NER predicted spans against the training spans, on real data.

Real data (DESIGN §8): WNUT-16 tweets (10 entity types, BIO) with frozen MiniLM token states and
a linear tagging head, trained and logged by ``dataquality.demo.runs.run_ner_demo`` (the ``dq demo``
NER run, at larger sizes). Its inference sets:

- ``tweets``: held-out WNUT-16 tweets (in distribution);
- ``headlines``: Guardian financial headlines (a far shift);
- ``plots``: Rotten Tomatoes plot descriptions (a near shift: longer, edited prose about films).

Two units. *Samples* (what ``drift_score`` / ``is_drifted`` of ``samples.parquet`` are): the mean
of a sample's token states against the training samples', the percentile among the training
samples' own (each without itself); per variant of the metric, AUROC of held-out tweets against
each shifted set, the share of held-out tweets flagged with that reference and with the
validation samples' as the reference, and for comparison the AUROC of the sample score the spans
give (its highest predicted span; a sample without predicted spans scores 0).

*Predicted spans* (mean of its tokens' states), scored against every training
span (gold and predicted, as ``finish()`` indexes them). Per shifted set, label 1 = a predicted
span of the shifted set and 0 = a predicted span of the held-out tweets; AUROC of the drift
distance of each variant of the drift metric (``dataquality.signals.drift``), all from the same
stored span embeddings and the same training index, in the same run:

- ``plain``: mean cosine distance to the k nearest training spans (α = 0, β = 0);
- ``whitened``: the partially whitened cosine (β = ``drift_whitening`` default), α = 0;
- ``local_scale``: plain cosine with the local scale (α = ``drift_local_scale`` default);
- ``default``: both, as per-sample drift uses them.

It also reports, per variant, the share of held-out tweets' predicted spans flagged (expected:
5%, the ``drift_quantile``) with two references for the distribution scores are percentiles of:
the training spans themselves (each without itself and its twin, the gold or predicted span with
the same boundaries) and the validation split's predicted spans, which ``finish()`` uses when the
run has them; it checks that the ``drift_score`` stored in ``spans.parquet`` is that of the
``default`` variant with the validation reference, and reports the share each inference set
has flagged (``stored_flagged_rate``).

Usage::

    .venv/bin/python bench/ner_drift.py                 # ≈ 1-2 min on 2 cores
    .venv/bin/python bench/ner_drift.py --quick         # smaller: a smoke run
    .venv/bin/python bench/ner_drift.py --seed 1 --out ner_drift.json
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.path.append(sys.path.pop(0))  # the bench folder last: bench/logging.py must not shadow logging

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _common import emit, machine_info  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=1600)
    p.add_argument("--n-validation", type=int, default=300)
    p.add_argument("--n-inference", type=int, default=494, help="held-out tweets (the rest of the 2,394)")
    p.add_argument("--n-shifted", type=int, default=500, help="headlines and plot descriptions, each")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.n_validation, args.n_inference, args.n_shifted, args.epochs = 400, 100, 150, 150, 2
    return args


def auroc(neg: np.ndarray, pos: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    return float(roc_auc_score(y, np.r_[neg, pos]))


def pred_spans(results: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, stored drift_score) of the predicted spans of an inference set."""
    import pyarrow.parquet as pq

    folder = results / ("inference/" + name if name not in ("training", "validation", "test") else name)
    spans = pq.read_table(folder / "spans.parquet")
    is_pred = np.asarray(spans.column("span_kind").to_pylist(), dtype=object) == "pred"
    emb = np.load(folder / "embeddings.npy")
    drift = spans.column("drift_score").to_numpy(zero_copy_only=False) if "drift_score" in spans.column_names else np.full(len(is_pred), np.nan)
    return emb[is_pred], drift[is_pred]


def main(argv=None) -> dict:
    args = parse_args(argv)
    from dataquality.core import vectors as similarity
    from dataquality.demo.runs import NerDemoConfig, run_ner_demo
    from dataquality.tasks.text_ner.reference import stored_span_twins
    from dataquality.signals.drift import drift_distance, metric_reference, neighbours, score_drift
    from dataquality.signals.settings import SETTINGS

    k, q = SETTINGS["drift_k"].default, SETTINGS["drift_quantile"].default
    alpha, beta = SETTINGS["drift_local_scale"].default, SETTINGS["drift_whitening"].default
    variants = {"plain": (0.0, 0.0), "whitened": (0.0, beta), "local_scale": (alpha, 0.0), "default": (alpha, beta)}
    root = Path(tempfile.mkdtemp(prefix="dq-bench-ner-drift-"))
    try:
        cfg = NerDemoConfig(n_train=args.n_train, n_validation=args.n_validation, n_inference=args.n_inference,
                            n_shifted=args.n_shifted, epochs=args.epochs, seed=args.seed, run_name="ner-drift")
        t0 = time.perf_counter()
        run = run_ner_demo(cfg, root=root, verbose=False)
        seconds = time.perf_counter() - t0
        results = run.paths.results()
        train = np.load(results / "training" / "embeddings.npy", mmap_mode="r")
        index = similarity.load_index(results, "training")
        sets = {name: pred_spans(results, name) for name in ("tweets", "headlines", "plots")}
        twins = stored_span_twins(results / "training")
        val_emb = pred_spans(results, "validation")[0]
        out = {}
        for vname, (a, b) in variants.items():
            row = {"alpha": a, "beta": b}
            for rname, kw in (("training_spans", {"twins": twins}), ("validation_spans", {"heldout": val_emb})):
                ref = metric_reference(index, train, k=k, alpha=a, beta=b, quantile=q,
                                       rng=np.random.default_rng(args.seed), **kw)
                _, tweet_score, tweet_flag = score_drift(ref, sets["tweets"][0])
                row[f"heldout_flagged_rate_{rname}_reference"] = round(float(tweet_flag.mean()), 4)
                if rname == "training_spans":
                    dist = {}
                    for name, (emb, _) in sets.items():
                        d, rows = neighbours(ref, emb, ref["k"])
                        dist[name] = drift_distance(ref, d, rows)[1]
                    row["auroc_headlines"] = round(auroc(dist["tweets"], dist["headlines"]), 4)
                    row["auroc_plots"] = round(auroc(dist["tweets"], dist["plots"]), 4)
                elif vname == "default":  # what finish() does with a validation split
                    row["matches_stored_drift_score"] = bool(np.allclose(sets["tweets"][1], tweet_score, equal_nan=True))
            out[vname] = row
        stored = {name: round(float((v[1] > q).mean()), 4) for name, v in sets.items()}

        # Samples: the mean token embedding against the training samples' (what finish() scores),
        # against the sample score the spans give (the highest of its predicted spans; none = 0).
        import pandas as pd

        strain = np.load(results / "training" / "sample_embeddings.npy")
        sval = np.load(results / "validation" / "sample_embeddings.npy")
        sidx = similarity.build_index(strain, seed=args.seed)
        frames = {name: pd.read_parquet(results / "inference" / name / "samples.parquet") for name in sets}
        sembs = {name: np.load(results / "inference" / name / "sample_embeddings.npy") for name in sets}
        samples = {"n": {name: len(f) for name, f in frames.items()},
                   "without_predicted_spans": {name: round(float((f["n_pred_spans"] == 0).mean()), 4) for name, f in frames.items()},
                   "stored_flagged_rate": {name: round(float(f["is_drifted"].mean()), 4) for name, f in frames.items()},
                   "highest_span_score_auroc": {
                       other: round(auroc(frames["tweets"]["span_drift_score"].fillna(0).to_numpy(),
                                          frames[other]["span_drift_score"].fillna(0).to_numpy()), 4)
                       for other in ("headlines", "plots")}}
        for vname, (a, b) in variants.items():
            ref_train = metric_reference(sidx, strain, k=k, alpha=a, beta=b, quantile=q, rng=np.random.default_rng(args.seed))
            ref = metric_reference(sidx, strain, k=k, alpha=a, beta=b, quantile=q, rng=np.random.default_rng(args.seed),
                                   heldout=sval)
            dist = {}
            for name, e in sembs.items():
                d, rows = neighbours(ref, e, ref["k"])
                dist[name] = drift_distance(ref, d, rows)[1]
            row = {"auroc_headlines": round(auroc(dist["tweets"], dist["headlines"]), 4),
                   "auroc_plots": round(auroc(dist["tweets"], dist["plots"]), 4),
                   "heldout_flagged_rate_training_reference": round(float(score_drift(ref_train, sembs["tweets"])[2].mean()), 4),
                   "heldout_flagged_rate_validation_reference": round(float((dist["tweets"] > ref["threshold"]).mean()), 4)}
            if vname == "default":  # what finish() stores: percentiles among the training samples
                _, score, _ = score_drift(ref_train, sembs["tweets"])
                row["matches_stored_drift_score"] = bool(np.allclose(frames["tweets"]["drift_score"], score))
            samples[vname] = row
        result = {
            "benchmark": "ner_drift",
            "config": vars(args) | {"drift_k": k, "drift_quantile": q},
            "run_seconds": round(seconds, 1),
            "training_spans": int(len(train)),
            "predicted_spans": {name: int(len(v[0])) for name, v in sets.items()},
            "span_variants": out,
            "stored_flagged_rate": stored,
            "samples": samples,
            "machine": machine_info(),
        }
        emit(result, args.out)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
