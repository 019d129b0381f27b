"""Values exchanged between the package and a task (see :mod:`dataquality.tasks.base`): an
output batch, input column names, filter fields, edit actions and requests, console
capabilities and the pipeline's split context."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np

    from ..core.store import RunPaths
    from ..signals.reference import TrainingReference


@dataclass(frozen=True)
class OutputBatch:
    """One batch of model outputs as the rows of an output part.

    Attributes
    ----------
    row_ids : numpy.ndarray, shape (rows,)
        The sample id of each row (classification: one row per sample; NER: one per token).
    embs : numpy.ndarray of float, shape (rows, d), or None
        Checked for shape, not yet copied nor checked for finiteness: the caller copies it into
        the writer's buffer with ``core.convert.copy_finite``. None with ``exclude_embs``.
    logits : numpy.ndarray of float, shape (rows, width)
        As ``embs``; ``width`` is :meth:`Task.logits_width` of the run.
    """

    row_ids: "np.ndarray"
    embs: "np.ndarray | None"
    logits: "np.ndarray"


@dataclass(frozen=True)
class Columns:
    """Which columns of a logged dataset hold what, as ``dq.log_dataset`` was told.

    Attributes
    ----------
    id, text, label, text_pair : str
        Column names (``label`` and ``text_pair`` are looked for even when not passed).
    meta : tuple of str
        Extra columns to keep.
    label_explicit, text_pair_explicit : bool
        Whether the caller passed ``label=`` / ``text_pair=`` (a missing column is then an error).
    """

    id: str = "id"
    text: str = "text"
    label: str = "label"
    text_pair: str = "text_pair"
    meta: tuple[str, ...] = ()
    label_explicit: bool = False
    text_pair_explicit: bool = False


@dataclass(frozen=True)
class FilterField:
    """A filter field a task adds to the core ones (see ``dataquality.read.filters``).

    Attributes
    ----------
    name : str
        The key in a filter dict (``{"span_text": "paris"}``).
    kind : str
        What the value is: ``"text"``, ``"regex"`` (a regular expression, RE2 syntax),
        ``"labels"`` (a list of label names), ``"bool"``, ``"range"`` (``[low, high]``) or
        ``"choice"`` (one value among ``choices``, or a list of them).
    doc : str
        One line for the API docs and the console's tooltip.
    choices : tuple of str
        For ``"choice"`` fields, the values allowed (empty: not checked, e.g. when they depend on
        a run and none is at hand).
    """

    name: str
    kind: str
    doc: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EditAction:
    """An edit action a task offers (relabel, delete, shift span, ...).

    Attributes
    ----------
    name : str
        The action's name in ``dq.metrics.create_edit(action=...)`` and the console.
    needs : str or None
        What the action needs besides the filter: ``"label"`` (``new_label``), ``"text"``
        (``search_string`` / ``text_replacement``), ``"shift"`` or None.
    doc : str
    """

    name: str
    needs: str | None = None
    doc: str = ""


# Edit actions on whole samples that ``dataquality.read.edits`` applies itself for any task whose
# ``edit_actions`` list them (they touch only ``id`` and ``text``).
SAMPLE_EDIT_ACTIONS = (
    EditAction("delete", None, "Remove the samples."),
    EditAction("update_text", "text", "Replace search_string by text_replacement in the text."),
    EditAction("select_for_label", None, "Mark the samples for (re)labelling."),
)


@dataclass(frozen=True)
class EditRequest:
    """The arguments of one edit, as ``dq.metrics.create_edit`` and the console take them.

    Attributes
    ----------
    action : str
        An :class:`EditAction` name.
    new_label, search_string, text_replacement, use_regex, shift_start, shift_end
        As in ``dq.metrics.create_edit``; which apply depends on the action's ``needs``.
    """

    action: Any
    new_label: Any = None
    search_string: Any = None
    text_replacement: Any = None
    use_regex: bool = False
    shift_start: Any = 0
    shift_end: Any = 0


@dataclass
class Capabilities:
    """What the console may show and offer for a run; served by the API as JSON.

    Attributes
    ----------
    views : list of str
        Tabs, in order, among ``"table"``, ``"map"``, ``"summary"``, ``"inference"``, ``"spans"``,
        ``"edits"``.
    filter_fields : list of FilterField
        The task's fields beside the core ones (ids, text, DEP range, meta, lasso, similar-to).
    label_filters : list of str
        Core label fields the task's rows carry (``"gold"``, ``"pred"``; none for NER, whose
        labels are on spans).
    edit_actions : list of EditAction
    color_by : list of str
        Map colourings, among ``"gold"``, ``"pred"``, ``"dep"``, ``"cluster"``.
    label_choices : list of str
        The names a user picks from when filtering or relabelling (classes, entity types).
    sample_view : str
        How the console draws one sample: ``"text"`` or ``"spans"`` (text with gold and
        predicted spans).
    summary_sections : list of str
        Among ``"per_class"``, ``"confusion"``, ``"entity_metrics"``, ``"error_counts"``,
        ``"per_task"``.
    subtasks : list of str
        Multi-label: the run's tasks, for the console's task selector; empty otherwise.
    """

    views: list[str]
    filter_fields: list[FilterField] = field(default_factory=list)
    label_filters: list[str] = field(default_factory=list)
    edit_actions: list[EditAction] = field(default_factory=list)
    color_by: list[str] = field(default_factory=list)
    label_choices: list[str] = field(default_factory=list)
    sample_view: str = "text"
    summary_sections: list[str] = field(default_factory=list)
    subtasks: list[str] = field(default_factory=list)

    @classmethod
    def of_labelled_samples(cls, *, filter_fields: list, edit_actions: list, label_choices: list,
                            summary_sections: list[str], subtasks: list[str] | None = None) -> "Capabilities":
        """What a task whose samples carry ``gold`` / ``pred`` labels shows (classification,
        multi-label): table, map, summary, inference comparison and edits, the sample as text,
        the map coloured by gold, pred, DEP or cluster."""
        return cls(views=["table", "map", "summary", "inference", "edits"], filter_fields=filter_fields,
                   label_filters=["gold", "pred"], edit_actions=edit_actions,
                   color_by=["gold", "pred", "dep", "cluster"], label_choices=label_choices, sample_view="text",
                   summary_sections=summary_sections, subtasks=list(subtasks or []))

    def to_json(self) -> dict:
        """The capabilities as plain JSON values (lists, dicts, strings)."""
        import json
        from dataclasses import asdict

        return json.loads(json.dumps(asdict(self)))


@dataclass
class SplitContext:
    """What the pipeline hands :meth:`Task.compute_split` for one split.

    Attributes
    ----------
    paths : dataquality.core.store.RunPaths
        The run's folders (inputs and outputs are read from there).
    key : str
        The split key: ``"training"``, ``"validation"``, ``"test"`` or ``"inference/<name>"``.
    split : str
        ``key`` without the inference name.
    inference_name : str or None
    manifest : dict
        The run's manifest (``labels``, task options such as ``tagging_schema``).
    labels : list
        The run's labels.
    settings : dict
        The run's signal settings (see :mod:`dataquality.signals.settings`).
    signals : bool
        Whether to run the signals (``finish(signals=False)`` skips them).
    fn : str
        The public function to name in errors (``"dq.finish"``).
    tmp : pathlib.Path
        The staging folder to write the split's results into; the pipeline moves it to
        ``results/<key>`` once every split succeeded, and removes it on failure.
    reference : dataquality.signals.reference.TrainingReference
        The run's one training reference: the training split's compute fills it (and each
        labeled split records its outputs in it); every later split reads it.
    """

    paths: "RunPaths"
    key: str
    split: str
    inference_name: str | None
    manifest: dict
    labels: list
    settings: dict
    signals: bool
    fn: str
    tmp: Path
    reference: "TrainingReference"
