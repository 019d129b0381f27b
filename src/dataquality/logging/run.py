"""The :class:`Run`: the one piece of mutable state, made current by ``dq.init``.

Every ``dq.*`` logging function delegates to the current run. The run holds the pieces of a
logging session and asks its task (:mod:`dataquality.tasks`) whatever depends on the task type:

- :class:`~.manifest.RunRecord`: ``run.json`` and the run's folders (:mod:`.manifest`);
- :class:`~.routing.Routing`: the split and epoch set, and where each call logs to;
- :class:`~.samples.InputLog`: ``log_dataset`` / ``log_data_samples`` / ``log_data_sample``;
- :class:`~.outputs.OutputLog`: ``log_model_outputs`` and its short path;
- :class:`~.writers.WriterHandle`: the background writer's lifecycle.

:meth:`Run.finish` hands the run to :func:`dataquality.pipeline.finish_run`.
"""

from __future__ import annotations

import os
import sys
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..core import store
from ..core.splits import check_epoch
from ..exceptions import ConfigurationError, RunStateError
from ..tasks.base import Task
from ..tasks.registry import get_task
from .inputs import DEFAULT
from .manifest import RunRecord
from .outputs import OutputLog
from .routing import Routing
from .samples import InputLog
from .writers import WriterHandle

_current: ContextVar["Run | None"] = ContextVar("dataquality_current_run", default=None)
# Fallback for threads that did not inherit the context in which dq.init ran (a new thread
# starts with an empty context): the most recently initialised run.
_last_run: "Run | None" = None


def get_current_run(fn: str) -> "Run":
    """The current run; RunStateError naming ``fn`` when there is none."""
    run = _current.get() or _last_run
    if run is None:
        raise RunStateError(
            f"{fn}: there is no active run. Call dq.init(task_type=..., project_name=..., "
            "run_name=...) first."
        )
    return run


def current_run() -> "Run | None":
    """The current run, or None."""
    return _current.get() or _last_run


def set_current_run(run: "Run") -> None:
    """Make ``run`` the current run (of this context, and of threads started without one)."""
    global _last_run
    _current.set(run)
    _last_run = run


_DISABLED_VALUES = frozenset(("1", "true", "yes", "on"))
try:
    _DISABLED_KEY = os.environ.encodekey("DQ_DISABLED")  # type: ignore[attr-defined]
except AttributeError:  # not CPython's os._Environ
    _DISABLED_KEY = None


def disabled() -> bool:
    """The kill switch: ``DQ_DISABLED`` set to 1/true/yes/on turns every dq call into a no-op.

    Read on every call, so setting it at any time takes effect; the value is only normalised when
    the variable is set. The usual answer (not set) comes from one lookup in the encoded variables
    ``os.environ`` keeps (``os.environ.get`` raises and catches a KeyError inside, several times
    slower), where the mapping has them.
    """
    env = os.environ
    data = getattr(env, "_data", None)
    if type(data) is dict and _DISABLED_KEY is not None and _DISABLED_KEY not in data:
        return False
    v = env.get("DQ_DISABLED")
    return bool(v) and (v in _DISABLED_VALUES or v.strip().lower() in _DISABLED_VALUES)


