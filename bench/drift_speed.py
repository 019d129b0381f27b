"""Benchmark: drift of 100k inference samples against a 1M × 768 training reference, through the library.

Builds, in a temporary ``results/`` folder, what a finished training session leaves behind:
``training/embeddings.npy`` (1M × 768 clustered unit vectors, ``bench/similarity.py``'s
generator), ``training/samples.parquet`` (id, pred, confidence) and the stored IVF index
``index/training.faiss`` (``similarity.build_index`` + ``save_index``, as ``finish()`` does; timed
apart). Then it calls the drift signal (``dataquality.signals.drift.drift``) on the
``SplitArrays`` of a 100k inference set (80% fresh in-distribution rows, 20% from other clusters),
as an inference-only later session's ``finish()`` does: it loads the stored index lazily (cache
cleared first), scores 20k training rows for the reference distribution, the 100k inference rows,
and runs the set-level tests. Timed end to end.

Baselines measured in the same run (2 threads, extrapolated to the same 120k queries): exact
search (BLAS over all 1M rows) and faiss' own per-query IVF search at the same nprobe.

Goal from the issue: ≤ 120 s.

Usage::

    .venv/bin/python bench/drift_speed.py             # 1M training × 100k inference, ≈ 5 min
    .venv/bin/python bench/drift_speed.py --quick     # smoke run
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # the bench folder last: never shadow an installed module

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _common import RssSampler, Timer, emit, machine_info  # noqa: E402
from similarity import CHUNK, clustered_vectors  # noqa: E402

GOAL_SECONDS = 120.0
LABELS = [f"c{i}" for i in range(10)]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=1_000_000)
    p.add_argument("--inference", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--shifted", type=float, default=0.2, help="share of inference rows from other clusters")
    p.add_argument("--baseline-exact", type=int, default=400, help="queries timed for the exact baseline")
    p.add_argument("--baseline-ivf", type=int, default=2_000, help="queries timed for faiss' per-query IVF search")
    p.add_argument("--local-scale", type=float, default=None,
                   help="signal setting drift_local_scale (default: the library's); 0 = plain mean k-NN distance")
    p.add_argument("--whitening", type=float, default=None,
                   help="signal setting drift_whitening (default: the library's); 0 = plain cosine")
    p.add_argument("--k", type=int, default=None, help="signal setting drift_k (default: the library's)")
    p.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.train, args.inference, args.dim = 120_000, 20_000, 128
    return args


def softmax_probs(n: int, rng) -> np.ndarray:
    z = rng.normal(size=(n, len(LABELS))).astype(np.float32) * 2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def write_training(results: Path, args, rng) -> dict:
    """embeddings.npy, samples.parquet and the stored index of a 1M training split."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataquality.core import layout as S
    from dataquality.core import vectors as similarity

    d = results / S.TRAIN
    d.mkdir(parents=True)
    with Timer() as t_gen:
        emb = np.lib.format.open_memmap(d / S.EMBEDDINGS_FILE, mode="w+", dtype=np.float32, shape=(args.train, args.dim))
        clustered_vectors(args.train, args.dim, seed=0, out=emb)
        emb.flush()
        del emb
    probs = softmax_probs(args.train, rng)
    pq.write_table(pa.table({
        S.ID: np.arange(args.train, dtype=np.int64),
        S.PRED: np.asarray(LABELS, dtype=object)[probs.argmax(axis=1)],
        S.CONFIDENCE: probs.max(axis=1),
    }), d / S.SAMPLES_FILE)
    with Timer() as t_build:
        index = similarity.build_index(np.load(d / S.EMBEDDINGS_FILE, mmap_mode="r"), seed=0)
    with Timer() as t_save:
        similarity.save_index(index, similarity.index_path(results, S.TRAIN))
    info = {"generate_seconds": round(t_gen.seconds, 1), "index": type(index).__name__,
            "nlist": int(getattr(index, "nlist", 0)) or None, "nprobe": similarity.NPROBE,
            "build_seconds": round(t_build.seconds, 1), "save_seconds": round(t_save.seconds, 1),
            "index_file_mib": round(similarity.index_path(results, S.TRAIN).stat().st_size / 2**20, 1)}
    del index
    return info


