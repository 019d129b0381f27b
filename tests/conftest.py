"""Shared fixtures: every test gets its own store ($DQ_HOME) and no current run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dataquality as dq
import dataquality.logging.run as dq_run


def _close_current() -> None:
    """Stop the writer thread of a run a test left open, so threads do not pile up."""
    for r in {dq_run._current.get(), dq_run._last_run}:
        writers = getattr(r, "writers", None)  # not on the inert run of DQ_DISABLED
        if writers is not None:
            writers.forget_exit()
            writers.close(quiet=True)  # a test may have broken the writer on purpose


@pytest.fixture(autouse=True)
def dq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the store at a fresh folder and start every test with no current run."""
    home = tmp_path / "dqhome"
    monkeypatch.setenv("DQ_HOME", str(home))
    monkeypatch.delenv("DQ_DISABLED", raising=False)
    token = dq_run._current.set(None)
    monkeypatch.setattr(dq_run, "_last_run", None)
    yield home
    _close_current()
    dq_run._current.reset(token)


LABELS = ["negative", "neutral", "positive"]


def make_df(n: int = 8, *, start: int = 0, labels=LABELS, seed: int = 0, meta: bool = False) -> pd.DataFrame:
    """A small labeled dataset with integer ids ``start .. start+n-1``."""
    rng = np.random.default_rng(seed)
    ids = np.arange(start, start + n)
    df = pd.DataFrame(
        {
            "id": ids,
            "text": [f"sample text number {i}" for i in ids],
            "label": [labels[i % len(labels)] for i in range(n)],
        }
    )
    if meta:
        df["length"] = rng.integers(1, 100, n)
        df["source"] = [["web", "app"][i % 2] for i in range(n)]
        df["score"] = rng.random(n)
        df["flagged"] = [bool(i % 3 == 0) for i in range(n)]
    return df


def outputs(n: int, *, k: int = 3, d: int = 16, seed: int = 0):
    """Random embeddings (n, d) and logits (n, k)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, k)).astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def run_dir(home: Path, project: str = "proj", run: str = "run") -> Path:
    return home / project / run


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (path -> bytes), to show a call wrote nothing."""
    out = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "run.json":
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


@pytest.fixture
def started(dq_home: Path):
    """A run with three labels and 8 training samples (ids 0..7) logged, split train, epoch 0."""
    r = dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(make_df(8), split="train")
    dq.set_epoch(0)
    dq.set_split("train")
    return r
