"""The task protocol: what every task type answers for the rest of the package.

A task type (text classification, NER, multi-label, ...) lives in its own folder under
``dataquality/tasks/`` and provides one :class:`Task` subclass, registered in
:mod:`dataquality.tasks.registry`. The write side (``Run``), the compute side (``finish()``'s
pipeline), the read side (``dq.metrics``, filters, edits, export) and the console never ask which
task a run is: they ask the run's task.

The protocol has three parts, one per side of the package. Each has a default where one makes
sense for every task; a task overrides what differs.

- **Logging** (called by ``dataquality.logging``): label lists and task options, normalising a
  chunk of inputs into the stored input table, checking and converting one batch of model outputs
  into the rows of an output part.
- **Compute** (called by ``dataquality.pipeline``): whether the run is ready to finish, and a
  split's results (tables, arrays and summary) written into a staging folder; the signals the
  task runs come from :mod:`dataquality.signals`' registry.
- **Read** (called by ``dataquality.read``, ``dq.metrics`` and the console API): the result
  tables besides ``samples.parquet`` (NER's spans), the filter fields the task adds to the core
  ones and their SQL, its edit actions (checked, recorded and applied), the confusion matrix,
  the summary under a filter, the schema an export writes, and the capabilities it declares to
  the console (views, filter fields, edit actions, colour-by options, label choices).

Imports flow one way: a task may import ``core``, ``signals`` and ``exceptions``; never
``logging``, ``pipeline``, ``read``, ``metrics`` or ``server`` (they import tasks).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..exceptions import ConfigurationError, LabelError
from .values import (  # noqa: F401 - the protocol's values, importable from here too
    Capabilities,
    Columns,
    EditAction,
    EditRequest,
    FilterField,
    OutputBatch,
    SAMPLE_EDIT_ACTIONS,
    SplitContext,
)

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np
    import pyarrow as pa

    from ..signals.reference import TrainingReference


# --- the protocol --------------------------------------------------------------------------------


class Task:
    """Base class of every task type. Subclass it in ``tasks/<name>/`` and register an instance.

    Class attributes
    ----------------
    name : str
        The canonical ``task_type`` (stored in ``run.json``).
    aliases : tuple of str
        Other spellings ``dq.init`` accepts (``"nli"`` for ``"text_classification"``).
    unit : str
        What the task's per-unit signals score: ``"sample"`` or ``"span"``.
    input_columns, optional_columns : tuple of str
        Stored input columns every logged sample has / may have.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    unit: ClassVar[str] = "sample"
    model_outputs: ClassVar[str] = "sample"
    """What one ``dq.log_model_outputs`` row is for the model: ``"sample"`` (one embedding and one
    logits row per sample) or ``"token"`` (one per token, e.g. NER). Integrations that hook a
    model (``integrations.torch``, ``integrations.transformers_trainer``) ask this, never the
    task's name, to decide whether to pool the classifier's input or pass every token."""
    input_columns: ClassVar[tuple[str, ...]] = ()
    optional_columns: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- logging side -----------------------------------------------------------------------------

    def normalize_labels(self, labels: Any, *, fn: str, manifest: dict) -> list:
        """Check and normalise what ``dq.set_labels_for_run`` got; the result is stored as the
        run's ``labels``. Raises ConfigurationError naming ``fn``."""
        raise NotImplementedError

    def set_option(self, option: str, value: Any, *, fn: str, manifest: dict) -> dict:
        """Task options set through ``dq`` (``tagging_schema`` for NER, ``tasks`` for
        multi-label): check ``value`` and return the manifest entries to store. The default
        refuses every option not in :attr:`options`."""
        raise ConfigurationError(
            f"{fn}: `{option}` does not apply to task_type {self.name!r} (its options: "
            f"{list(self.options) or 'none'}); start the run with the task type it belongs to."
        )

    options: ClassVar[tuple[str, ...]] = ()  # the options set_option accepts
    labels_are_lists: ClassVar[bool] = False
    """Whether a sample's ``gold`` / ``pred`` hold one label per sub-task (multi-label): a label
    filter without a sub-task then matches a sample whose labels include any of its values."""

    def normalize_inputs(self, df: Any, *, fn: str, cols: Columns, split: str, manifest: dict) -> "pa.Table":
        """One chunk of a logged dataset (a pandas DataFrame with the user's column names,
        ``cols`` says which is which) as the stored input table of ``split``: column ``id``
        first (int64 or string), then the task's columns. Raises the usual typed errors, naming
        ``fn``; a rejected chunk is never stored."""
        raise NotImplementedError

    sample_arguments: ClassVar[tuple[str, ...]] = ()
    """Extra arguments ``dq.log_data_samples`` (one value per sample) and ``dq.log_data_sample``
    (one value) take for this task, e.g. NER's ``text_token_indices`` and ``gold_spans``; each
    becomes the dataset column of the same name that :meth:`normalize_inputs` reads."""

    def output_batch(self, ids: "np.ndarray", embs: Any, logits: Any, probs: Any, *,
                     exclude_embs: bool, fn: str, manifest: dict) -> OutputBatch:
        """Check one ``dq.log_model_outputs`` batch (``ids`` already checked, shape (n,)) and
        return it as output rows.

        Where the caller's ``embs`` and ``logits`` are already the rows (one per sample, a
        numeric (n, width) numpy array), return those very objects, not copies, with
        ``row_ids=ids``: the run then logs later batches of the same dtypes, shapes and route
        without asking again (its short path), until the manifest changes. So decide from
        dtypes, shapes, ``probs``/``exclude_embs`` and the manifest alone, never from the values
        (the run's copy checks them for NaN/inf). A result built from the inputs (per-token
        rows, logits from probabilities) is asked for every batch.
        """
        raise NotImplementedError

    def logits_width(self, manifest: dict) -> int | None:
        """Columns of the ``logits`` of every output row for the run's labels (None if unknown)."""
        labels = manifest.get("labels")
        return None if labels is None else len(labels)

    def probabilities(self, logits: "np.ndarray", manifest: dict) -> "np.ndarray":
        """Probabilities of output rows from their stored ``logits`` (rows, width): a softmax
        over the row by default (a binary sigmoid output is stored as two logit columns, whose
        softmax is the sigmoid). A task whose row holds several heads overrides it."""
        import numpy as np

        from ..core.numerics import softmax

        return softmax(np.asarray(logits, dtype=np.float32).copy())

    # -- compute side -----------------------------------------------------------------------------

    def check_ready(self, manifest: dict, *, fn: str) -> None:
        """Raise (LabelError, ConfigurationError) if the run cannot be finished as configured.

        The default requires labels (``dq.set_labels_for_run``)."""
        if manifest.get("labels") is None:
            raise LabelError(
                f"{fn}: the run has no labels. Call dq.set_labels_for_run([...]) with one label per "
                "logit column, in order."
            )

    def training_reference(self, results_root: Path, manifest: dict, *, stored_training: bool) -> "TrainingReference":
        """The run's training reference for one ``finish()``: empty, to be filled by the training
        split's :meth:`compute_split`, or with ``stored_training`` read from the stored training
        results (the training split is unchanged). Stored held-out outputs (validation, test) are
        read either way; a split recomputed in this ``finish()`` replaces its own."""
        raise NotImplementedError

    def compute_split(self, ctx: SplitContext) -> dict:
        """Join a split's inputs and outputs, run the task's signals and write its results into
        ``ctx.tmp``; return the split's summary dict (``n_samples`` and ``has_embeddings``
        among its keys)."""
        raise NotImplementedError

    # -- read side --------------------------------------------------------------------------------
    # Called by ``dataquality.read`` (filters, views, edits, export), ``dq.metrics`` and the console
    # API. ``con`` arguments are DuckDB cursors on which the read side registered the split's
    # ``samples`` view and a view per :meth:`result_tables` entry; ``where``/``params`` are a
    # compiled filter over ``samples`` (parameterised SQL: values travel in ``params``).

    def result_tables(self, manifest: dict) -> dict[str, str]:
        """Tables a split's results hold besides ``samples.parquet``, registered as DuckDB views
        of those names when the file exists: ``{view name: file name in the split's folder}``
        (NER: ``{"spans": "spans.parquet"}``)."""
        return {}

    def embeddings_rows(self, manifest: dict) -> str:
        """What the rows of a split's ``embeddings.npy`` are: ``"samples"`` (row-aligned with
        ``samples.parquet``: sample similarity search works) or a :meth:`result_tables` name
        (NER: ``"spans"``)."""
        return "samples"

    def filter_fields(self, manifest: dict) -> list[FilterField]:
        """Filter fields the task adds to the core ones. Called with ``manifest={}`` to learn the
        names and kinds when no run is at hand (``Filter.parse``): fields must not depend on the
        manifest beyond their ``choices``."""
        return []

    def filter_clauses(self, values: dict, *, manifest: dict, columns: list[str], fn: str) -> list[tuple[str, list]]:
        """Compile the task's filter fields set in a filter to SQL over the ``samples`` view.

        Parameters
        ----------
        values : dict
            ``{field name: value}`` of the task's fields that are set, already checked against
            :meth:`filter_fields` (kind and choices).
        columns : list of str
            Columns of ``samples``.

        Returns
        -------
        list of (str, list)
            ``(clause, params)`` pairs, ANDed with the core conditions; a clause uses ``?`` for
            each of its params and may query the task's :meth:`result_tables` views.
        """
        if values:
            raise NotImplementedError(f"{self.name}: filter fields {sorted(values)} declared but not compiled")
        return []

    def filter_columns(self, values: dict, *, manifest: dict) -> dict[str, str]:
        """Columns the core fields read instead of their own, given the task's fields set in a
        filter (``values``): ``{default column: column}`` among ``gold``, ``pred``,
        ``data_error_potential``, ``confidence``, ``is_on_the_boundary``, ``likely_mislabeled``
        (multi-label: a filter's ``task`` points them at that task's columns). Default: none."""
        return {}

    def table_clause(self, table: str, values: dict, *, fn: str) -> tuple[str, list]:
        """The rows of the task table ``table`` the task's filter ``values`` select themselves
        (NER: the spans a ``span_text`` filter names, not only their samples); ``("TRUE", [])``
        keeps every row of the selected samples."""
        return "TRUE", []

    def edit_actions(self, manifest: dict) -> list[EditAction]:
        """Edit actions the task offers (those of :data:`SAMPLE_EDIT_ACTIONS` it accepts included)."""
        return []

    def check_edit(self, edit: EditRequest, *, manifest: dict, fn: str) -> None:
        """Check an edit's arguments for a run of this task; raise (ConfigurationError,
        LabelError) naming ``fn``. The default accepts :meth:`edit_actions` and checks the
        arguments of :data:`SAMPLE_EDIT_ACTIONS`; a task checks its own actions and calls it."""
        import re

        names = [a.name for a in self.edit_actions(manifest)]
        if edit.action not in names:
            raise ConfigurationError(f"{fn}: `edit_action` must be one of {names}; got {edit.action!r}.")
        needs = {a.name: a.needs for a in self.edit_actions(manifest)}[edit.action]
        if needs != "label" and edit.new_label is not None:
            takes = [a.name for a in self.edit_actions(manifest) if a.needs == "label"]
            raise ConfigurationError(f"{fn}: `new_label` applies only to edit_action={' or '.join(map(repr, takes))}; "
                                     f"got {edit.new_label!r}.")
        if needs == "text":
            if not isinstance(edit.search_string, str) or not edit.search_string:
                raise ConfigurationError(f"{fn}: edit_action={edit.action!r} needs a non-empty `search_string`; "
                                         f"got {edit.search_string!r}.")
            if not isinstance(edit.text_replacement, str):
                raise ConfigurationError(f"{fn}: edit_action={edit.action!r} needs a string `text_replacement`; "
                                         f"got {edit.text_replacement!r}.")
            if edit.use_regex:
                try:
                    re.compile(edit.search_string)
                except re.error as e:
                    raise ConfigurationError(f"{fn}: `search_string` is not a valid regular expression: {e}.") from None

    def edit_keys(self, edit: EditRequest, con: Any, where: str, params: list, values: dict, *,
                  manifest: dict, split_key: str, fn: str) -> list | None:
        """What an edit records besides its filter: None for actions on whole samples (the ids
        of the samples the filter selects are recorded), else the keys of what the task's action
        edits (NER: ``[id, start, end]`` of the selected gold spans, ``values`` being the filter's
        task fields); raise SplitError when the filter selects none."""
        return None

    def begin_edits(self, df: Any, *, manifest: dict) -> Any:
        """The samples DataFrame (a copy) before edits apply: plain, editable values (NER: each
        ``gold_spans`` a list of dicts)."""
        return df

    def apply_edit(self, df: Any, edit: Any, keys: list, live: "np.ndarray", *, manifest: dict) -> None:
        """Apply one of the task's own edit actions to ``df`` in place (``edit`` a stored edit
        record with attribute access, ``keys`` its recorded ids or keys, ``live`` the rows not
        deleted so far); set ``edited`` on the rows changed."""
        raise NotImplementedError(f"{self.name}: edit action {edit.action!r} is not applied")

    def end_edits(self, df: Any, *, manifest: dict) -> Any:
        """The edited samples DataFrame with derived columns brought up to date."""
        return df

    def logged_schema(self, df: Any, *, has_labels: bool, meta: list[str], manifest: dict) -> Any:
        """The columns of ``df`` (samples, maybe edited) in the schema the user logged them with:
        what an export without signals writes."""
        raise NotImplementedError

    def confusion_pairs(self, con: Any, where: str, params: list, *, manifest: dict, fn: str,
                        values: dict | None = None) -> tuple[list[str], list[tuple], str]:
        """The confusion matrix of the samples ``where`` selects, as ``(axis labels, rows of (gold,
        pred, count), level)``; ``level`` says what is counted (``"sample"``, ``"span"``). Raise
        SchemaError when the split has nothing to cross. ``values``: the task's filter fields set
        (multi-label: the ``task`` whose labels are crossed)."""
        from ..exceptions import SchemaError

        raise SchemaError(f"{fn}: {self.name} splits have no gold and predicted labels to cross.")

    def summary_columns(self, manifest: dict) -> list[str]:
        """Columns :meth:`filtered_summary` reads."""
        return []

    def filtered_summary(self, rows: Any, *, manifest: dict) -> dict | None:
        """The split's metrics recomputed over the samples a filter selects (``rows``: a
        DataFrame of :meth:`summary_columns`), or None when the task's summary is of the whole
        split only (a filter then only counts: ``n_filtered``)."""
        return None

    def subtasks(self, manifest: dict) -> list[str]:
        """The run's sub-tasks (multi-label: its tasks), which Galileo's readers select with
        ``task=``; empty for a task with one label per sample."""
        return []

    def check_subtask(self, subtask: Any, manifest: dict, *, fn: str) -> str:
        """``subtask`` if it names one of :meth:`subtasks`; ConfigurationError naming ``fn``."""
        names = self.subtasks(manifest)
        if not names:
            raise ConfigurationError(f"{fn}: `task` selects one task of a run with several (multi-label); "
                                     f"task_type {self.name!r} runs have one; got task={subtask!r}.")
        if not isinstance(subtask, str) or subtask not in names:
            raise ConfigurationError(f"{fn}: `task` must be one of the run's tasks {names}; got {subtask!r}.")
        return subtask

    def label_view(self, manifest: dict, values: dict, *, fn: str) -> tuple[list[str], dict[str, str]]:
        """The label names and the columns (``{core column: column}``, see :meth:`filter_columns`)
        that per-label metrics read, given the task's filter fields set (``values``)."""
        return list(manifest.get("labels") or []), self.filter_columns(values, manifest=manifest)

    def subtask_summary(self, summary: dict, subtask: str, *, manifest: dict, fn: str) -> dict:
        """One sub-task's part of a split's summary (``get_run_summary(..., task=)``)."""
        return summary

    def capabilities(self, manifest: dict) -> Capabilities:
        """What the console shows for a run of this task."""
        raise NotImplementedError

    # -- contract ---------------------------------------------------------------------------------

    def example(self) -> Any:
        """A :class:`~dataquality.tasks.contract.TaskExample`: a small synthetic run through the
        public API and the bad inputs the task refuses (``tests/test_task_contract.py``). Every
        registered task provides one."""
        raise NotImplementedError(f"task {self.name!r} provides no example for the contract test")

