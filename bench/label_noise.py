"""Benchmark: label-error detection quality (DEP, likely_mislabeled, AUM) against cleanlab.

Real data: the Rotten Tomatoes fresh/rotten critic snippets (12.8k, ``dataquality.demo.corpora``) with
frozen MiniLM sentence embeddings (``dataquality.demo.encode``, cached on disk). A fixed-seed 80/20
split gives a training part and a clean held-out part. Label noise is injected into the TRAINING
labels only, at each rate in ``--rates`` and in each way in ``--kinds``:

- ``uniform``: exactly ``round(rate * n_train)`` training samples drawn uniformly at random without
  replacement get the other label (binary task: uniform noise = random flips).
- ``confusion`` (confusion-guided): a logistic regression trained on the clean HELD-OUT part scores
  every training sample; ``q_i`` = its probability of the class that is NOT the sample's label. The
  same number of samples is drawn without replacement with probability proportional to ``q_i``
  (``--confusion-mode proportional``, the default: the samples a model finds ambiguous are flipped
  far more often, yet no sample is safe, as with a human annotator), or the ``round(rate*n)``
  samples with the largest ``q_i`` are flipped (``--confusion-mode top``: the hardest possible
  noise, nearly every flip lands where the model itself disagrees).

The ground truth is the boolean mask of flipped samples. Per setting a small PyTorch MLP head
(dropout, 384 -> 128 -> ReLU -> 2, Adam, like ``dataquality.demo.runs``) trains for ``--epochs`` epochs
on the NOISY labels and is logged through ``dq`` exactly as a user would log it (``log_dataset`` of
the noisy training split and of the held-out part as validation; per epoch
``dq.log_model_outputs(ids=, embs=, logits=)`` on every training batch inside the training loop and
on the validation split; ``dq.finish()``). The training results are read back with
``dq.metrics.get_dataframe`` and scored against the flipped mask:

- ``dep``: ``data_error_potential`` (higher = more likely an error): AUROC, average precision (AP),
  precision at k = number of flips;
- ``likely_mislabeled``: precision, recall, F1 of the boolean flag;
- ``aum``: the anchor, always computed here from ``dq.metrics.get_dynamics`` (margin of the gold
  label averaged over the epochs, Pleiss et al. 2020); ranked by ``-aum``, and as a flag ``aum < 0``;
  ``aum_column`` scores the run's own ``aum`` column when it exists;
- ``cleanlab_cv_rank`` / ``cleanlab_cv_find``: ``cleanlab.rank.get_label_quality_scores`` (AUROC/AP
  of ``1 - score``) and ``cleanlab.filter.find_label_issues`` (precision/recall/F1) on 5-fold
  cross-validated probabilities of the same MLP head (StratifiedKFold, same epochs, noisy labels);
  these are the baselines of the goals;
- ``cleanlab_insample_rank`` / ``cleanlab_insample_find``: the same two calls on the final-epoch
  in-sample probabilities the dq run logged (for reference only).

A column the run does not have yet (signals not implemented) is reported as null.

Goals (from the issue): in every setting ``dep`` AP >= ``cleanlab_cv_rank`` AP + 0.05, and
``likely_mislabeled`` F1 >= ``cleanlab_cv_find`` F1.

Usage::

    .venv/bin/python bench/label_noise.py                         # 4 settings, full size
    .venv/bin/python bench/label_noise.py --quick                 # n=1500, 2 epochs: smoke run
    .venv/bin/python bench/label_noise.py --kinds uniform --rates 0.1 --out result.json
    .venv/bin/python bench/label_noise.py --embs hidden           # log the MLP hidden layer as embs

From Python (put ``bench`` at the END of ``sys.path``: ``bench/logging.py`` would shadow the
standard library's ``logging`` otherwise)::

    import sys; sys.path.append("bench")
    import label_noise as ln
    res = ln.run_setting("confusion", 0.2, n=4000, epochs=8)      # trains, logs, scores; a dict
    a = ln.load_arrays("confusion", 0.2, n=4000, epochs=8)        # cached arrays, no retraining
    a["flipped"], a["noisy_labels"], a["df"], a["cv_probs"], a["epoch_probs"], a["embeddings"]
    ln.score_ranking(a["flipped"], my_dep)                        # {"auroc", "ap", "precision_at_k"}
    from dataquality.signals import run_signals
    cols, _ = run_signals(ln.split_arrays(a))                     # the CURRENT signal code, offline
    ln.evaluate(a, cols)                                          # every method side by side

Per setting, ``run_setting`` saves the per-sample arrays to
``$DQ_CACHE/bench/label_noise/<setting key>/`` (default ``~/.cache/dataquality``) and caches the
cross-validated probabilities there (``cv-*.npz``), so a rerun skips the cross-validation.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.path.append(sys.path.pop(0))  # the bench folder last: bench/logging.py must not shadow logging

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

LABELS = ["rotten", "fresh"]
KINDS = ("uniform", "confusion")
RATES = (0.10, 0.20)
PROJECT = "bench-label-noise"
DEP_AP_MARGIN = 0.05
# Columns the signals are expected to add to the training results (DESIGN §4).
DEP_COL, LM_COL, AUM_COL = "data_error_potential", "likely_mislabeled", "aum"


@dataclass(frozen=True)
class Config:
    """Everything that changes the numbers (part of the cache key)."""

    n: int | None = None  # subsample of the 12.8k reviews before the split (None: all)
    epochs: int = 8
    embs: str = "input"  # what is logged as `embs`: "input" (MiniLM, 384-d) or "hidden" (MLP, 128-d)
    seed: int = 0
    heldout_frac: float = 0.2
    hidden: int = 128
    dropout: float = 0.1
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    cv_folds: int = 5
    confusion_mode: str = "proportional"  # or "top"
    threads: int = 1  # torch threads: 1 is ~4x faster than 2 for this tiny MLP on a loaded 2-core box

    def model_key(self) -> str:
        """Hash of what the cross-validated model depends on (not `embs`: CV logs nothing)."""
        d = asdict(self)
        d.pop("embs")
        d.pop("threads")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def bench_cache_dir() -> Path:
    from dataquality.demo.encode import cache_dir

    return cache_dir() / "bench" / "label_noise"


def setting_key(kind: str, rate: float, cfg: Config) -> str:
    n = "all" if cfg.n is None else str(cfg.n)
    return f"{kind}-{rate:g}-n{n}-e{cfg.epochs}-{cfg.embs}-s{cfg.seed}-{cfg.model_key()}"


# -- data -----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def load_data(n: int | None = None, seed: int = 0, heldout_frac: float = 0.2, verbose: bool = False) -> dict:
    """Reviews, their MiniLM embeddings and the fixed train / held-out split.

    The whole corpus is encoded once (so the embedding cache is shared by every ``n``), then ``n``
    reviews are drawn with ``seed`` and split ``1 - heldout_frac`` / ``heldout_frac``.
    """
    from dataquality.demo.corpora import load_rotten_tomatoes
    from dataquality.demo.encode import encode

    reviews, _ = load_rotten_tomatoes()
    texts = reviews["text"].astype(str).tolist()
    t0 = time.perf_counter()
    X = np.asarray(encode(texts, show_progress=verbose), dtype=np.float32)
    t_enc = time.perf_counter() - t0
    y = reviews["label"].map({l: i for i, l in enumerate(LABELS)}).to_numpy().astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(reviews))
    if n is not None:
        order = order[: min(int(n), len(order))]
    n_ho = int(round(len(order) * heldout_frac))
    tr, ho = np.sort(order[n_ho:]), np.sort(order[:n_ho])
    return {
        "X_train": X[tr], "y_train": y[tr], "text_train": [texts[i] for i in tr],
        "movie_train": reviews["movie_name"].to_numpy()[tr],
        "X_ho": X[ho], "y_ho": y[ho], "text_ho": [texts[i] for i in ho],
        "movie_ho": reviews["movie_name"].to_numpy()[ho],
        "corpus_rows_train": tr, "corpus_rows_ho": ho, "encode_s": t_enc,
    }


def inject_noise(kind: str, rate: float, data: dict, *, seed: int = 0, mode: str = "proportional"):
    """Flip ``round(rate * n_train)`` training labels; returns ``(noisy, flipped, info)``."""
    y = data["y_train"]
    n = len(y)
    m = int(round(rate * n))
    rng = np.random.default_rng([seed, 7, int(round(rate * 1000)), KINDS.index(kind)])
    info: dict = {"kind": kind, "rate": rate, "n_train": n, "n_flipped": m}
    if kind == "uniform":
        idx = rng.choice(n, size=m, replace=False)
    elif kind == "confusion":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1.0, max_iter=2000)
        lr.fit(data["X_ho"], data["y_ho"])
        q = lr.predict_proba(data["X_train"])[np.arange(n), 1 - y]  # P(the other class)
        if mode == "proportional":
            idx = rng.choice(n, size=m, replace=False, p=q / q.sum())
        elif mode == "top":
            idx = np.argsort(-q, kind="stable")[:m]
        else:
            raise ValueError(f"confusion mode must be 'proportional' or 'top'; got {mode!r}")
        sel = np.zeros(n, bool)
        sel[idx] = True
        info.update(
            confusion_mode=mode,
            heldout_model_train_accuracy=float((lr.predict(data["X_train"]) == y).mean()),
            mean_q_flipped=float(q[sel].mean()),
            mean_q_kept=float(q[~sel].mean()) if (~sel).any() else None,
            frac_flipped_where_model_disagrees=float((q[sel] > 0.5).mean()) if m else None,
        )
    else:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    flipped = np.zeros(n, bool)
    flipped[idx] = True
    noisy = np.where(flipped, 1 - y, y).astype(np.int64)
    info["flipped_per_true_class"] = {LABELS[c]: int((flipped & (y == c)).sum()) for c in range(len(LABELS))}
    return noisy, flipped, info


# -- model --------------------------------------------------------------------------------------


def _head(d: int, cfg: Config):
    from torch import nn

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(d, cfg.hidden), nn.ReLU())
            self.out = nn.Linear(cfg.hidden, len(LABELS))

        def forward(self, x):
            h = self.hidden(x)
            return h, self.out(h)

    return Head()


def train_mlp(X, y, cfg: Config, *, seed: int, log_train=None, on_epoch_end=None):
    """Train the MLP head on ``(X, y)`` for ``cfg.epochs`` epochs; returns the model.

    ``log_train(batch_index_tensor, x, h, logits)`` is called after every training forward pass,
    ``on_epoch_end(epoch, model)`` after every epoch (model in train mode on return).
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(y))
    model = _head(Xt.shape[1], cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(yt), generator=gen)
        for s in range(0, len(perm), cfg.batch_size):
            b = perm[s : s + cfg.batch_size]
            xb = Xt[b]
            h, logits = model(xb)
            if log_train is not None:
                log_train(epoch, b, xb, h, logits)
            loss = loss_fn(logits, yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
    model.eval()
    return model


def predict(model, X, batch: int = 1024):
    import torch

    model.eval()
    out_h, out_p = [], []
    with torch.no_grad():
        for s in range(0, len(X), batch):
            h, logits = model(torch.from_numpy(np.ascontiguousarray(X[s : s + batch])))
            out_h.append(h.numpy())
            out_p.append(torch.softmax(logits, 1).numpy())
    return np.concatenate(out_h), np.concatenate(out_p)


def cv_probs(X, noisy, cfg: Config, *, cache: Path | None = None) -> tuple[np.ndarray, dict]:
    """Out-of-fold probabilities of the same MLP head (StratifiedKFold), cached in ``cache``."""
    from sklearn.model_selection import StratifiedKFold

    fp = hashlib.sha256(np.ascontiguousarray(noisy).tobytes() + np.ascontiguousarray(X[:, :8]).tobytes()).hexdigest()[:16]
    if cache is not None and cache.exists():
        z = np.load(cache)
        if str(z["fingerprint"]) == fp:
            return z["probs"], {"cached": True, "seconds": float(z["seconds"])}
    t0 = time.perf_counter()
    probs = np.zeros((len(noisy), len(LABELS)), np.float32)
    skf = StratifiedKFold(n_splits=cfg.cv_folds, shuffle=True, random_state=cfg.seed)
    for f, (tr, te) in enumerate(skf.split(X, noisy)):
        model = train_mlp(X[tr], noisy[tr], cfg, seed=cfg.seed * 1000 + 101 + f)
        probs[te] = predict(model, X[te])[1]
    secs = time.perf_counter() - t0
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, probs=probs, noisy=noisy, fingerprint=fp, seconds=secs)
        os.replace(tmp, cache)
    return probs, {"cached": False, "seconds": secs}


