"""Benchmark: ``finish(signals=False)`` time and peak memory.

Logs a training split and a validation split for several epochs (timed separately), then runs
``finish(signals=False)`` alone in a fresh process (so its peak RSS is its own) and prints one JSON
object. Goal from the issue: <= 30 s at 200k train + 20k validation x 3 epochs x 768-d, 10 classes.
For context it also times, in the same run, a plain ``np.load`` + ``np.save`` of the final-epoch
training embeddings (the least work any finish must do with them).

Usage::

    .venv/bin/python bench/finish.py                # the issue's sizes
    .venv/bin/python bench/finish.py --quick        # smoke run
    .venv/bin/python bench/finish.py --train 50000 --val 5000 --epochs 2 --out result.json
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # the bench folder last: never shadow an installed module

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
    reset_peak_rss,
    vm_hwm_mib,
)

GOAL_SECONDS = 30.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=200_000)
    p.add_argument("--val", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--goal-seconds", type=float, default=GOAL_SECONDS)
    p.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--child-finish", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.train, args.val, args.dim = min(args.train, 8_000), min(args.val, 800), min(args.dim, 128)
    return args


def make_inputs(n: int, classes: int, seed: int, start: int):
    import pandas as pd

    rng = np.random.default_rng(seed)
    words = np.array(["good", "bad", "movie", "plot", "great", "boring", "actor", "scene", "fine", "meh"])
    w = words[rng.integers(0, len(words), size=(n, 5))]
    return pd.DataFrame({"id": np.arange(start, start + n, dtype=np.int64),
                         "text": [" ".join(r) for r in w.tolist()],
                         "label": rng.integers(0, classes, size=n)})


def log_everything(args, root: Path) -> dict:
    import dataquality as dq

    k, d, b = args.classes, args.dim, args.batch
    t_inputs = time.perf_counter()
    run = dq.init("text_classification", project_name="bench", run_name="finish", root=root, overwrite=True)
    dq.set_labels_for_run([f"c{i}" for i in range(k)])
    splits = {"training": (args.train, 0), "validation": (args.val, args.train)}
    for split, (n, start) in splits.items():
        dq.log_dataset(make_inputs(n, k, seed=start, start=start), split=split)
    t_inputs = time.perf_counter() - t_inputs
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for split, (n, start) in splits.items():
        embs = rng.standard_normal((n, d), dtype=np.float32)
        centers = rng.standard_normal((k, d), dtype=np.float32)
        ids = np.arange(start, start + n, dtype=np.int64)
        order = np.arange(n)
        for ep in range(args.epochs):
            rng.shuffle(order)  # a data loader shuffles every epoch
            for s in range(0, n, b):
                rows = order[s : s + b]
                e = embs[rows]
                logits = (e @ centers.T) * (0.05 * (ep + 1))
                dq.log_model_outputs(ids=ids[rows], embs=e, logits=logits, split=split, epoch=ep)
        del embs
    run.flush()
    run._writer.close()
    return {"inputs_seconds": round(t_inputs, 2), "outputs_seconds": round(time.perf_counter() - t0, 2),
            "run_dir": str(run.dir)}


def child_finish(args) -> None:
    # ru_maxrss survives exec (it would report the parent's peak): use VmHWM, reset here.
    reset_peak_rss()
    import dataquality as dq

    run = dq.init("text_classification", project_name="bench", run_name="finish", root=args.dir)
    before = vm_hwm_mib()
    with RssSampler() as sampler, Timer() as t:
        report = run.finish(signals=False, verbose=False)
    print(json.dumps({
        "seconds": round(t.seconds, 3),
        "peak_rss_mib": vm_hwm_mib() or sampler.peak_mib,
        "peak_rss_sampled_mib": sampler.peak_mib,
        "rss_before_finish_mib": before,
        "split_seconds": {key: s["seconds"] for key, s in report["splits"].items()},
        "n_samples": {key: s["n_samples"] for key, s in report["splits"].items()},
    }))


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child_finish:
        child_finish(args)
        return {}
    own_dir = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="dq-bench-finish-")) if own_dir else Path(args.dir)
    args.dir = str(base / "dq_home")
    os.environ["DQ_HOME"] = args.dir
    try:
        logged = log_everything(args, Path(args.dir))
        drop_dirty_pages()  # untimed: finish starts from a clean page cache state
        cmd = [sys.executable, os.path.abspath(__file__), "--child-finish", "--dir", args.dir]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"finish failed in the child process (exit {proc.returncode})")
        fin = json.loads(proc.stdout.strip().splitlines()[-1])

        # Baseline: load the final-epoch training embeddings and save them once, same disk.
        emb_path = Path(logged["run_dir"]) / "results" / "training" / "embeddings.npy"
        copy_path = emb_path.with_name("baseline-copy.npy")
        with Timer() as t:
            np.save(copy_path, np.load(emb_path))
        copy_path.unlink()
        base_s = t.seconds
        ok = fin["seconds"] <= args.goal_seconds
        result = {
            "benchmark": "finish",
            "config": {"train": args.train, "val": args.val, "epochs": args.epochs, "dim": args.dim,
                       "classes": args.classes, "batch": args.batch, "signals": False, "quick": args.quick},
            "logging_seconds": {"inputs": logged["inputs_seconds"], "outputs": logged["outputs_seconds"]},
            "finish": {
                "seconds": fin["seconds"],
                "split_seconds": fin["split_seconds"],
                "n_samples": fin["n_samples"],
                "peak_rss_mib": fin["peak_rss_mib"],
                "peak_rss_sampled_mib": fin["peak_rss_sampled_mib"],
                "rss_before_finish_mib": fin["rss_before_finish_mib"],
                "goal": f"seconds <= {args.goal_seconds}",
                "pass": ok,
            },
            "baseline": {
                "what": "np.load + np.save of the final-epoch training embeddings, same disk",
                "seconds": round(base_s, 3),
                "finish_over_baseline": round(fin["seconds"] / base_s, 2),
            },
            "machine": machine_info(),
            "pass": ok,
        }
        emit(result, args.out)
        return result
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
