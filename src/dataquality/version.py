"""The package version (one place: ``dataquality.__version__`` and every ``run.json``)."""

__version__ = "0.1.0"