# -- scoring ------------------------------------------------------------------------------------


def _r(x, nd: int = 4):
    return None if x is None else round(float(x), nd)


def score_ranking(flipped, scores) -> dict | None:
    """AUROC, average precision and precision at k = #flipped of ``scores`` (higher = error)."""
    if scores is None:
        return None
    from sklearn.metrics import average_precision_score, roc_auc_score

    flipped = np.asarray(flipped, bool)
    s = np.asarray(scores, np.float64)
    if not np.isfinite(s).all():
        s = np.nan_to_num(s, nan=np.nanmin(s) if np.isfinite(s).any() else 0.0)
    k = int(flipped.sum())
    top = np.argsort(-s, kind="stable")[:k]
    return {
        "auroc": _r(roc_auc_score(flipped, s)),
        "ap": _r(average_precision_score(flipped, s)),
        "precision_at_k": _r(flipped[top].mean() if k else None),
    }


def score_flags(flipped, flags) -> dict | None:
    """Precision, recall, F1 of a boolean flag against the flipped mask."""
    if flags is None:
        return None
    flipped = np.asarray(flipped, bool)
    f = np.asarray(flags, bool)
    tp = int((f & flipped).sum())
    p = tp / f.sum() if f.sum() else 0.0
    r = tp / flipped.sum() if flipped.sum() else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": _r(p), "recall": _r(r), "f1": _r(f1), "n_flagged": int(f.sum())}


