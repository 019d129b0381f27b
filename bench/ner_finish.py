"""Benchmark: ``finish()`` of a ``text_ner`` run, time and peak memory.

Synthetic but shaped like a real NER run: a tagged BIO label list of 9 tags (O + B-/I- of PER,
ORG, LOC, MISC), sentences of 24..40 whitespace tokens (32 on average) of which about 15% are
entity tokens in spans of 1..3 tokens, 10% of the sentences with a corrupted gold annotation (a
span's type changed, a boundary shifted by one token, a span deleted, or a spurious span added).
The "model" leans towards the clean tags more with every epoch (it also memorises some of the noisy
gold), and its 384-d token embeddings cluster by clean tag. Per epoch every sentence is logged in
shuffled batches of 256 as lists of per-sample ``(tokens, d)`` / ``(tokens, 9)`` arrays.

``finish()`` runs alone in a fresh process (so the peak RSS is its own), first with
``signals=False`` (the baseline: join the token rows, decode, write the tables) and then with
``signals=True`` (the default: DEP, error types, span embeddings, metrics, the similarity index).
Also timed in the same run: reading the final epoch's token embeddings out of the logged parts and
``np.save``-ing them (the least work any finish must do with them).

Goal (from the issue): ``finish()`` <= 120 s at 50k sentences x 32 tokens x 384-d x 3 epochs.

Usage::

    .venv/bin/python bench/ner_finish.py                  # the issue's sizes
    .venv/bin/python bench/ner_finish.py --quick          # 5k sentences, 64-d, 2 epochs
    .venv/bin/python bench/ner_finish.py --n 20000 --out result.json
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

from _common import RssSampler, Timer, drop_dirty_pages, emit, machine_info, reset_peak_rss, vm_hwm_mib  # noqa: E402

GOAL_SECONDS = 120.0
TYPES = ("PER", "ORG", "LOC", "MISC")
LABELS = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]
CORRUPTIONS = ("wrong_type", "shift", "delete", "spurious")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=50_000, help="sentences")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--noise", type=float, default=0.10, help="share of sentences with a corrupted gold")
    p.add_argument("--goal-seconds", type=float, default=GOAL_SECONDS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--child-finish", choices=("signals", "nosignals"), default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.dim, args.epochs = min(args.n, 5_000), min(args.dim, 64), min(args.epochs, 2)
    return args


# -- synthetic data ----------------------------------------------------------------------------------


def make_corpus(n: int, noise: float, seed: int):
    """Sentences with clean and noisy token spans. Returns a dict of per-sentence lists."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, int(m))) for m in rng.integers(2, 10, 5000)]
    vocab_len = np.array([len(w) for w in vocab])
    lengths = rng.integers(24, 41, n)
    texts, token_idx, clean, noisy, kind = [], [], [], [], np.full(n, "", object)
    corrupt = np.zeros(n, bool)
    corrupt[rng.choice(n, int(round(noise * n)), replace=False)] = True
    for i, m in enumerate(lengths.tolist()):
        w = rng.integers(0, len(vocab), m)
        wl = vocab_len[w]
        starts = np.r_[0, np.cumsum(wl + 1)[:-1]]
        texts.append(" ".join(vocab[j] for j in w.tolist()))
        token_idx.append(np.stack([starts, starts + wl], axis=1).astype(np.int32))
        spans, pos = [], 0
        while pos < m:
            if rng.random() < 0.105:
                e = min(m, pos + 1 + int(rng.geometric(0.6)) - 1 + int(rng.random() < 0.3))
                spans.append((pos, e, TYPES[int(rng.integers(0, 4))]))
                pos = e + 1  # keep one O token between spans
            else:
                pos += 1
        clean.append(spans)
        bad = list(spans)
        if corrupt[i]:
            k = CORRUPTIONS[int(rng.integers(0, 4))] if spans else "spurious"
            j = int(rng.integers(0, len(spans))) if spans else 0
            if k == "wrong_type":
                s, e, t = bad[j]
                bad[j] = (s, e, TYPES[(TYPES.index(t) + int(rng.integers(1, 4))) % 4])
            elif k == "shift":
                s, e, t = bad[j]
                lo = bad[j - 1][1] if j else 0                 # previous span's end
                hi = bad[j + 1][0] if j + 1 < len(bad) else m  # next span's start
                options = [(s2, e2) for s2, e2 in ((s - 1, e - 1), (s + 1, e + 1), (s, e + 1), (s - 1, e), (s + 1, e), (s, e - 1))
                           if lo <= s2 < e2 <= hi and (s2 == 0 or s2 > lo or lo == 0) and (s2, e2) != (s, e)]
                options = [o for o in options if (j == 0 or o[0] > lo) and (j + 1 >= len(bad) or o[1] < hi)]
                if options:
                    s2, e2 = options[int(rng.integers(0, len(options)))]
                    bad[j] = (s2, e2, t)
                else:
                    k = "delete"
            if k == "delete":
                bad.pop(j)
            elif k == "spurious":
                taken = np.zeros(m + 2, bool)
                for s, e, _ in bad:
                    taken[s:e + 2] = True  # span plus the token after it
                    taken[max(s - 1, 0)] = True
                free = np.flatnonzero(~taken[:m])
                if free.size:
                    s = int(rng.choice(free))
                    bad.append((s, s + 1, TYPES[int(rng.integers(0, 4))]))
                    bad.sort()
                else:
                    corrupt[i], k = False, ""
            kind[i] = k
        noisy.append(bad)
    return {"text": texts, "token_idx": token_idx, "clean": clean, "noisy": noisy, "corrupt": corrupt, "kind": kind,
            "lengths": lengths}