def inference_arrays(results: Path, args, rng):
    from dataquality.core import layout as S
    from dataquality.signals.registry import SplitArrays

    n_shift = int(round(args.inference * args.shifted))
    n_in = args.inference - n_shift
    start = -(-args.train // CHUNK) * CHUNK  # rows past the training set: fresh, same distribution
    emb = np.concatenate([clustered_vectors(n_in, args.dim, seed=0, offset=start),
                          clustered_vectors(n_shift, args.dim, seed=1)])  # other clusters
    shifted = np.r_[np.zeros(n_in, bool), np.ones(n_shift, bool)]
    data = SplitArrays(split=S.INFERENCE, inference_name="prod", labels=LABELS,
                       ids=np.arange(args.inference, dtype=np.int64) + 10**9, gold=None,
                       probs=softmax_probs(args.inference, rng), embeddings=emb, epoch_probs=None,
                       epochs=[0], texts=None, settings=drift_settings(args))
    return data, shifted


def drift_settings(args) -> dict:
    out = {"drift_local_scale": args.local_scale, "drift_whitening": args.whitening, "drift_k": args.k}
    return {k: v for k, v in out.items() if v is not None}


def exact_baseline(train_emb: np.ndarray, queries: np.ndarray, k: int) -> float:
    """Seconds for an exact top-k of ``queries`` over every training row (BLAS, blocks of 100k)."""
    from dataquality.core import vectors as similarity

    q = similarity.normalized(queries)
    best = np.full((len(q), k), -np.inf, np.float32)
    with Timer() as t:
        for s in range(0, len(train_emb), 100_000):
            sc = q @ np.asarray(train_emb[s : s + 100_000]).T
            sc = np.concatenate([best, sc], axis=1)
            best = -np.partition(-sc, k - 1, axis=1)[:, :k]
    return t.seconds


def main(argv=None) -> dict:
    import faiss

    from dataquality.core import layout as S
    from dataquality.core import vectors as similarity
    from dataquality.signals import drift as drift_mod

    args = parse_args(argv)
    own = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="dq-bench-drift-")) if own else Path(args.dir)
    results = base / "results"
    rng = np.random.default_rng(0)
    try:
        training = write_training(results, args, rng)
        data, shifted = inference_arrays(results, args, rng)
        similarity._load.cache_clear()  # the later session starts with nothing loaded
        from dataquality.tasks.text_classification.reference import load_reference

        with RssSampler() as rss, Timer() as t_drift:
            # what finish() does for an inference set added later: read the training reference, score
            data.reference = load_reference(results, {"labels": LABELS, "signal_settings": data.settings},
                                            stored_training=True)
            out = drift_mod.drift(data)
        flag = np.asarray(out.columns["is_drifted"])
        summary = out.summary
        # the searches drift makes: reference sample + inference set (the local scale reads the
        # neighbours' vectors, the whitening scores the same lists: no extra search)
        n_queries = drift_mod.REF_SAMPLE + args.inference

        # baselines on the same data, same threads, extrapolated to n_queries
        k = int(summary["k"])
        train_emb = np.load(results / S.TRAIN / S.EMBEDDINGS_FILE, mmap_mode="r")
        qb = data.embeddings[: args.baseline_exact]
        exact_s = exact_baseline(train_emb, qb, k) * n_queries / len(qb)
        index = similarity.load_index(results, S.TRAIN)
        qi = similarity.normalized(data.embeddings[: args.baseline_ivf])
        with Timer() as t_native:
            index.search(qi, k)
        native_s = t_native.seconds * n_queries / len(qi)
        with Timer() as t_batch:
            similarity.ivf_batch_search(index, qi, k) if isinstance(index, faiss.IndexIVFFlat) else index.search(qi, k)
        batch_small_s = t_batch.seconds * n_queries / len(qi)
        ok = t_drift.seconds <= GOAL_SECONDS
        result = {
            "benchmark": "drift_speed",
            "config": {"train": args.train, "inference": args.inference, "dim": args.dim, "shifted": args.shifted,
                       "drift_k": k, "reference_sample": drift_mod.REF_SAMPLE, "quick": args.quick,
                       "threads": faiss.omp_get_max_threads()},
            "how": "drift signal on SplitArrays of a synthetic inference set; training results "
                   "(embeddings.npy, samples.parquet, stored index) written as finish() leaves them; "
                   "index loaded lazily inside the timed call",
            "training_side": training,
            "drift": {
                "seconds": round(t_drift.seconds, 1),
                "min_queries": n_queries,
                "drift_local_scale": summary.get("local_scale_alpha"),
                "drift_whitening": summary.get("whitening_beta"),
                "peak_rss_mib": rss.peak_mib,
                "flagged_rate_in_distribution": round(float(flag[~shifted].mean()), 4),
                "flagged_rate_shifted": round(float(flag[shifted].mean()), 4) if shifted.any() else None,
                "expected_rate": summary.get("expected_rate"),
                "mmd_p_value": summary.get("mmd", {}).get("p_value"),
                "goal": f"seconds <= {GOAL_SECONDS}",
                "pass": ok,
            },
            "baselines_extrapolated_to_same_queries": {
                "exact_blas_seconds": round(exact_s, 1), "exact_timed_queries": len(qb),
                "faiss_ivf_per_query_seconds": round(native_s, 1),
                "ivf_batch_seconds_small_batch": round(batch_small_s, 1), "ivf_timed_queries": len(qi),
                "drift_speedup_vs_exact": round(exact_s / t_drift.seconds, 1),
                "drift_speedup_vs_faiss_ivf_per_query": round(native_s / t_drift.seconds, 2),
            },
            "machine": machine_info() | {"faiss": faiss.__version__},
            "pass": ok,
        }
        emit(result, args.out)
        return result
    finally:
        if own:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
