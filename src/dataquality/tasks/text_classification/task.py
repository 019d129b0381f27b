"""The text-classification task (NLI included): one label per sample, softmax over the logits."""

from __future__ import annotations

from typing import ClassVar

from ...core import layout as S
from ..base import Task
from .compute import ClassificationCompute
from .read import ClassificationRead
from .write import ClassificationWrite


class TextClassification(ClassificationWrite, ClassificationCompute, ClassificationRead, Task):
    """``text_classification`` (alias ``nli``): inputs ``id, text, label`` (+ ``text_pair``),
    outputs ``embs (n, d)`` and ``logits (n, k)`` (``(n,)``/``(n, 1)``: binary sigmoid)."""

    name: ClassVar[str] = "text_classification"
    aliases: ClassVar[tuple[str, ...]] = ("nli",)
    unit: ClassVar[str] = "sample"
    input_columns: ClassVar[tuple[str, ...]] = (S.ID, S.TEXT)
    optional_columns: ClassVar[tuple[str, ...]] = (S.TEXT_PAIR,)

    def example(self):
        from .example import example

        return example()