def bio_tags(spans, m: int) -> np.ndarray:
    tags = np.zeros(m, np.int64)
    for s, e, t in spans:
        b = 1 + 2 * TYPES.index(t)
        tags[s], tags[s + 1:e] = b, b + 1
    return tags


def char_spans(spans, idx: np.ndarray) -> list[dict]:
    return [{"start": int(idx[s, 0]), "end": int(idx[e - 1, 1]), "label": t} for s, e, t in spans]


def log_everything(args, root: Path) -> dict:
    import pandas as pd

    import dataquality as dq

    t0 = time.perf_counter()
    c = make_corpus(args.n, args.noise, args.seed)
    t_gen = time.perf_counter() - t0
    n, k, d = args.n, len(LABELS), args.dim
    clean_tags = [bio_tags(s, m) for s, m in zip(c["clean"], c["lengths"].tolist())]
    noisy_tags = [bio_tags(s, m) for s, m in zip(c["noisy"], c["lengths"].tolist())]
    t0 = time.perf_counter()
    run = dq.init("text_ner", project_name="bench", run_name="ner_finish", root=root, overwrite=True)
    dq.set_labels_for_run(LABELS)
    dq.set_tagging_schema("BIO")
    df = pd.DataFrame({"id": np.arange(n), "text": c["text"], "text_token_indices": c["token_idx"],
                       "gold_spans": [char_spans(s, idx) for s, idx in zip(c["noisy"], c["token_idx"])]})
    dq.log_dataset(df, split="training")
    t_inputs = time.perf_counter() - t0
    del df
    rng = np.random.default_rng(args.seed + 1)
    centers = rng.standard_normal((k, d), dtype=np.float32) * 0.5
    t0 = time.perf_counter()
    t_make = 0.0
    order = np.arange(n)
    for ep in range(args.epochs):
        rng.shuffle(order)
        for s in range(0, n, args.batch):
            ta = time.perf_counter()
            rows = order[s:s + args.batch].tolist()
            lens = [len(clean_tags[i]) for i in rows]
            tot = sum(lens)
            ct = np.concatenate([clean_tags[i] for i in rows])
            nt = np.concatenate([noisy_tags[i] for i in rows])
            lg = rng.standard_normal((tot, k), dtype=np.float32) * 0.7
            lg[np.arange(tot), ct] += 1.0 + 1.2 * ep           # learns the clean tags ...
            lg[np.arange(tot), nt] += 0.4 * ep                  # ... and memorises some noise
            wrong = rng.random(tot) < 0.04                      # and makes some mistakes
            lg[np.flatnonzero(wrong), rng.integers(0, k, int(wrong.sum()))] += 2.5
            em = centers[ct] + rng.standard_normal((tot, d), dtype=np.float32)
            cut = np.cumsum(lens)[:-1]
            t_make += time.perf_counter() - ta
            dq.log_model_outputs(ids=rows, embs=np.split(em, cut), logits=np.split(lg, cut), split="training", epoch=ep)
    run.flush()
    run._writer.close()
    t_out = time.perf_counter() - t0 - t_make
    return {"generate_seconds": round(t_gen, 2), "inputs_seconds": round(t_inputs, 2),
            "outputs_seconds": round(t_out, 2), "run_dir": str(run.dir), "n_tokens": int(c["lengths"].sum()),
            "n_corrupted": int(c["corrupt"].sum()),
            "entity_token_share": round(float(np.mean(np.concatenate(clean_tags) > 0)), 4)}


