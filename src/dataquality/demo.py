"""The demo: a small real training run on Rotten Tomatoes reviews, logged through ``dq``.

Frozen MiniLM sentence embeddings (384-d, the encoder output, logged as ``embs``) feed a small
PyTorch MLP head that learns fresh vs rotten for a few epochs on CPU. Every forward pass is logged the way a user's loop would log it
(``dq.log_model_outputs(ids=..., embs=..., logits=...)`` on train, validation and test), then the
trained model runs over two unlabeled inference sets: held-out plot descriptions (a near domain
shift) and Guardian financial headlines (a far one). ``dq.finish()`` writes the results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import dataquality as dq

from .corpora import load_guardian_headlines, load_rotten_tomatoes
from .encode import encode


@dataclass(frozen=True)
class DemoConfig:
    n_train: int = 2000
    n_validation: int = 500
    n_test: int = 500
    n_inference: int = 300
    epochs: int = 5
    batch_size: int = 32
    hidden: int = 128
    lr: float = 3e-3
    seed: int = 0
    project_name: str = "demo"
    run_name: str = "rotten-tomatoes-minilm"


def _frames(cfg: DemoConfig):
    reviews, plots = load_rotten_tomatoes()
    headlines = load_guardian_headlines()
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(reviews))
    cuts = np.cumsum([cfg.n_train, cfg.n_validation, cfg.n_test])
    parts = np.split(order[: cuts[-1]], cuts[:-1])
    frames = {}
    for split, idx in zip(("training", "validation", "test"), parts):
        df = reviews.iloc[idx].reset_index(drop=True)
        frames[split] = df.assign(id=np.arange(len(df)))[["id", "text", "label", "movie_name"]]
    for name, src in (("plots", plots), ("headlines", headlines)):
        idx = rng.permutation(len(src))[: cfg.n_inference]
        df = src.iloc[idx].reset_index(drop=True)
        frames[name] = df.assign(id=np.arange(len(df)))[["id", "text"]]
    return frames


def run_demo(cfg: DemoConfig = DemoConfig(), *, root=None, verbose: bool = True) -> dq.Run:
    """Train and log the demo run; returns the finished :class:`~dataquality.Run`."""
    import torch
    from torch import nn

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    frames = _frames(cfg)
    if verbose:
        print(f"dq demo: encoding {sum(len(f) for f in frames.values()):,} texts with MiniLM (cached after the first run)")
    all_embs = encode([t for df in frames.values() for t in df["text"].tolist()], show_progress=verbose)
    bounds = np.cumsum([0] + [len(df) for df in frames.values()])
    embs = {k: all_embs[a:b] for k, a, b in zip(frames, bounds[:-1], bounds[1:])}

    labels = ["rotten", "fresh"]
    run = dq.init("text_classification", project_name=cfg.project_name, run_name=cfg.run_name,
                  root=root, overwrite=True)
    dq.set_labels_for_run(labels)
    for split in ("training", "validation", "test"):
        dq.log_dataset(frames[split], split=split, meta=["movie_name"])
    for name in ("plots", "headlines"):
        dq.log_dataset(frames[name], split="inference", inference_name=name)

    class Head(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.hidden = nn.Sequential(nn.Dropout(0.1), nn.Linear(d, cfg.hidden), nn.ReLU())
            self.out = nn.Linear(cfg.hidden, len(labels))

        def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
            h = self.hidden(x)
            logits = self.out(h)
            dq.log_model_outputs(ids=ids, embs=x, logits=logits)  # the line a user adds
            return logits

    model = Head(embs["training"].shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    tensors = {}
    for k, df in frames.items():
        y = df["label"].map({l: i for i, l in enumerate(labels)}).to_numpy() if "label" in df else None
        tensors[k] = (torch.from_numpy(np.array(embs[k])), torch.as_tensor(np.array(df["id"])),
                      None if y is None else torch.as_tensor(np.array(y)))
    for epoch in range(cfg.epochs):
        dq.set_epoch(epoch)
        dq.set_split("training")
        model.train()
        x, ids, y = tensors["training"]
        perm = torch.randperm(len(ids))
        for s in range(0, len(ids), cfg.batch_size):
            b = perm[s : s + cfg.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x[b], ids[b]), y[b])
            loss.backward()
            opt.step()
        model.eval()
        accs = {}
        with torch.no_grad():
            for split in ("validation", "test"):
                dq.set_split(split)
                x, ids, y = tensors[split]
                accs[split] = float((model(x, ids).argmax(1) == y).float().mean())
        if verbose:
            print(f"dq demo: epoch {epoch}  validation accuracy {accs['validation']:.3f}")
    with torch.no_grad():
        for name in ("plots", "headlines"):
            dq.set_split("inference", inference_name=name)
            x, ids, _ = tensors[name]
            for s in range(0, len(ids), 256):
                model(x[s : s + 256], ids[s : s + 256])
    run.finish(verbose=verbose)
    if verbose:
        P, R = cfg.project_name, cfg.run_name
        df = dq.metrics.get_dataframe(P, R, "training", filter={"likely_mislabeled": True}, root=root)
        top = df.sort_values("data_error_potential", ascending=False).head(5)
        print(f"dq demo: {len(df)} training samples are likely mislabeled; the highest Data Error Potential:")
        for r in top.itertuples():
            print(f"  [DEP {r.data_error_potential:.2f}, labeled {r.gold}, model says {r.pred}] {r.text[:90]}")
        for name in ("plots", "headlines"):
            inf = dq.metrics.get_dataframe(P, R, "inference", name, root=root)
            alerts = dq.metrics.get_alerts(P, R, "inference", name, root=root)
            print(f"dq demo: inference {name!r}: {inf['is_drifted'].mean():.0%} drifted from training; "
                  f"alerts: {', '.join(a['kind'] for a in alerts) or 'none'}")
        print(f"dq demo: done in {time.perf_counter() - t0:.0f} s. Browse the results with `dq serve` "
              "(API docs at http://127.0.0.1:8765/api/docs) or dq.metrics in Python.")
    return run
