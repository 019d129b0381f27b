"""The multi-label text-classification task: several tasks per sample, each its own classification."""

from __future__ import annotations

from typing import ClassVar

from ...core import layout as S
from ..base import Task
from .compute import MultiLabelCompute
from .read import MultiLabelRead
from .write import MultiLabelWrite


class TextMultiLabel(MultiLabelWrite, MultiLabelCompute, MultiLabelRead, Task):
    """``text_multi_label``: inputs ``id, text, task_labels`` (one label per
    task; binary runs may give the active tasks), outputs ``embs (n, d)`` and ``logits``: one
    ``(n, k_t)`` array per task, or ``(n, n_tasks)`` sigmoid logits for binary runs."""

    name: ClassVar[str] = "text_multi_label"
    aliases: ClassVar[tuple[str, ...]] = ()
    unit: ClassVar[str] = "sample"
    labels_are_lists: ClassVar[bool] = True
    input_columns: ClassVar[tuple[str, ...]] = (S.ID, S.TEXT)

    def example(self):
        from .example import example

        return example()