class Run:
    """One logging session of a run ``<project>/<run>`` in the store.

    Create it with :func:`dataquality.init`, which also makes it current. Used as a context
    manager, a clean exit calls :meth:`finish` and an exception marks the run failed.

    Parameters
    ----------
    task_type : str
        A registered task type or alias (``"text_classification"``, ``"text_ner"``, ...).
    project_name, run_name : str
        Folder names in the store: letters, digits, ``_``, ``-``, ``.``.
    root : path, optional
        Store root; defaults to ``$DQ_HOME`` or ``~/.dataquality``.
    overwrite : bool
        Delete an existing run of that name first. Without it, an existing run is extended
        (e.g. a later process adds an inference set to a finished training run).
    """

    def __init__(self, task_type: str, project_name: str, run_name: str, *,
                 root: str | os.PathLike | None = None, overwrite: bool = False) -> None:
        fn = "dq.init"
        self.task: Task = get_task(task_type, fn=fn)
        self.project_name = store.check_name(project_name, fn=fn, arg="project_name")
        self.run_name = store.check_name(run_name, fn=fn, arg="run_name")
        self.record = RunRecord(self.task, project_name, run_name, root=root, overwrite=overwrite, fn=fn)
        self.paths = self.record.paths
        self.session = self.record.session
        self.finished = False
        self._lock = lock = threading.RLock()  # the writer's too: a batch takes one lock
        self.routing = Routing()
        self.writers = WriterHandle(self.session, lock, f"{project_name}/{run_name}")
        self.inputs = InputLog(self.record, self.task, self.routing, lock)
        self.outputs = OutputLog(self.record, self.task, self.routing, self.writers, lock)

    # -- state -----------------------------------------------------------------------------------

    @property
    def manifest(self) -> dict:
        """``run.json``'s content."""
        return self.record.manifest

    @property
    def labels(self) -> list | None:
        return self.record.manifest.get("labels")

    @property
    def dir(self) -> Path:
        return self.paths.dir

    @property
    def split(self) -> str | None:
        return self.routing.split

    @property
    def epoch(self) -> int | None:
        return self.routing.epoch

    @property
    def inference_name(self) -> str | None:
        return self.routing.inference_name

    @property
    def _writer(self):
        """The current background writer, or None (kept for benchmarks and tests)."""
        return self.writers.writer

    def __repr__(self) -> str:
        state = "finished" if self.finished else "logging"
        return f"Run({self.project_name}/{self.run_name}, task={self.task.name}, {state}, at {self.dir})"

    def _check_active(self, fn: str) -> None:
        if self.finished:
            raise RunStateError(
                f"{fn}: run {self.project_name}/{self.run_name} is finished. Call dq.init again "
                "to log more (the same names extend the run)."
            )
        self.writers.raise_if_failed()

    # -- settings ----------------------------------------------------------------------------------

    def set_signal_settings(self, **settings: Any) -> dict:
        """Set signal knobs for this run (see ``dataquality.signals.settings.SETTINGS``);
        the next ``finish()`` recomputes every split with them. Returns all settings."""
        from ..signals.settings import check_settings

        fn = "dq.set_signal_settings"
        self._check_active(fn)
        new = check_settings(settings, fn=fn)
        self.manifest.setdefault("signal_settings", {}).update(new)
        self.record.save()
        return dict(self.manifest["signal_settings"])

    def set_option(self, option: str, value: Any, *, fn: str | None = None) -> None:
        """Set a task option (``"tagging_schema"`` for NER); the task checks it."""
        fn = fn or f"dq.set_{option}"
        self._check_active(fn)
        if option not in self.task.options:
            from ..tasks import TASKS

            owners = [t.name for t in TASKS.values() if option in t.options]
            raise ConfigurationError(
                f"{fn}: `{option}` does not apply to task_type {self.task.name!r}; it is set for "
                f"{' and '.join(repr(t) for t in owners) or 'no task type'} runs."
            )
        with self._lock:
            self.manifest.update(self.task.set_option(option, value, fn=fn, manifest=self.manifest))
            self.record.save()

    def set_tagging_schema(self, tagging_schema: str) -> None:
        """NER: the tagging schema of the labels, ``"BIO"``, ``"BILOU"`` or ``"BIOES"``."""
        self.set_option("tagging_schema", tagging_schema, fn="dq.set_tagging_schema")

    def set_labels_for_run(self, labels: Any) -> None:
        fn = "dq.set_labels_for_run"
        self._check_active(fn)
        new = self.task.normalize_labels(labels, fn=fn, manifest=self.manifest)
        old = self.labels
        if old is not None and old != new:
            raise ConfigurationError(
                f"{fn}: `labels` must match the labels {old} that run {self.project_name}/"
                f"{self.run_name} already has (names and order, as used in training); got {new}."
            )
        width = self.manifest.get("logits_dim")
        want = self.task.logits_width({**self.manifest, "labels": new})
        if width is not None and want is not None and width != want:
            raise ConfigurationError(
                f"{fn}: `labels` must name one label per logit column, and model outputs were "
                f"logged with {width} logit columns; got {len(new)} labels {new}."
            )
        with self._lock:
            self.manifest["labels"] = new
            self.record.save()

    def set_split(self, split: str, inference_name: str | None = None) -> None:
        fn = "dq.set_split"
        self._check_active(fn)
        self.routing.set_split(split, inference_name, fn=fn)

    def set_epoch(self, epoch: int) -> None:
        fn = "dq.set_epoch"
        self._check_active(fn)
        self.routing.set_epoch(epoch, fn=fn)

    def set_epoch_and_split(self, epoch: int, split: str, inference_name: str | None = None) -> None:
        fn = "dq.set_epoch_and_split"
        self._check_active(fn)
        ep = check_epoch(epoch, fn=fn)
        self.routing.set_split(split, inference_name, fn=fn)
        self.routing.epoch = ep

    # -- inputs -------------------------------------------------------------------------------------

    def log_dataset(self, dataset: Any, *, batch_size: int = 100_000, text: str = "text", id: str = "id",
                    label: Any = DEFAULT, split: str | None = None, inference_name: str | None = None,
                    meta: list[str] | None = None, text_pair: Any = DEFAULT) -> int:
        """Validate and store a dataset's inputs for one split; returns the number of samples."""
        fn = "dq.log_dataset"
        self._check_active(fn)
        return self.inputs.log_dataset(dataset, batch_size=batch_size, text=text, id=id, label=label, split=split,
                                       inference_name=inference_name, meta=meta, text_pair=text_pair, fn=fn)

    def log_data_samples(self, *, texts: Any, ids: Any, labels: Any = None, split: str | None = None,
                         inference_name: str | None = None, meta: dict[str, Any] | None = None,
                         text_pairs: Any = None, **kwargs: Any) -> int:
        """Log several samples given as parallel lists; ``meta`` maps column name → values;
        ``kwargs`` are the task's extra arguments (NER: ``text_token_indices``, ``gold_spans``)."""
        fn = "dq.log_data_samples"
        self._check_active(fn)
        return self.inputs.log_data_samples(texts=texts, ids=ids, labels=labels, split=split,
                                            inference_name=inference_name, meta=meta, text_pairs=text_pairs,
                                            extra=kwargs, fn=fn)

    def log_data_sample(self, *, text: str, id: int | str, label: Any = None, split: str | None = None,
                        inference_name: str | None = None, meta: dict[str, Any] | None = None,
                        text_pair: str | None = None, **kwargs: Any) -> None:
        """Log one sample. Samples are validated now and written in parts by ``finish``."""
        fn = "dq.log_data_sample"
        self._check_active(fn)
        self.inputs.log_data_sample(text=text, id=id, label=label, split=split, inference_name=inference_name,
                                    meta=meta, text_pair=text_pair, extra=kwargs, fn=fn)

    # -- model outputs -----------------------------------------------------------------------------

    def log_model_outputs(self, *, ids: Any, embs: Any = None, logits: Any = None, probs: Any = None,
                          split: str | None = None, epoch: int | None = None,
                          inference_name: str | None = None, exclude_embs: bool = False) -> None:
        """Validate and copy one batch of model outputs, then queue it for the background writer."""
        outputs = self.outputs
        if outputs.log(ids, embs, logits, probs, split, epoch, inference_name, exclude_embs):
            return
        self._check_active("dq.log_model_outputs")
        outputs.log_full(ids, embs, logits, probs, split, epoch, inference_name, exclude_embs)

    def flush(self) -> None:
        """Write everything logged so far to disk (finish() does this too)."""
        self.inputs.flush()
        self.writers.flush()

    # -- finishing ---------------------------------------------------------------------------------

    def finish(self, *, signals: bool = True, verbose: bool = True) -> dict:
        """Join inputs and outputs into ``results/``, run the signals and mark the run finished.

        Returns
        -------
        dict
            Per split: number of samples, epochs, the results folder.

        Raises
        ------
        LabelError, DuplicateIdError, UnknownIdError, ShapeError
            When logged data does not add up; nothing in ``results/`` is replaced then.
        """
        fn = "dq.finish"
        self._check_active(fn)
        self.flush()
        self.outputs.short = None
        self.writers.close()
        from ..pipeline import finish_run

        report = finish_run(self, signals=signals, fn=fn)
        self.finished = True
        self.manifest["status"] = "finished"
        self.manifest["finished_at"] = store.now_iso()
        self.record.save()
        self.writers.forget_exit()
        if verbose:
            _print_report(self, report)
        return report

    def fail(self) -> None:
        """Mark the run failed (what was logged stays on disk)."""
        try:
            self.flush()
        finally:
            self.outputs.short = None
            self.writers.close(quiet=True)  # the original exception is the one to see
            self.manifest["status"] = "failed"
            self.record.save()
            self.writers.forget_exit()  # the writer is closed: nothing is left to write at exit

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.finished:
            return
        if exc_type is None:
            try:
                self.finish()
            except BaseException:
                # finish() itself failed (a writer error, data that does not add up): the run
                # did not finish, so it is marked failed; finish()'s error is the one raised.
                self._fail_quietly()
                raise
        else:
            self._fail_quietly()  # the caller's exception propagates, not one from cleaning up

    def _fail_quietly(self) -> None:
        try:
            self.fail()
        except Exception as e:  # noqa: BLE001 - said on stderr; the exception in flight wins
            print(f"dataquality: marking {self.project_name}/{self.run_name} failed: {e}", file=sys.stderr)


def _print_report(run: Run, report: dict) -> None:
    lines = [f"dataquality: finished {run.project_name}/{run.run_name}"]
    for key, info in report.get("splits", {}).items():
        lines.append(f"  {key:<24} {info['n_samples']:>9,} samples  epochs {info.get('epochs')}")
    lines.append(f"  results: {run.paths.results()}")
    lines.append(f"  in Python: dq.metrics.get_dataframe({run.project_name!r}, {run.run_name!r}, 'training')")
    print("\n".join(lines))