def _cleanlab(noisy, probs) -> tuple[np.ndarray, np.ndarray]:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    p = np.clip(np.asarray(probs, np.float64), 1e-12, None)
    p = p / p.sum(1, keepdims=True)
    return find_label_issues(noisy, p), 1.0 - get_label_quality_scores(noisy, p)


def aum_from_epoch_probs(epoch_probs: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """AUM on probabilities: mean over epochs of p(gold) - max_{k != gold} p(k)."""
    n = len(gold)
    gp = epoch_probs[:, np.arange(n), gold]
    other = epoch_probs.copy()
    other[:, np.arange(n), gold] = -np.inf
    return np.nanmean(gp - other.max(axis=2), axis=0)


def evaluate(arrays: dict, columns: dict | None = None) -> dict:
    """Every method side by side for one setting.

    ``columns`` overrides the run's own signal columns (e.g. the output of ``run_signals`` on
    :func:`split_arrays`); by default they come from ``arrays["df"]``. Missing ones score null.
    """
    flipped, noisy = arrays["flipped"], arrays["noisy_labels"]
    df = arrays.get("df")

    def col(name):
        if columns is not None and name in columns:
            return np.asarray(columns[name])
        if df is not None and name in df.columns:
            return df[name].to_numpy()
        return None

    aum = aum_from_epoch_probs(arrays["epoch_probs"], noisy)
    out = {
        "dep": score_ranking(flipped, col(DEP_COL)),
        "likely_mislabeled": score_flags(flipped, col(LM_COL)),
        "aum": {**score_ranking(flipped, -aum), "flag_aum_below_0": score_flags(flipped, aum < 0)},
        "aum_column": score_ranking(flipped, None if col(AUM_COL) is None else -col(AUM_COL).astype(np.float64)),
    }
    find, rank = _cleanlab(noisy, arrays["cv_probs"])
    out["cleanlab_cv_rank"] = score_ranking(flipped, rank)
    out["cleanlab_cv_find"] = score_flags(flipped, find)
    find, rank = _cleanlab(noisy, arrays["insample_probs"])
    out["cleanlab_insample_rank"] = score_ranking(flipped, rank)
    out["cleanlab_insample_find"] = score_flags(flipped, find)
    return out


def goals(methods: dict) -> dict:
    dep, base = methods.get("dep"), methods["cleanlab_cv_rank"]
    lm, fbase = methods.get("likely_mislabeled"), methods["cleanlab_cv_find"]
    g = {
        "dep_ap": {
            "target": f"dep.ap >= cleanlab_cv_rank.ap + {DEP_AP_MARGIN}",
            "dep_ap": None if dep is None else dep["ap"],
            "cleanlab_ap": base["ap"],
            "delta": None if dep is None else _r(dep["ap"] - base["ap"]),
            "pass": None if dep is None else bool(dep["ap"] >= base["ap"] + DEP_AP_MARGIN),
        },
        "likely_mislabeled_f1": {
            "target": "likely_mislabeled.f1 >= cleanlab_cv_find.f1",
            "likely_mislabeled_f1": None if lm is None else lm["f1"],
            "cleanlab_f1": fbase["f1"],
            "delta": None if lm is None else _r(lm["f1"] - fbase["f1"]),
            "pass": None if lm is None else bool(lm["f1"] >= fbase["f1"]),
        },
    }
    return g


# -- one setting ------------------------------------------------------------------------------


def _frame(texts, labels_idx, movies):
    import pandas as pd

    return pd.DataFrame({
        "id": np.arange(len(texts)), "text": texts,
        "label": np.asarray(LABELS, dtype=object)[labels_idx], "movie_name": movies,
    })


def _dq_run(kind: str, rate: float, data: dict, noisy: np.ndarray, cfg: Config, root: Path, verbose: bool):
    """Train on the noisy labels, logging through dq as a user would; returns results + timings."""
    import torch

    import dataquality as dq

    run_name = f"{kind}-{int(round(rate * 100))}-{cfg.embs}"
    t0 = time.perf_counter()
    dq.init("text_classification", project_name=PROJECT, run_name=run_name, root=root, overwrite=True)
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(_frame(data["text_train"], noisy, data["movie_train"]), split="training", meta=["movie_name"])
    dq.log_dataset(_frame(data["text_ho"], data["y_ho"], data["movie_ho"]), split="validation", meta=["movie_name"])
    ids_train = torch.arange(len(noisy))
    X_ho = torch.from_numpy(np.ascontiguousarray(data["X_ho"]))
    ids_ho = torch.arange(len(X_ho))
    val_acc = []

    def log_train(epoch, b, xb, h, logits):
        dq.log_model_outputs(ids=ids_train[b], embs=xb if cfg.embs == "input" else h, logits=logits)

    def on_epoch_end(epoch, model):
        model.eval()
        dq.set_split("validation")
        correct = 0
        with torch.no_grad():
            for s in range(0, len(X_ho), 512):
                h, logits = model(X_ho[s : s + 512])
                dq.log_model_outputs(ids=ids_ho[s : s + 512], embs=X_ho[s : s + 512] if cfg.embs == "input" else h,
                                     logits=logits)
                correct += int((logits.argmax(1).numpy() == data["y_ho"][s : s + 512]).sum())
        val_acc.append(round(correct / len(X_ho), 4))
        if verbose:
            print(f"  epoch {epoch}: validation accuracy {val_acc[-1]:.3f}", file=sys.stderr)
        if epoch + 1 < cfg.epochs:
            dq.set_epoch(epoch + 1)
            dq.set_split("training")
        model.train()

    dq.set_epoch(0)
    dq.set_split("training")
    train_mlp(data["X_train"], noisy, cfg, seed=cfg.seed, log_train=log_train, on_epoch_end=on_epoch_end)
    t_train = time.perf_counter() - t0
    t1 = time.perf_counter()
    dq.finish(verbose=False)
    t_finish = time.perf_counter() - t1

    df = dq.metrics.get_dataframe(PROJECT, run_name, "training", include_probs=True, root=root)
    df = df.set_index("id").loc[np.arange(len(noisy))].reset_index()
    insample = np.stack(df.pop("prob").to_numpy()).astype(np.float32)
    emb = dq.metrics.get_embeddings(PROJECT, run_name, "training", root=root)
    emb = emb.set_index("id").loc[np.arange(len(noisy))]
    embeddings = np.stack(emb["emb"].to_numpy()).astype(np.float32)
    dyn = dq.metrics.get_dynamics(PROJECT, run_name, "training", root=root)
    epochs = sorted(dyn["epoch"].unique().tolist())
    ep_probs = np.full((len(epochs), len(noisy), len(LABELS)), np.nan, np.float32)
    for e_i, e in enumerate(epochs):
        d = dyn[dyn["epoch"] == e]
        ep_probs[e_i, d["id"].to_numpy()] = np.stack(d["prob"].to_numpy())
    val_df = dq.metrics.get_dataframe(PROJECT, run_name, "validation", root=root)
    return {
        "df": df, "insample_probs": insample, "embeddings": embeddings, "epoch_probs": ep_probs,
        "epochs": epochs, "validation_accuracy_per_epoch": val_acc,
        "validation_columns": list(val_df.columns), "run_name": run_name,
        "timings": {"train_and_log_s": round(t_train, 2), "finish_s": round(t_finish, 2)},
    }


def _save_arrays(path: Path, a: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / "arrays.tmp.npz", **{k: a[k] for k in _ARRAY_KEYS})
    os.replace(path / "arrays.tmp.npz", path / "arrays.npz")
    a["df"].to_parquet(path / "training.parquet")
    (path / "meta.json").write_text(json.dumps(a["meta"], indent=2, default=str))


_ARRAY_KEYS = ("flipped", "noisy_labels", "clean_labels", "cv_probs", "insample_probs", "epoch_probs",
               "embeddings", "epochs")


def run_setting(kind: str, rate: float, *, n: int | None = None, epochs: int = 8, embs: str = "input",
                seed: int = 0, root: str | os.PathLike | None = None, verbose: bool = False,
                return_arrays: bool = False, **config) -> dict:
    """Inject noise, train and log through dq, finish, score every method; returns a JSON-able dict.

    ``root`` is the dq store root (default: a temporary folder deleted afterwards). Extra keyword
    arguments set other :class:`Config` fields (``cv_folds``, ``confusion_mode``, ``lr`` ...).
    The per-sample arrays are saved for :func:`load_arrays`; with ``return_arrays=True`` they are
    also returned under the key ``"arrays"`` (not JSON-able).
    """
    import torch

    if embs not in ("input", "hidden"):
        raise ValueError(f"embs must be 'input' or 'hidden'; got {embs!r}")
    cfg = Config(n=n, epochs=epochs, embs=embs, seed=seed, **config)
    torch.set_num_threads(cfg.threads)
    t_all = time.perf_counter()
    data = load_data(cfg.n, cfg.seed, cfg.heldout_frac, verbose)
    t0 = time.perf_counter()
    noisy, flipped, noise = inject_noise(kind, rate, data, seed=cfg.seed, mode=cfg.confusion_mode)
    t_noise = time.perf_counter() - t0
    key = setting_key(kind, rate, cfg)
    out_dir = bench_cache_dir() / key
    if verbose:
        print(f"label_noise: {key}: {noise['n_flipped']} of {len(noisy)} training labels flipped", file=sys.stderr)

    tmp = None
    if root is None:
        tmp = tempfile.mkdtemp(prefix="dq-bench-label-noise-")
        root = tmp
    try:
        res = _dq_run(kind, rate, data, noisy, cfg, Path(root), verbose)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    cv_cache = bench_cache_dir() / f"cv-{kind}-{rate:g}-n{'all' if cfg.n is None else cfg.n}-e{cfg.epochs}-s{cfg.seed}-{cfg.model_key()}.npz"
    probs, cv_info = cv_probs(data["X_train"], noisy, cfg, cache=cv_cache)

    arrays = {
        "flipped": flipped, "noisy_labels": noisy, "clean_labels": data["y_train"], "cv_probs": probs,
        "insample_probs": res["insample_probs"], "epoch_probs": res["epoch_probs"],
        "embeddings": res["embeddings"], "epochs": np.asarray(res["epochs"]), "df": res["df"],
        "labels": LABELS,
        "meta": {"kind": kind, "rate": rate, "config": asdict(cfg), "noise": noise, "key": key},
    }
    t0 = time.perf_counter()
    methods = evaluate(arrays)
    t_score = time.perf_counter() - t0
    _save_arrays(out_dir, arrays)

    cols = list(res["df"].columns)
    result = {
        "kind": kind,
        "rate": rate,
        "key": key,
        "noise": noise,
        "model": {
            "validation_accuracy_per_epoch": res["validation_accuracy_per_epoch"],
            "final_insample_accuracy_vs_noisy": _r((res["insample_probs"].argmax(1) == noisy).mean()),
            "final_insample_accuracy_vs_clean": _r((res["insample_probs"].argmax(1) == data["y_train"]).mean()),
            "cv_accuracy_vs_noisy": _r((probs.argmax(1) == noisy).mean()),
            "cv_accuracy_vs_clean": _r((probs.argmax(1) == data["y_train"]).mean()),
        },
        "columns_present": {c: c in cols for c in (DEP_COL, LM_COL, AUM_COL)},
        "training_columns": cols,
        "methods": methods,
        "goals": goals(methods),
        "timings": {
            "noise_s": round(t_noise, 2), **res["timings"],
            "cv_s": round(cv_info["seconds"], 2), "cv_cached": cv_info["cached"],
            "scoring_s": round(t_score, 2), "total_s": round(time.perf_counter() - t_all, 2),
        },
        "arrays_dir": str(out_dir),
    }
    if return_arrays:
        result["arrays"] = arrays
    return result


def load_arrays(kind: str, rate: float, *, n: int | None = None, epochs: int = 8, embs: str = "input",
                seed: int = 0, train_if_missing: bool = True, verbose: bool = False, **config) -> dict:
    """The per-sample arrays of one setting, from the cache (trained first if missing).

    All arrays are row-aligned with the training samples (id ``i`` = row ``i``):

    - ``flipped`` (bool, n): ground truth, the label was flipped;
    - ``noisy_labels`` / ``clean_labels`` (int, n): label index (``labels[k]``) logged / original;
    - ``cv_probs`` (n, 2): out-of-fold probabilities of the MLP head (cleanlab's input);
    - ``insample_probs`` (n, 2): final-epoch probabilities the dq run logged;
    - ``epoch_probs`` (E, n, 2): per-epoch probabilities the dq run logged (training dynamics);
    - ``embeddings`` (n, d): final-epoch embeddings the dq run logged;
    - ``df``: ``dq.metrics.get_dataframe(..., "training")`` of the run (every signal column);
    - ``labels``, ``epochs``, ``meta`` (noise info and config).
    """
    import pandas as pd

    cfg = Config(n=n, epochs=epochs, embs=embs, seed=seed, **config)
    path = bench_cache_dir() / setting_key(kind, rate, cfg)
    if not (path / "arrays.npz").exists():
        if not train_if_missing:
            raise FileNotFoundError(f"no cached arrays at {path}; run run_setting({kind!r}, {rate}, ...) first")
        return run_setting(kind, rate, n=n, epochs=epochs, embs=embs, seed=seed, verbose=verbose,
                           return_arrays=True, **config)["arrays"]
    z = np.load(path / "arrays.npz")
    a = {k: z[k] for k in _ARRAY_KEYS}
    a["df"] = pd.read_parquet(path / "training.parquet")
    a["labels"] = LABELS
    a["meta"] = json.loads((path / "meta.json").read_text())
    return a


def split_arrays(arrays: dict):
    """A :class:`dataquality.signals.SplitArrays` of the training split, to run signals offline::

        cols, summary = dataquality.signals.run_signals(split_arrays(a))
    """
    import pyarrow as pa

    from dataquality.signals import SplitArrays, TrainingReference

    data = SplitArrays(
        split="training", inference_name=None, labels=list(arrays["labels"]),
        ids=np.arange(len(arrays["noisy_labels"])), gold=np.asarray(arrays["noisy_labels"], np.int64),
        probs=np.asarray(arrays["insample_probs"], np.float32), embeddings=np.asarray(arrays["embeddings"]),
        epoch_probs=np.asarray(arrays["epoch_probs"], np.float32), epochs=[int(e) for e in arrays["epochs"]],
        texts=pa.chunked_array([pa.array(arrays["df"]["text"].tolist(), pa.string())]),
        settings={},
        reference=TrainingReference(labels=list(arrays["labels"])),
    )
    data.reference.adopt_training(data)  # the training split is its own reference, as in finish()
    return data


# -- CLI ------------------------------------------------------------------------------------------


def _machine() -> dict:
    try:
        from _common import machine_info

        return machine_info()
    except Exception:  # noqa: BLE001 - informational only
        import platform

        return {"python": platform.python_version(), "cpu_count": os.cpu_count()}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    p.add_argument("--n", type=int, default=None, help="subsample this many reviews before the split")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--embs", choices=("input", "hidden"), default="input",
                   help="log as embs the MiniLM input (384-d, default) or the MLP hidden layer (128-d)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cv-folds", type=int, default=5)
    p.add_argument("--confusion-mode", choices=("proportional", "top"), default="proportional")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest for this tiny MLP)")
    p.add_argument("--root", default=None, help="dq store root for the runs (default: a temp dir, deleted)")
    p.add_argument("--quick", action="store_true", help="smoke run: --n 1500 --epochs 2")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    a = p.parse_args(argv)
    if a.quick:
        a.n = a.n or 1500
        a.epochs = 2
    return a


