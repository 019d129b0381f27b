"""Benchmark: ``dq.log_model_outputs`` caller overhead, write throughput and peak memory.

Prints one JSON object. Every figure is compared with a baseline measured in the same run:

(a) caller-thread time per ``dq.log_model_outputs`` call against a plain ``np.copy`` of the same
    arrays (embs + logits + ids); goal: median ratio <= 2. Calls are paced (a sleep stands in for
    the training step between batches) so the background writer keeps up and the figure is the
    caller's own cost, not time spent waiting for the disk.
(b) end-to-end write throughput (every batch logged back to back, then ``run.flush()``) against
    ``np.save`` of the same bytes into the same directory, each after ``os.sync()``, in
    alternating order; goal: the median over repetitions of the per-repetition ratio >= 0.70.
    Both write into the page cache (neither times an fsync), to fresh files in one directory,
    and both reserve the files' blocks first: ``np.save`` (``ndarray.tofile``) calls
    ``fallocate`` before its single write, and the writer does the same before each record
    batch. Without that reservation a plain ``write()`` of the same array is about a third
    slower on this machine's ext4, so the comparison is like for like only with both doing it.
(c) peak RSS while logging outputs, in a fresh process that logs N batches against one that
    logs 10 x N batches (1 epoch vs 10 epochs of the same samples); goal: ratio <= 1.15. The
    run keeps the ids of the current epoch per split (a bitmap of one byte per id for integer
    ids), so memory should not grow with the number of epochs.

Usage::

    .venv/bin/python bench/logging.py                 # the issue's sizes: 200k x 768, 10 classes
    .venv/bin/python bench/logging.py --quick         # smoke run (8k x 128-d: fixed per-call costs
                                                      # dominate; the goals are for the issue's sizes)
    .venv/bin/python bench/logging.py --samples 50000 --dim 384 --out result.json
"""

from __future__ import annotations

import sys

# This file is called logging.py: keep it from shadowing the standard library's logging module.
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _common import (  # noqa: E402
    RssSampler,
    Timer,
    drop_dirty_pages,
    emit,
    machine_info,
    peak_rss_mib,
    pct,
    reset_peak_rss,
    vm_hwm_mib,
)

GOAL_CALLER_RATIO = 2.0
GOAL_THROUGHPUT_RATIO = 0.70
GOAL_RSS_RATIO = 1.15


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--reps", type=int, default=5, help="repetitions of the throughput comparison")
    p.add_argument("--pace-ms", type=float, default=None,
                   help="sleep between calls in (a); default: 2x the time per batch measured in (b)")
    p.add_argument("--rss-samples", type=int, default=None,
                   help="samples per epoch in (c); default --samples")
    p.add_argument("--rss-factor", type=int, default=10)
    p.add_argument("--dir", default=None, help="where to write (default: a temp dir under the system temp)")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--child-rss", type=int, default=None, help=argparse.SUPPRESS)  # epochs
    args = p.parse_args(argv)
    if args.quick:
        args.samples = min(args.samples, 8_192)
        args.dim = min(args.dim, 128)
        args.reps = 1
    if args.rss_samples is None:
        args.rss_samples = args.samples
    return args