# -- finish in a fresh process ------------------------------------------------------------------------


def child_finish(args) -> None:
    reset_peak_rss()  # ru_maxrss survives exec: use VmHWM, reset here
    import dataquality as dq

    run = dq.init("text_ner", project_name="bench", run_name="ner_finish", root=args.dir)
    before = vm_hwm_mib()
    with RssSampler() as sampler, Timer() as t:
        report = run.finish(signals=args.child_finish == "signals", verbose=False)
    tr = report["splits"]["training"]
    out = {"seconds": round(t.seconds, 3), "peak_rss_mib": vm_hwm_mib() or sampler.peak_mib,
           "peak_rss_sampled_mib": sampler.peak_mib, "rss_before_finish_mib": before,
           "n_samples": tr["n_samples"], "n_tokens": tr["n_tokens"], "n_gold_spans": tr["n_gold_spans"],
           "n_pred_spans": tr["n_pred_spans"]}
    if args.child_finish == "signals":
        s = tr["signals"]["summary"]
        out["micro_f1"] = round(s["entity_metrics"]["micro"]["f1"], 4)
        out["error_counts"] = s["error_counts"]
    print(json.dumps(out))


def run_child(args, mode: str) -> dict:
    drop_dirty_pages()  # untimed: every timed step starts from the same disk state
    cmd = [sys.executable, os.path.abspath(__file__), "--child-finish", mode, "--dir", args.dir]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"finish({mode}) failed in the child process (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def baseline_copy(run_dir: Path) -> float:
    """Read the final epoch's token embeddings out of the logged parts and np.save them."""
    from dataquality.core import layout as S
    from dataquality.core import store
    from dataquality.core.parts import epochs, matrix, open_parts

    final = epochs(store.RunPaths(run_dir), S.TRAIN)[-1]
    drop_dirty_pages()
    dst = run_dir / "baseline-tokens.npy"
    with Timer() as t:
        mats = [np.array(matrix(b, S.EMB)) for _, b in open_parts(final.parts)]
        np.save(dst, np.concatenate(mats))
        del mats
    dst.unlink()
    return t.seconds


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child_finish:
        child_finish(args)
        return {}
    own_dir = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="dq-bench-ner-finish-")) if own_dir else Path(args.dir)
    args.dir = str(base / "dq_home")
    os.environ["DQ_HOME"] = args.dir
    try:
        logged = log_everything(args, Path(args.dir))
        base_s = baseline_copy(Path(logged["run_dir"]))
        plain = run_child(args, "nosignals")
        full = run_child(args, "signals")
        ok = full["seconds"] <= args.goal_seconds
        result = {
            "benchmark": "ner_finish",
            "config": {"sentences": args.n, "mean_tokens": round(logged["n_tokens"] / args.n, 2), "dim": args.dim,
                       "epochs": args.epochs, "labels": LABELS, "batch": args.batch, "noise": args.noise,
                       "quick": args.quick},
            "data": {"n_tokens": logged["n_tokens"], "entity_token_share": logged["entity_token_share"],
                     "n_corrupted_sentences": logged["n_corrupted"]},
            "logging_seconds": {"generate": logged["generate_seconds"], "inputs": logged["inputs_seconds"],
                                "outputs": logged["outputs_seconds"]},
            "finish": dict(full, goal=f"seconds <= {args.goal_seconds}", **{"pass": ok}),
            "baseline": {
                "finish_signals_false": plain,
                "copy_token_embeddings_seconds": round(base_s, 3),
                "copy_what": "read the final epoch's token embeddings from the logged parts + np.save, same disk",
                "finish_over_signals_false": round(full["seconds"] / plain["seconds"], 2),
                "finish_over_copy": round(full["seconds"] / base_s, 2),
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