def main(argv=None) -> dict:
    a = parse_args(argv)
    t0 = time.perf_counter()
    data = load_data(a.n, a.seed, 0.2, a.verbose)
    settings = []
    for kind in a.kinds:
        for rate in a.rates:
            settings.append(run_setting(kind, rate, n=a.n, epochs=a.epochs, embs=a.embs, seed=a.seed, root=a.root,
                                        verbose=a.verbose, cv_folds=a.cv_folds, confusion_mode=a.confusion_mode,
                                        batch_size=a.batch_size, threads=a.threads))
            if a.verbose:
                g = settings[-1]["goals"]
                print(f"label_noise: {kind} {rate}: dep_ap {g['dep_ap']}  lm_f1 {g['likely_mislabeled_f1']}", file=sys.stderr)

    def overall(name):
        ps = [s["goals"][name]["pass"] for s in settings]
        return {
            "pass": None if any(p is None for p in ps) else all(ps),
            "per_setting": {f"{s['kind']}@{s['rate']:g}": s["goals"][name]["delta"] for s in settings},
        }

    result = {
        "benchmark": "label_noise",
        "data": {"corpus": "rotten_tomatoes (fresh/rotten)", "embeddings": "MiniLM all-MiniLM-L6-v2, 384-d",
                 "n_train": len(data["y_train"]), "n_heldout": len(data["y_ho"]),
                 "encode_s": round(data["encode_s"], 2)},
        "config": {**asdict(Config(n=a.n, epochs=a.epochs, embs=a.embs, seed=a.seed, cv_folds=a.cv_folds,
                                   confusion_mode=a.confusion_mode, batch_size=a.batch_size,
                                   threads=a.threads)),
                   "kinds": a.kinds, "rates": a.rates},
        "goals": {"dep_ap_margin_over_cleanlab": overall("dep_ap"),
                  "likely_mislabeled_f1_at_least_cleanlab": overall("likely_mislabeled_f1")},
        "summary": {
            f"{s['kind']}@{s['rate']:g}": {m: (v.get("ap") if v and "ap" in v else (v or {}).get("f1"))
                                          for m, v in s["methods"].items()}
            for s in settings
        },
        "settings": settings,
        "timings": {"total_s": round(time.perf_counter() - t0, 2),
                    "per_setting_s": {f"{s['kind']}@{s['rate']:g}": s["timings"]["total_s"] for s in settings}},
        "machine": _machine(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
