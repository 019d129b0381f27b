"""The NER task: tagged tokens, scored per span (BIO / BILOU / BIOES)."""

from __future__ import annotations

from typing import ClassVar

from ...core import layout as S
from ..base import Task
from .compute import NerCompute
from .read import NerRead
from .write import NerWrite


class TextNer(NerWrite, NerCompute, NerRead, Task):
    """``text_ner`` (alias ``ner``): inputs ``id, text, text_token_indices, gold_spans``,
    outputs per sample ``embs (tokens, d)`` and ``logits (tokens, k)``."""

    name: ClassVar[str] = "text_ner"
    aliases: ClassVar[tuple[str, ...]] = ("ner",)
    unit: ClassVar[str] = "span"
    model_outputs: ClassVar[str] = "token"
    input_columns: ClassVar[tuple[str, ...]] = (S.ID, S.TEXT, "text_token_indices", "gold_spans")
    options: ClassVar[tuple[str, ...]] = ("tagging_schema",)

    def example(self):
        from .example import example

        return example()
