"""Multi-label text classification: several tasks per sample, each with its own labels (binary
runs: each task is ``NOT_x`` / ``x``)."""
