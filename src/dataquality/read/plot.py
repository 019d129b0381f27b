"""``dq.metrics.display_distribution``: a column's distribution over a split, drawn with matplotlib."""

from __future__ import annotations

from ..exceptions import ConfigurationError
from .summary import split_summary
from .views import SplitRef, schema_of, select


def distribution(sp: SplitRef, column: str, filt, bins: int, ax, *, title: str, fn: str):
    """Histogram (numbers) or bar chart (categories) of ``column`` over the samples ``filt``
    selects; DEP plots carry the split's easy/hard thresholds. Returns the matplotlib ``Axes``."""
    cols = schema_of(sp).names
    if column not in cols:
        raise ConfigurationError(f"{fn}: `column` must be one of {cols}; got {column!r}.")
    df = select(sp, filt, fn=fn, columns=[column])
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"{fn} draws with matplotlib: pip install 'dataquality[plot]'.") from None

    if ax is None:
        import matplotlib.pyplot as plt

        if matplotlib.get_backend().lower() not in ("agg",) and not _interactive():
            plt.switch_backend("Agg")
        _, ax = plt.subplots(figsize=(7, 4))
    values = df[column]
    if values.dtype.kind in "fiu" and values.nunique() > 12:
        ax.hist(values.dropna().to_numpy(), bins=bins, color="#4c72b0", alpha=0.85)
        if column == "data_error_potential":
            dep = split_summary(sp, fn=fn).get("signals", {}).get("data_error_potential", {})
            for name, colour in (("easy_threshold", "#55a868"), ("hard_threshold", "#c44e52")):
                if name in dep:
                    ax.axvline(dep[name], color=colour, linestyle="--", label=f"{name.split('_')[0]} {dep[name]:.2f}")
            ax.legend()
        ax.set_ylabel("samples")
    else:
        counts = values.astype(str).value_counts().sort_index()
        ax.bar(counts.index.tolist(), counts.to_numpy(), color="#4c72b0")
        ax.set_ylabel("samples")
        ax.tick_params(axis="x", rotation=45)
    ax.set_xlabel(column)
    ax.set_title(title + (f" (filtered: {len(df):,})" if filt else f" ({len(df):,})"))
    ax.figure.tight_layout()
    return ax


def _interactive() -> bool:
    try:
        from IPython import get_ipython  # type: ignore

        return get_ipython() is not None
    except ImportError:
        return False