def make_inputs(n: int, classes: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    words = np.array(["good", "bad", "movie", "plot", "great", "boring", "actor", "scene", "fine", "meh"])
    w = words[rng.integers(0, len(words), size=(n, 4))]
    texts = [" ".join(r) for r in w.tolist()]
    return pd.DataFrame({"id": np.arange(n, dtype=np.int64), "text": texts,
                         "label": rng.integers(0, classes, size=n)})


def start_run(root: Path, name: str, n: int, classes: int):
    import dataquality as dq

    run = dq.init("text_classification", project_name="bench", run_name=name, root=root, overwrite=True)
    dq.set_labels_for_run([f"c{i}" for i in range(classes)])
    dq.log_dataset(make_inputs(n, classes), split="training")
    return run


def batches(n: int, size: int):
    return [(s, min(s + size, n)) for s in range(0, n, size)]


# -- (c) in a fresh process ------------------------------------------------------------------------

def child_rss(args) -> None:
    """Log ``args.child_rss`` epochs of ``rss_samples`` samples; print the peak RSS as JSON."""
    # ru_maxrss survives exec (it would report the parent's peak): use VmHWM, reset here.
    reset_peak_rss()
    import dataquality as dq

    n, d, k, b = args.rss_samples, args.dim, args.classes, args.batch
    root = Path(args.dir)
    run = start_run(root, f"rss-{args.child_rss}", n, k)
    rng = np.random.default_rng(1)
    pool = 8  # a few distinct batches, reused: the source data does not grow with N
    embs = rng.standard_normal((pool, b, d), dtype=np.float32)
    logits = rng.standard_normal((pool, b, k), dtype=np.float32)
    ids = np.arange(n, dtype=np.int64)
    rss_before = vm_hwm_mib() or peak_rss_mib()
    # Peak RSS of the logging alone: log_dataset's peak above would otherwise hide it.
    has_hwm = reset_peak_rss()
    calls = 0
    t0 = time.perf_counter()
    with RssSampler() as sampler:
        for ep in range(args.child_rss):
            for i, (s, e) in enumerate(batches(n, b)):
                j = i % pool
                dq.log_model_outputs(ids=ids[s:e], embs=embs[j, : e - s], logits=logits[j, : e - s],
                                     split="training", epoch=ep)
                calls += 1
        run.flush()
    seconds = time.perf_counter() - t0
    logging_peak = vm_hwm_mib() if has_hwm else None
    # whole-process peak: the larger of the peak before logging and the peak while logging
    whole = max(rss_before, logging_peak or sampler.peak_mib)
    print(json.dumps({"epochs": args.child_rss, "calls": calls, "peak_rss_mib": whole,
                      "peak_rss_logging_mib": logging_peak if logging_peak is not None else sampler.peak_mib,
                      "peak_rss_logging_source": "VmHWM after clear_refs" if logging_peak is not None else "psutil sampling",
                      "peak_rss_logging_sampled_mib": sampler.peak_mib,
                      "peak_rss_before_logging_mib": rss_before, "seconds": round(seconds, 2)}))
    run._writer.close()
    shutil.rmtree(run.dir, ignore_errors=True)


def run_child(args, epochs: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child-rss", str(epochs),
           "--samples", str(args.samples), "--rss-samples", str(args.rss_samples), "--dim", str(args.dim),
           "--classes", str(args.classes), "--batch", str(args.batch), "--dir", args.dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- main ------------------------------------------------------------------------------------------

def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child_rss is not None:
        child_rss(args)
        return {}
    own_dir = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="dq-bench-logging-")) if own_dir else Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    args.dir = str(base / "dq_home")
    os.environ["DQ_HOME"] = args.dir  # the store and the np.save baseline share one disk
    try:
        return _main(args, base)
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def _main(args, base: Path) -> dict:
    import dataquality as dq

    n, d, k, b = args.samples, args.dim, args.classes, args.batch
    rng = np.random.default_rng(0)
    embs_all = rng.standard_normal((n, d), dtype=np.float32)
    logits_all = rng.standard_normal((n, k), dtype=np.float32)
    ids_all = np.arange(n, dtype=np.int64)
    spans = batches(n, b)
    total_bytes = embs_all.nbytes + logits_all.nbytes + ids_all.nbytes
    save_dir = Path(args.dir) / "npsave"
    save_dir.mkdir(parents=True, exist_ok=True)

    run = start_run(Path(args.dir), "logging", n, k)
    out_root = run.paths.outputs("training")

    def np_save_once() -> float:
        drop_dirty_pages()
        with Timer() as t:
            np.save(save_dir / "embs.npy", embs_all)
            np.save(save_dir / "logits.npy", logits_all)
            np.save(save_dir / "ids.npy", ids_all)
        for f in save_dir.iterdir():
            f.unlink()
        return t.seconds

    # (b) throughput: one epoch per repetition, the baseline and the library back to back in an
    # order that alternates (ABBA...), each starting with no dirty pages; the disk's speed drifts
    # (other jobs write too), so the figure is the median of the per-repetition ratios, each
    # taken from two runs a moment apart, and the ratio of the medians is reported beside it.
    def dq_once(rep: int) -> float:
        drop_dirty_pages()
        with Timer() as t:
            for s, e in spans:
                dq.log_model_outputs(ids=ids_all[s:e], embs=embs_all[s:e], logits=logits_all[s:e],
                                     split="training", epoch=rep)
            run.flush()
        shutil.rmtree(out_root / str(rep))
        return t.seconds

    save_s, log_s = [], []
    np_save_once()  # warm-up: file system metadata, page allocator
    for rep in range(args.reps):
        if rep % 2 == 0:
            save_s.append(np_save_once())
            log_s.append(dq_once(rep))
        else:
            log_s.append(dq_once(rep))
            save_s.append(np_save_once())
    save_mbps = [total_bytes / 1e6 / s for s in save_s]
    log_mbps = [total_bytes / 1e6 / s for s in log_s]
    save_med, log_med = float(np.median(save_mbps)), float(np.median(log_mbps))
    paired = [sv / lg for sv, lg in zip(save_s, log_s)]
    tp_ratio = float(np.median(paired))

    # (a) caller time per call, paced so that the writer keeps up; copy and log alternate order.
    batch_bytes = total_bytes / len(spans)
    # Default pace: twice the time the library needs per batch in (b), so the writer is busy about
    # half the time, as it would be behind a (much slower) real training step.
    pace = args.pace_ms / 1e3 if args.pace_ms is not None else 2 * batch_bytes / (log_med * 1e6)
    copy_ns, log_ns = [], []
    ep = args.reps
    drop_dirty_pages()
    pc = time.perf_counter_ns
    for i, (s, e) in enumerate(spans):
        ids_b, embs_b, logits_b = ids_all[s:e], embs_all[s:e], logits_all[s:e]
        for first in ((0, 1) if i % 2 == 0 else (1, 0)):
            if first == 0:
                t0 = pc()
                c = (np.copy(embs_b), np.copy(logits_b), np.copy(ids_b))
                copy_ns.append(pc() - t0)
                del c
            else:
                t0 = pc()
                dq.log_model_outputs(ids=ids_b, embs=embs_b, logits=logits_b, split="training", epoch=ep)
                log_ns.append(pc() - t0)
        time.sleep(pace)
    run.flush()
    shutil.rmtree(out_root / str(ep))
    copy_us = np.asarray(copy_ns) / 1e3
    log_us = np.asarray(log_ns) / 1e3
    caller_ratio = float(np.median(log_us) / np.median(copy_us))
    run._writer.close()
    shutil.rmtree(run.dir, ignore_errors=True)

    # (c) peak RSS in fresh processes: N batches (1 epoch) vs factor x N (factor epochs).
    r1 = run_child(args, 1)
    rN = run_child(args, args.rss_factor)
    rss_ratio = rN["peak_rss_logging_mib"] / r1["peak_rss_logging_mib"]

    result = {
        "benchmark": "logging",
        "config": {"samples": n, "dim": d, "classes": k, "batch": b, "batches": len(spans), "reps": args.reps,
                   "pace_ms": round(pace * 1e3, 3), "rss_samples": args.rss_samples,
                   "rss_factor": args.rss_factor, "quick": args.quick, "dir": "temp dir (DQ_HOME and np.save share it)"},
        "bytes_per_epoch": total_bytes,
        "caller_overhead": {
            "log_model_outputs_us": {"p50": round(pct(log_us, 50), 1), "p95": round(pct(log_us, 95), 1)},
            "np_copy_us": {"p50": round(pct(copy_us, 50), 1), "p95": round(pct(copy_us, 95), 1)},
            "ratio_p50": round(caller_ratio, 3),
            "ratio_p95": round(pct(log_us, 95) / pct(copy_us, 95), 3),
            "goal": f"ratio_p50 <= {GOAL_CALLER_RATIO}",
            "pass": caller_ratio <= GOAL_CALLER_RATIO,
        },
        "throughput": {
            "dq_mb_per_s": round(log_med, 1),
            "np_save_mb_per_s": round(save_med, 1),
            "dq_mb_per_s_reps": [round(x, 1) for x in log_mbps],
            "np_save_mb_per_s_reps": [round(x, 1) for x in save_mbps],
            "ratio": round(tp_ratio, 3),
            "ratio_reps": [round(x, 3) for x in paired],
            "ratio_of_medians": round(log_med / save_med, 3),
            "goal": f"ratio (median of per-repetition ratios) >= {GOAL_THROUGHPUT_RATIO}",
            "pass": tp_ratio >= GOAL_THROUGHPUT_RATIO,
        },
        "peak_rss": {
            "what": "peak RSS while logging model outputs (after log_dataset), fresh process each",
            "n_batches": {k: r1[k] for k in r1 if k != "epochs"},
            f"{args.rss_factor}x_batches": {k: rN[k] for k in rN if k != "epochs"},
            "ratio": round(rss_ratio, 3),
            "ratio_whole_process": round(rN["peak_rss_mib"] / r1["peak_rss_mib"], 3),
            "goal": f"ratio <= {GOAL_RSS_RATIO}",
            "pass": rss_ratio <= GOAL_RSS_RATIO,
        },
        "machine": machine_info(),
    }
    result["pass"] = all(result[g]["pass"] for g in ("caller_overhead", "throughput", "peak_rss"))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
