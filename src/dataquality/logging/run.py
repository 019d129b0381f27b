"""The :class:`Run`: the one piece of mutable state, made current by ``dq.init``.

Every ``dq.*`` logging function delegates to the current run. A run validates and copies on the
caller's thread, writes inputs as Parquet parts and hands model outputs to a background
:class:`~dataquality.core.writer.OutputWriter`; :meth:`Run.finish` joins them into ``results/``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from ..core import layout as S
from ..core import store
from ..core.splits import check_epoch, normalize_split
from ..core.convert import _F32, _I64, as_matrix, check_ids, check_matrix, copy_finite, to_numpy
# Imported here, while the package is still initialising, and not lazily inside Run.finish:
# the first import of a submodule binds it as an attribute of the package, so a lazy
# ``from .finish import ...`` would replace the function ``dq.finish`` by the module
# ``dataquality.pipeline`` after the first finish() ("'module' object is not callable").
from ..pipeline import finish_run
from ..exceptions import (
    ConfigurationError,
    DuplicateIdError,
    InputTypeError,
    LabelError,
    NonFiniteError,
    RunStateError,
    SchemaError,
    ShapeError,
    SplitError,
)
from .inputs import _DEFAULT, Columns, check_label_names, iter_frames, normalize_frame
from ..tasks import Task, get_task

_current: ContextVar["Run | None"] = ContextVar("dataquality_current_run", default=None)
# Fallback for threads that did not inherit the context in which dq.init ran (a new thread
# starts with an empty context): the most recently initialised run.
_last_run: "Run | None" = None

MAX_LABELS = 100_000


def get_current_run(fn: str) -> "Run":
    run = _current.get() or _last_run
    if run is None:
        raise RunStateError(
            f"{fn}: there is no active run. Call dq.init(task_type=..., project_name=..., "
            "run_name=...) first."
        )
    return run


def normalize_labels(labels: Any, *, fn: str, binary_shorthand: bool = True) -> list[str]:
    """Validate the label list; one label ``x`` means a binary task ``["NOT_x", "x"]``."""
    if labels is None or isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        raise ConfigurationError(
            f"{fn}: `labels` must be a list of label names in logit-column order; got {labels!r}."
        )
    values = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    if not values:
        raise ConfigurationError(f"{fn}: `labels` must not be empty.")
    out = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            out.append(str(v))
        else:
            raise ConfigurationError(
                f"{fn}: `labels` must hold strings (or integers); got {type(v).__name__} {v!r}."
            )
    if any(not v.strip() for v in out):
        raise ConfigurationError(f"{fn}: `labels` must not contain empty names; got {out}.")
    dups = sorted({v for v in out if out.count(v) > 1}) if len(out) < 10_000 else []
    if len(set(out)) != len(out):
        raise ConfigurationError(f"{fn}: `labels` must be unique; {dups or 'some'} appear more than once.")
    if len(out) > MAX_LABELS:
        raise ConfigurationError(f"{fn}: at most {MAX_LABELS} labels are supported; got {len(out)}.")
    if len(out) == 1 and binary_shorthand:
        out = [f"NOT_{out[0]}", out[0]]
    return out


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


_BITMAP_MIN_IDS = 1 << 22  # integer ids below this may always use a bitmap (at most 4 MiB)
_BITMAP_BYTES_PER_ID = 16  # beyond that, a bitmap may take this many bytes per id it holds


class IdSet:
    """The ids logged so far for one split (or one split and epoch), to reject duplicates early.

    Non-negative integer ids live in a numpy boolean bitmap indexed by id, grown as needed, so a
    batch is checked and added with a few vectorised operations and memory does not depend on
    how many batches brought the ids. Strings, negative ids and ids so large that the bitmap would
    take more than ``max(4 MiB, 16 bytes per id held)`` live in a Python set instead.

    :meth:`check` changes nothing a caller can see; :meth:`add` adds a checked batch.
    """

    __slots__ = ("_bitmap", "_set", "_count", "_checked")

    def __init__(self) -> None:
        self._bitmap = np.zeros(0, dtype=bool)
        self._set: set | None = None
        self._count = 0
        self._checked: np.ndarray | None = None  # the last batch check() passed for the bitmap

    def __len__(self) -> int:
        return self._count

    def __contains__(self, value: Any) -> bool:
        if self._set is not None:
            return value in self._set
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return 0 <= value < self._bitmap.size and bool(self._bitmap[value])
        return False

    def check(self, ids: np.ndarray) -> tuple[list, list]:
        """Return ``(repeated, clash)``: ids that repeat within ``ids`` (then ``clash`` is not
        computed) and ids of ``ids`` already in the set; both empty for a batch that may be added.

        ``ids`` is a 1-D ``int64`` array or an object array of ``str`` (see ``check_ids``).
        """
        self._checked = None
        n = ids.shape[0]
        if ids.dtype.kind == "i":
            if n == 0:
                return [], []
            # (count_nonzero: a fraction of the cost of .any()/.all() on a small array)
            if n == 1 or not np.count_nonzero(ids[1:] <= ids[:-1]):  # increasing (the usual batch): no repeats
                lo, hi = int(ids[0]), int(ids[-1])
            else:
                order = np.sort(ids)
                if (order[1:] == order[:-1]).any():
                    return _dups(ids.tolist()), []
                lo, hi = int(order[0]), int(order[-1])
            if self._set is None and lo >= 0 and hi < max(_BITMAP_MIN_IDS, _BITMAP_BYTES_PER_ID * (self._count + n)):
                if hi >= self._bitmap.size:
                    self._grow(hi + 1)
                hit = self._bitmap[ids]
                if np.count_nonzero(hit):
                    return [], ids[hit].tolist()
                self._checked = ids
                return [], []
            self._to_set()
            values = ids.tolist()
        else:
            values = ids.tolist()
            if len(set(values)) != n:
                return _dups(values), []
            if self._set is None:
                self._to_set()
        if self._set.isdisjoint(values):
            return [], []
        return [], [v for v in values if v in self._set]

    def discard(self, ids: np.ndarray) -> None:
        """Take back a batch just :meth:`add`-ed (its ids were not in the set before)."""
        if self._set is None:
            self._bitmap[ids] = False
        else:
            self._set.difference_update(ids.tolist())
        self._count -= ids.shape[0]

    def add(self, ids: np.ndarray) -> None:
        """Add a batch that :meth:`check` passed (and nothing was added since)."""
        if ids is self._checked:
            self._bitmap[ids] = True
        else:
            if self._set is None:
                self._to_set()
            self._set.update(ids.tolist())
        self._checked = None
        self._count += ids.shape[0]

    def _grow(self, size: int) -> None:
        new = np.zeros(max(size, 2 * self._bitmap.size, 1 << 16), dtype=bool)
        new[: self._bitmap.size] = self._bitmap
        self._bitmap = new

    def _to_set(self) -> None:
        if self._set is None:
            self._set = set(np.flatnonzero(self._bitmap).tolist())
            self._bitmap = np.zeros(0, dtype=bool)


class _FastPath:
    """The usual batch of a classification run, logged with the least work on the caller's thread.

    Made after a batch took the full path of :meth:`Run.log_model_outputs` with integer ids,
    float32 embeddings and logits, and split, inference name and epoch arguments that are plain
    ``str``/``int``/None. A later batch takes this path when it is the same case: the same
    arguments, split and epoch set on the run, label list and writer, ids ``int64`` 1-D, and
    ``embs`` and ``logits`` float32 arrays of the widths logged before. It then does what the
    full path does with such a batch, in the same order. Anything else, and a batch whose ids
    repeat (checked before anything counts), goes the full path, which says what is wrong.
    """

    __slots__ = ("route", "key", "entry", "writer", "d", "k", "labels")

    @classmethod
    def after(cls, run: "Run", entry: tuple, writer, usual: bool, embs: np.ndarray | None,
              logits: np.ndarray, split: Any, inference_name: Any, epoch: Any, key: str) -> "_FastPath | None":
        """The fast path for batches like the one just logged, or None if it was not the usual case."""
        if not (usual and embs is not None and embs.dtype == _F32 and logits.dtype == _F32
                and _plain(split, inference_name, epoch)):
            return None
        fast = cls()
        fast.route = (split, inference_name, epoch, run.split, run.inference_name, run.epoch)
        fast.key, fast.entry, fast.writer = key, entry, writer
        fast.d, fast.k = embs.shape[1], logits.shape[1]
        fast.labels = run.manifest.get("labels")
        return fast

    def log(self, run: "Run", ids: np.ndarray, embs: np.ndarray, logits: np.ndarray,
            split: Any, inference_name: Any, epoch: Any) -> bool:
        """Log the batch if it is the usual case; False (nothing done) if it is not."""
        if not _plain(split, inference_name, epoch):
            return False
        n = ids.shape[0]
        d, k, writer = self.d, self.k, self.writer
        if (ids.dtype != _I64 or ids.ndim != 1 or not n or embs.dtype != _F32 or embs.shape != (n, d)
                or logits.dtype != _F32 or logits.shape != (n, k)):
            return False
        _, seen, directory = self.entry
        fn = "dq.log_model_outputs"
        with run._lock:  # the run's state is read under the lock that the full path changes it under
            if (self.route != (split, inference_name, epoch, run.split, run.inference_name, run.epoch)
                    or run.finished or writer is not run._writer or writer._error is not None
                    or run._output_ids.get(self.key) is not self.entry or run.manifest.get("labels") is not self.labels):
                return False
            slab, start = writer.slot(directory, "i", d, k, n)
            end = start + n
            copy_finite(logits, slab.logits[start:end], fn=fn, arg="logits")
            repeated, clash = seen.check(ids)
            if repeated or clash:
                return False
            writer.place_ids(slab, ids)
            seen.add(ids)
            try:
                copy_finite(embs, slab.embs[start:end], fn=fn, arg="embs")
            except BaseException:
                seen.discard(ids)
                raise
            writer.commit(slab, ids, ids_placed=True)
        return True


def _plain(split: Any, inference_name: Any, epoch: Any) -> bool:
    """Whether ``split`` and ``inference_name`` are None or exactly ``str`` and ``epoch`` None or
    exactly ``int`` (not bool, not a numpy type): such values compare equal only to values that
    route the same, so they can key a cache (True == 1 and 1.0 == 1, which are refused as epochs)."""
    return ((epoch is None or type(epoch) is int) and (split is None or type(split) is str)
            and (inference_name is None or type(inference_name) is str))


class Run:
    """One logging session of a run ``<project>/<run>`` in the store.

    Create it with :func:`dataquality.init`, which also makes it current. Used as a context
    manager, a clean exit calls :meth:`finish` and an exception marks the run failed.

    Parameters
    ----------
    task_type : str
        ``"text_classification"`` (NLI is a text-classification run with a ``text_pair``).
    project_name, run_name : str
        Folder names in the store: letters, digits, ``_``, ``-``, ``.``.
    root : path, optional
        Store root; defaults to ``$DQ_HOME`` or ``~/.dataquality``.
    overwrite : bool
        Delete an existing run of that name first. Without it, an existing run is extended
        (e.g. a later process adds an inference set to a finished training run).
    """

    def __init__(
        self,
        task_type: str,
        project_name: str,
        run_name: str,
        *,
        root: str | os.PathLike | None = None,
        overwrite: bool = False,
    ) -> None:
        fn = "dq.init"
        self.task: Task = get_task(task_type, fn=fn)
        self.project_name = store.check_name(project_name, fn=fn, arg="project_name")
        self.run_name = store.check_name(run_name, fn=fn, arg="run_name")
        self.paths = store.run_paths(project_name, run_name, root)
        self.session = store.new_token()
        self._lock = threading.RLock()
        if overwrite and self.paths.dir.exists():
            shutil.rmtree(self.paths.dir)
        if self.paths.manifest.exists():
            self.manifest = store.load_manifest(self.paths)
            if self.manifest.get("task_type") != self.task.name:
                raise ConfigurationError(
                    f"{fn}: run {project_name}/{run_name} exists with task_type "
                    f"{self.manifest.get('task_type')!r}; got {task_type!r}. Use another run_name "
                    "or overwrite=True."
                )
            self.manifest["status"] = "logging"
        else:
            self.manifest = {
                "format_version": S.STORE_FORMAT_VERSION,
                "project_name": project_name,
                "run_name": run_name,
                "task_type": self.task.name,
                "labels": None,
                "tagging_schema": None,
                "id_type": None,
                "embedding_dim": None,
                "logits_dim": None,
                "status": "logging",
                "created_at": store.now_iso(),
                "results": {},
                "signal_settings": {},
            }
        self.manifest.setdefault("sessions", []).append({"session": self.session, "started_at": store.now_iso()})
        self.manifest["versions"] = _versions()
        self._save_manifest()

        self.split: str | None = None
        self.epoch: int | None = None
        self.inference_name: str | None = None
        self.finished = False
        self._writer = None
        self._writer_gen = 0
        # Ids logged per split key: all inputs, and the outputs of the current epoch only (with
        # that epoch's output folder), so memory does not grow with the number of epochs.
        self._input_ids: dict[str, IdSet] = {}
        self._output_ids: dict[str, tuple[int | None, IdSet, Path]] = {}
        self._claimed: set[str] = set()
        self._routes: dict[tuple, tuple[str, int | None]] = {}  # see _output_route
        self._fast: _FastPath | None = None  # the usual batch's short path, see log_model_outputs
        self._sample_buffer: dict[str, list[dict]] = {}
        self._sample_buffer_meta: dict[str, tuple] = {}
        self._sample_buffer_ids: dict[str, set] = {}
        self._atexit_registered = False

    # -- state -----------------------------------------------------------------------------------

    @property
    def labels(self) -> list[str] | None:
        return self.manifest.get("labels")

    @property
    def dir(self) -> Path:
        return self.paths.dir

    def __repr__(self) -> str:
        state = "finished" if self.finished else "logging"
        return f"Run({self.project_name}/{self.run_name}, task={self.task.name}, {state}, at {self.dir})"

    def _save_manifest(self) -> None:
        self.manifest["updated_at"] = store.now_iso()
        store.write_json(self.paths.manifest, self.manifest)

    def _check_active(self, fn: str) -> None:
        if self.finished:
            raise RunStateError(
                f"{fn}: run {self.project_name}/{self.run_name} is finished. Call dq.init again "
                "to log more (the same names extend the run)."
            )
        if self._writer is not None:
            self._writer.raise_if_failed()

    # -- settings ----------------------------------------------------------------------------------

    def set_signal_settings(self, **settings: Any) -> dict:
        """Set signal knobs for this run (see ``dataquality.signals.settings.SETTINGS``);
        the next ``finish()`` recomputes every split with them. Returns all settings."""
        from ..signals.settings import check_settings

        fn = "dq.set_signal_settings"
        self._check_active(fn)
        new = check_settings(settings, fn=fn)
        self.manifest.setdefault("signal_settings", {}).update(new)
        self._save_manifest()
        return dict(self.manifest["signal_settings"])

    def set_tagging_schema(self, tagging_schema: str) -> None:
        """NER: the tagging schema of the labels, ``"BIO"``, ``"BILOU"`` or ``"BIOES"``."""
        from ..tasks.text_ner.tagging import normalize_schema, parse_labels

        fn = "dq.set_tagging_schema"
        self._check_active(fn)
        if self.task.unit != "span":
            raise ConfigurationError(f"{fn}: a tagging schema applies to task_type='text_ner'; this run is {self.task.name!r}.")
        schema = normalize_schema(tagging_schema, where=fn, argument="tagging_schema")
        old = self.manifest.get("tagging_schema")
        if old is not None and old != schema:
            raise ConfigurationError(f"{fn}: run {self.project_name}/{self.run_name} already uses {old!r}; got {schema!r}.")
        if self.labels is not None:
            _with_fn(parse_labels, fn, self.labels, schema)
        self.manifest["tagging_schema"] = schema
        self._save_manifest()

    def set_labels_for_run(self, labels: Any) -> None:
        fn = "dq.set_labels_for_run"
        self._check_active(fn)
        new = normalize_labels(labels, fn=fn, binary_shorthand=self.task.unit != "span")
        if self.task.unit == "span":  # NER: a tagged label list that must fit the schema
            from ..tasks.text_ner.tagging import infer_schema, parse_labels

            schema = self.manifest.get("tagging_schema") or _with_fn(infer_schema, fn, new)
            _with_fn(parse_labels, fn, new, schema)
        old = self.labels
        if old is not None and old != new:
            raise ConfigurationError(
                f"{fn}: `labels` must match the labels {old} that run {self.project_name}/"
                f"{self.run_name} already has (names and order, as used in training); got {new}."
            )
        width = self.manifest.get("logits_dim")
        if width is not None and width != len(new):
            raise ConfigurationError(
                f"{fn}: `labels` must name one label per logit column, and model outputs were "
                f"logged with {width} logit columns; got {len(new)} labels {new}."
            )
        self.manifest["labels"] = new
        self._save_manifest()

    def set_split(self, split: str, inference_name: str | None = None) -> None:
        fn = "dq.set_split"
        self._check_active(fn)
        s = normalize_split(split, fn=fn)
        if s == S.INFERENCE:
            if inference_name is None:
                raise SplitError(
                    f"{fn}: split 'inference' needs an `inference_name` (e.g. "
                    "dq.set_split('inference', inference_name='2026-11'))."
                )
            inference_name = store.check_name(inference_name, fn=fn, arg="inference_name")
        elif inference_name is not None:
            raise SplitError(f"{fn}: `inference_name` applies only to split 'inference'; got split {split!r}.")
        self.split, self.inference_name = s, inference_name

    def set_epoch(self, epoch: int) -> None:
        fn = "dq.set_epoch"
        self._check_active(fn)
        self.epoch = check_epoch(epoch, fn=fn)

    def set_epoch_and_split(self, epoch: int, split: str, inference_name: str | None = None) -> None:
        fn = "dq.set_epoch_and_split"
        self._check_active(fn)
        ep = check_epoch(epoch, fn=fn)
        self.set_split(split, inference_name)
        self.epoch = ep

    def _resolve(
        self, split: Any, inference_name: Any, *, fn: str
    ) -> tuple[str, str | None]:
        """The (split, inference_name) of a call: its arguments, else what set_split chose."""
        if split is None:
            if self.split is None:
                raise SplitError(
                    f"{fn}: no split is set. Pass `split=` or call dq.set_split(...) first "
                    "(train, validation, test or inference)."
                )
            s, name = self.split, self.inference_name
            if inference_name is not None:
                name = inference_name
        else:
            s = normalize_split(split, fn=fn)
            name = inference_name
            if s == S.INFERENCE and name is None and self.split == S.INFERENCE:
                name = self.inference_name
        if s == S.INFERENCE:
            if name is None:
                raise SplitError(
                    f"{fn}: split 'inference' needs an `inference_name`; pass it here or with "
                    "dq.set_split('inference', inference_name=...)."
                )
            name = store.check_name(name, fn=fn, arg="inference_name")
        elif name is not None:
            raise SplitError(
                f"{fn}: `inference_name` applies only to split 'inference'; got split "
                f"{split if split is not None else s!r}{'' if split is not None else ' (set by dq.set_split)'}."
            )
        return s, name

    def _claim(self, key: str, fn: str) -> None:
        """Refuse to mix this session's data for a split with an earlier session's."""
        if key in self._claimed:
            return
        own = f"part-{self.session}-"
        for d, suffix in ((self.paths.inputs(key), S.INPUT_PART_SUFFIX), (self.paths.outputs(key), S.OUTPUT_PART_SUFFIX)):
            for p in store.list_parts(d, suffix):
                if not p.name.startswith(own):
                    raise RunStateError(
                        f"{fn}: run {self.project_name}/{self.run_name} already has {key!r} data from "
                        f"an earlier session ({p.relative_to(self.dir)}). Use a new run_name (or a new "
                        "inference_name), or dq.init(..., overwrite=True) to start the run over."
                    )
        self._claimed.add(key)

    def _check_id_type(self, ids: np.ndarray, fn: str, arg: str = "ids") -> str:
        kind = "int" if ids.dtype.kind == "i" else "str"
        known = self.manifest.get("id_type")
        if known is not None and known != kind:
            raise InputTypeError(
                f"{fn}: `{arg}` must be {'integers' if known == 'int' else 'strings'} like the ids "
                f"logged before in run {self.project_name}/{self.run_name}; got "
                f"{'integers' if kind == 'int' else 'strings'} (e.g. {ids[:3].tolist()}). Use one id type."
            )
        return kind

    # -- inputs -------------------------------------------------------------------------------------

    def log_dataset(
        self,
        dataset: Any,
        *,
        batch_size: int = 100_000,
        text: str = "text",
        id: str = "id",
        label: Any = _DEFAULT,
        split: str | None = None,
        inference_name: str | None = None,
        meta: list[str] | None = None,
        text_pair: Any = _DEFAULT,
        fn: str = "dq.log_dataset",
    ) -> int:
        """Validate and store a dataset's inputs for one split; returns the number of samples."""
        self._check_active(fn)
        s, name = self._resolve(split, inference_name, fn=fn)
        key = S.split_key(s, name)
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigurationError(f"{fn}: `batch_size` must be a positive integer; got {batch_size!r}.")
        if meta is not None and (isinstance(meta, str) or not all(isinstance(m, str) for m in meta)):
            raise ConfigurationError(f"{fn}: `meta` must be a list of column names; got {meta!r}.")
        for arg, v in (("text", text), ("id", id)):
            if not isinstance(v, str):
                raise ConfigurationError(f"{fn}: `{arg}` is a column name and must be a string; got {v!r}.")
        cols = Columns(
            id=id,
            text=text,
            label="label" if label is _DEFAULT else label,
            text_pair="text_pair" if text_pair is _DEFAULT else text_pair,
            meta=tuple(meta or ()),
            label_explicit=label is not _DEFAULT,
            text_pair_explicit=text_pair is not _DEFAULT,
        )
        with self._lock:
            self._claim(key, fn)
            seen = self._input_ids.get(key)
            if seen is None:
                seen = IdSet()
            new_ids = IdSet()  # this call's ids, added to ``seen`` only once every batch is written
            accepted: list[np.ndarray] = []
            written: list[tuple[Path, Path]] = []
            id_kind = None
            try:
                for df in iter_frames(dataset, fn=fn, batch_size=batch_size, cols=cols):
                    table = self._normalize(df, fn=fn, cols=cols, split=s)
                    ids = table.column(S.ID).to_numpy(zero_copy_only=False)
                    kind = self._check_id_type(ids, fn, arg="id")
                    if id_kind is not None and kind != id_kind:
                        raise InputTypeError(
                            f"{fn}: `id` (column {cols.id!r}) must be all integers or all strings; the "
                            f"dataset mixes them across batches (e.g. {ids[:3].tolist()})."
                        )
                    id_kind = kind
                    repeated, clash = new_ids.check(ids)
                    if repeated:
                        raise DuplicateIdError(
                            f"{fn}: `id` (column {cols.id!r}) must be unique within split {key!r}; "
                            f"got {repeated} more than once."
                        )
                    if not clash:
                        clash = seen.check(ids)[1]
                    if clash:
                        raise DuplicateIdError(
                            f"{fn}: `id` (column {cols.id!r}) must be unique within split {key!r}; "
                            f"ids {sorted(set(clash), key=str)[:10]} were already logged for it. Every "
                            "sample of a split needs its own id."
                        )
                    new_ids.add(ids)
                    accepted.append(ids)
                    written.append(self._write_input_part(key, table))
                if not written:
                    raise SchemaError(f"{fn}: `dataset` is empty; log at least one sample.")
            except BaseException:
                for tmp, _ in written:
                    tmp.unlink(missing_ok=True)
                raise
            for tmp, final in written:
                os.replace(tmp, final)
            for ids in accepted:
                seen.check(ids)  # lets ``add`` take the checked fast path
                seen.add(ids)
            self._input_ids[key] = seen
            if self.manifest.get("id_type") is None:
                self.manifest["id_type"] = id_kind
                self._save_manifest()
        return len(new_ids)

    def _refuse_for_ner(self, fn: str) -> None:
        if self.task.unit == "span":
            raise ConfigurationError(
                f"{fn}: text_ner runs log their inputs with dq.log_dataset (columns id, text, "
                "text_token_indices, gold_spans) or dataquality.ner.log_hf_ner."
            )

    def _normalize(self, df, *, fn: str, cols: Columns, split: str):
        if self.task.unit == "span":
            from ..tasks.text_ner.ingest import normalize_ner_frame

            return normalize_ner_frame(df, fn=fn, cols=cols, split=split, labels=self.labels)
        return normalize_frame(df, fn=fn, cols=cols, split=split, labels=self.labels)

    def _write_input_part(self, key: str, table) -> tuple[Path, Path]:
        import pyarrow.parquet as pq

        d = self.paths.inputs(key)
        d.mkdir(parents=True, exist_ok=True)
        n = len(list(d.glob(f"part-{self.session}-*"))) + len(list(d.glob(f"{S.TMP_PREFIX}part-{self.session}-*")))
        name = f"part-{self.session}-{n:05d}{S.INPUT_PART_SUFFIX}"
        tmp = d / f"{S.TMP_PREFIX}{name}"
        pq.write_table(table, tmp)
        return tmp, d / name

    def log_data_samples(
        self,
        *,
        texts: Any,
        ids: Any,
        labels: Any = None,
        split: str | None = None,
        inference_name: str | None = None,
        meta: dict[str, Any] | None = None,
        text_pairs: Any = None,
        fn: str = "dq.log_data_samples",
    ) -> int:
        """Log several samples given as parallel lists; ``meta`` maps column name → values."""
        import pandas as pd

        self._refuse_for_ner(fn)
        texts_l = _as_list(texts, fn=fn, arg="texts")
        ids_l = _as_list(ids, fn=fn, arg="ids")
        columns: dict[str, list] = {"id": ids_l, "text": texts_l}
        lengths = {"texts": len(texts_l), "ids": len(ids_l)}
        if labels is not None:
            columns["label"] = _as_list(labels, fn=fn, arg="labels")
            lengths["labels"] = len(columns["label"])
        if text_pairs is not None:
            columns["text_pair"] = _as_list(text_pairs, fn=fn, arg="text_pairs")
            lengths["text_pairs"] = len(columns["text_pair"])
        meta = meta or {}
        if not isinstance(meta, dict):
            raise ConfigurationError(f"{fn}: `meta` must be a dict of column name -> values; got {type(meta).__name__}.")
        for k, v in meta.items():
            columns[k] = _as_list(v, fn=fn, arg=f"meta[{k!r}]")
            lengths[f"meta[{k!r}]"] = len(columns[k])
        if len(set(lengths.values())) != 1:
            raise ShapeError(f"{fn}: all arguments must have one value per sample; got lengths {lengths}.")
        return self.log_dataset(
            pd.DataFrame(columns),
            split=split,
            inference_name=inference_name,
            meta=list(meta),
            label="label" if labels is not None else _DEFAULT,
            fn=fn,
        )

    def log_data_sample(
        self,
        *,
        text: str,
        id: int | str,
        label: Any = None,
        split: str | None = None,
        inference_name: str | None = None,
        meta: dict[str, Any] | None = None,
        text_pair: str | None = None,
    ) -> None:
        """Log one sample. Samples are validated now and written in parts by ``finish``."""
        fn = "dq.log_data_sample"
        self._check_active(fn)
        self._refuse_for_ner(fn)
        s, name = self._resolve(split, inference_name, fn=fn)
        key = S.split_key(s, name)
        row = {"id": id, "text": text}
        if label is not None:
            row["label"] = label
        if text_pair is not None:
            row["text_pair"] = text_pair
        meta = meta or {}
        row.update(meta)
        # validate the row alone now, so a bad sample fails at its own call
        import pandas as pd

        cols = Columns(meta=tuple(meta), label_explicit=label is not None)
        table = normalize_frame(pd.DataFrame([row]), fn=fn, cols=cols, split=s, labels=self.labels)
        rid = table.column(S.ID).to_pylist()[0]
        kind = self._check_id_type(table.column(S.ID).to_numpy(zero_copy_only=False), fn, arg="id")
        buf_ids = self._sample_buffer_ids.setdefault(key, set())
        inputs = self._input_ids.get(key)
        if (inputs is not None and rid in inputs) or rid in buf_ids:
            raise DuplicateIdError(f"{fn}: `id` {rid!r} was already logged for split {key!r}.")
        row["id"] = rid
        if S.GOLD in table.column_names:  # labels known: store the name, so int and str labels mix
            row["label"] = table.column(S.GOLD).to_pylist()[0]
        elif S.GOLD_INDEX in table.column_names:
            row["label"] = table.column(S.GOLD_INDEX).to_pylist()[0]
        # rows of one buffer share their columns and label type; a change starts a new part
        shape = (tuple(sorted(row)), s, name, type(row.get("label")).__name__)
        prev = self._sample_buffer_meta.get(key)
        if prev is not None and prev != shape:
            self._flush_samples(key)
        if self.manifest.get("id_type") is None:  # buffered, not written: later calls compare
            self.manifest["id_type"] = kind
        self._sample_buffer.setdefault(key, []).append(row)
        buf_ids.add(rid)
        self._sample_buffer_meta[key] = shape
        if len(self._sample_buffer[key]) >= 10_000:
            self._flush_samples(key)

    def _flush_samples(self, key: str | None = None) -> None:
        import pandas as pd

        for k in [key] if key is not None else list(self._sample_buffer):
            rows = self._sample_buffer.pop(k, None)
            shape = self._sample_buffer_meta.pop(k, None)
            self._sample_buffer_ids.pop(k, None)
            if not rows:
                continue
            _, s, name, _ = shape
            metas = [c for c in rows[0] if c not in ("id", "text", "label", "text_pair")]
            self.log_dataset(
                pd.DataFrame(rows), split=s, inference_name=name, meta=metas,
                label="label" if "label" in rows[0] else _DEFAULT, fn="dq.log_data_sample",
            )

    # -- model outputs -----------------------------------------------------------------------------

    def log_model_outputs(
        self,
        *,
        ids: Any,
        embs: Any = None,
        logits: Any = None,
        probs: Any = None,
        split: str | None = None,
        epoch: int | None = None,
        inference_name: str | None = None,
        exclude_embs: bool = False,
    ) -> None:
        """Validate and copy one batch of model outputs, then queue it for the background writer."""
        fast = self._fast
        if (fast is not None and type(ids) is np.ndarray and type(embs) is np.ndarray
                and type(logits) is np.ndarray and probs is None and not exclude_embs
                and fast.log(self, ids, embs, logits, split, inference_name, epoch)):
            return
        fn = "dq.log_model_outputs"
        self._check_active(fn)
        key, ep = self._output_route(split, inference_name, epoch, fn)
        m = self.manifest
        # Ids are not copied here: they are read during this call and copied into the slab.
        ids_arr = check_ids(ids, fn=fn, copy=False)
        n = ids_arr.shape[0]
        id_kind = self._check_id_type(ids_arr, fn)
        # Checked, not yet copied: the one copy goes straight into the writer's slab, below.
        embs_src = logits_src = None
        if self.task.unit == "span":
            # NER: one row per token; the sample id repeats over its tokens (see _check_tokens).
            row_ids, embs_arr, logits_arr = self._check_tokens(ids_arr, embs, logits, probs, exclude_embs, fn)
        else:
            row_ids, embs_arr = ids_arr, None
            if not exclude_embs:
                if embs is None:
                    raise ShapeError(f"{fn}: `embs` is required (one embedding per sample) unless exclude_embs=True.")
                d = m["embedding_dim"]
                embs_src = as_matrix(
                    embs, fn=fn, arg="embs", n_rows=n, width=d,
                    width_hint=lambda: f" and the embedding width {d} of earlier batches" if d else "",
                )
            logits_src = self._logits_source(logits, probs, n, fn)
            if embs_src is None:
                logits_arr = copy_finite(logits_src, np.empty(logits_src.shape, np.float32), fn=fn, arg="logits")
        with self._lock:
            current = self._output_ids.get(key)
            if current is not None and current[0] == ep:
                _, seen, directory = current
            else:  # a new epoch for this split: its ids start afresh (finish() checks them all)
                seen, directory, current = IdSet(), self.paths.outputs(key, ep), None
            writer = self._get_writer()
            with writer.lock:
                slab = None
                if embs_src is not None:
                    # The caller's copy, validated in place, in the rows the writer will write.
                    slab, start = writer.slot(directory, ids_arr.dtype.kind, embs_src.shape[1], logits_src.shape[1], n)
                    end = start + n
                    logits_arr = copy_finite(logits_src, slab.logits[start:end], fn=fn, arg="logits")
                    writer.place_ids(slab, ids_arr)
                repeated, clash = seen.check(ids_arr)
                if repeated:
                    raise DuplicateIdError(f"{fn}: `ids` must be unique within a batch; {repeated} repeat.")
                if clash:
                    where = f"split {key!r}" + ("" if ep is None else f", epoch {ep}")
                    raise DuplicateIdError(
                        f"{fn}: `ids` {sorted(set(clash), key=str)[:10]} were already logged for {where}; "
                        "each sample is logged once per epoch (a new epoch may log the same ids again)."
                    )
                if key not in self._claimed:
                    self._claim(key, fn)
                seen.add(ids_arr)  # taken back below if anything after this fails
                try:
                    if slab is not None:
                        # The large copy last, so the checks above run before it evicts them from
                        # the cache; little runs after it.
                        embs_arr = copy_finite(embs_src, slab.embs[start:end], fn=fn, arg="embs")
                    if m["id_type"] is None or m["logits_dim"] is None or (
                        embs_arr is not None and m["embedding_dim"] is None
                    ):
                        if m["id_type"] is None:
                            m["id_type"] = id_kind
                        if embs_arr is not None and m["embedding_dim"] is None:
                            m["embedding_dim"] = int(embs_arr.shape[1])
                        if m["logits_dim"] is None:
                            m["logits_dim"] = int(logits_arr.shape[1])
                        self._save_manifest()
                    # Nothing above changed what is logged; from here the batch counts.
                    if slab is not None:
                        writer.commit(slab, ids_arr, ids_placed=True)
                    else:
                        writer.put(directory, row_ids, embs_arr, logits_arr)
                except BaseException:
                    seen.discard(ids_arr)
                    raise
            if current is None:
                current = self._output_ids[key] = (ep, seen, directory)
            self._fast = _FastPath.after(
                self, current, writer, slab is not None and id_kind == "int" and logits_src is logits,
                embs_src, logits_src, split, inference_name, epoch, key,
            )

    def _output_route(self, split: Any, inference_name: Any, epoch: Any, fn: str) -> tuple[str, int | None]:
        """The split folder key and epoch a ``log_model_outputs`` call logs to (see _resolve).

        A training loop asks the same question every batch: answers for plain ``str``/``int``/None
        arguments are kept, keyed by the arguments and the split and epoch set on the run.
        """
        cacheable = _plain(split, inference_name, epoch)
        if cacheable:
            ck = (split, inference_name, epoch, self.split, self.inference_name, self.epoch)
            hit = self._routes.get(ck)
            if hit is not None:
                return hit
        s, name = self._resolve(split, inference_name, fn=fn)
        if s == S.INFERENCE:
            ep = None
        else:
            ep = self.epoch if epoch is None else epoch
            if ep is None:
                raise SplitError(
                    f"{fn}: no epoch is set for split {s!r}. Pass `epoch=` or call dq.set_epoch(...) first."
                )
            ep = check_epoch(ep, fn=fn)
        route = (S.split_key(s, name), ep)
        if cacheable:
            if len(self._routes) >= 64:  # e.g. a new epoch number every call: keep it small
                self._routes.clear()
            self._routes[ck] = route
        return route

    def _check_tokens(self, ids: np.ndarray, embs: Any, logits: Any, probs: Any, exclude_embs: bool,
                      fn: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """NER outputs: per sample ``embs[i]`` (tokens_i, d) and ``logits[i]`` (tokens_i, k), as
        lists of arrays/tensors or padded 3-D arrays (padding is cut at finish() to the sample's
        logged token count). Returns the sample id per token row and the stacked token arrays."""
        n = len(ids)
        if probs is not None:
            raise ShapeError(f"{fn}: NER takes `logits` per token; `probs` is not supported for text_ner.")
        if logits is None:
            raise ShapeError(f"{fn}: `logits` is required: one (tokens, n_labels) array per sample.")
        m = self.manifest
        labels = self.labels
        k = len(labels) if labels is not None else m.get("logits_dim")
        d = m.get("embedding_dim")
        lg = _per_sample(logits, n, fn=fn, arg="logits")
        em = None if exclude_embs else _per_sample(embs, n, fn=fn, arg="embs") if embs is not None else None
        if em is None and not exclude_embs:
            raise ShapeError(f"{fn}: `embs` is required (one (tokens, d) array per sample) unless exclude_embs=True.")
        lengths = np.empty(n, dtype=np.int64)
        for i in range(n):
            a = lg[i]
            if a.ndim != 2 or a.shape[0] == 0 or (k is not None and a.shape[1] != k):
                raise ShapeError(
                    f"{fn}: `logits[{i}]` (id {_py(ids[i])!r}) must have shape (tokens, {k if k else 'n_labels'})"
                    f"{' to match the ' + str(k) + ' tags set by dq.set_labels_for_run' if labels else ''}; got {a.shape}."
                )
            k = a.shape[1]
            lengths[i] = a.shape[0]
            if em is not None:
                e = em[i]
                if e.ndim != 2 or e.shape[0] != a.shape[0] or (d is not None and e.shape[1] != d):
                    raise ShapeError(
                        f"{fn}: `embs[{i}]` (id {_py(ids[i])!r}) must have shape ({a.shape[0]}, {d if d else 'd'}) to match "
                        f"`logits[{i}]`{' and the embedding width of earlier batches' if d else ''}; got {e.shape}."
                    )
                d = e.shape[1]
        flat_logits = check_matrix(np.concatenate(lg), fn=fn, arg="logits", n_rows=int(lengths.sum()), width=k)
        flat_embs = None
        if em is not None:
            flat_embs = check_matrix(np.concatenate(em), fn=fn, arg="embs", n_rows=int(lengths.sum()), width=d)
        return np.repeat(ids, lengths), flat_embs, flat_logits

    def _logits_source(self, logits: Any, probs: Any, n: int, fn: str) -> np.ndarray:
        """The (n, k) logits of a batch, shape-checked: the caller's array where it can be copied
        as it is (see ``copy_finite``), else logits computed from sigmoid outputs or probs."""
        labels = self.labels
        width = len(labels) if labels is not None else self.manifest.get("logits_dim")
        if (probs is None and type(logits) is np.ndarray and logits.ndim == 2 and logits.shape[0] == n
                and logits.dtype.kind == "f" and logits.shape[1] >= 2
                and (width is None or logits.shape[1] == width)):
            return logits  # the usual batch: (n, k) floats, copied and checked by copy_finite
        def hint() -> str:  # for the message only
            return f" and the {width} labels set by dq.set_labels_for_run" if labels is not None else (
                f" and the {width} logit columns of earlier batches" if width else "")
        if (logits is None) == (probs is None):
            raise ShapeError(f"{fn}: pass exactly one of `logits` and `probs`; got {'both' if logits is not None else 'neither'}.")
        arg = "logits" if logits is not None else "probs"
        arr = to_numpy(logits if logits is not None else probs, fn=fn, arg=arg)
        binary = arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)
        if binary and arr.shape[0] == n:
            if width is not None and width != 2:
                raise ShapeError(
                    f"{fn}: `{arg}` of shape {arr.shape} means a binary (sigmoid) model, but the run has "
                    f"{width} labels; pass shape ({n}, {width})."
                )
            col = check_matrix(arr.reshape(n, 1), fn=fn, arg=arg, n_rows=n, width=1)[:, 0]
            if probs is not None:
                _check_probs(col, fn=fn)
                p = np.clip(col, 1e-12, 1 - 1e-7)
                return np.ascontiguousarray(np.stack([np.log1p(-p), np.log(p)], axis=1), dtype=np.float32)
            half = col / 2
            return np.ascontiguousarray(np.stack([-half, half], axis=1), dtype=np.float32)
        out = as_matrix(arr, fn=fn, arg=arg, n_rows=n, width=width, width_hint=hint)
        if out.shape[1] < 2:
            raise ShapeError(f"{fn}: `{arg}` needs at least 2 columns; got {out.shape}.")
        if probs is not None:
            out = copy_finite(out, np.empty(out.shape, np.float32), fn=fn, arg=arg)
            _check_probs(out, fn=fn)
            sums = out.sum(axis=1)
            if not np.allclose(sums, 1.0, atol=1e-3):
                bad = np.flatnonzero(~np.isclose(sums, 1.0, atol=1e-3))
                raise ShapeError(f"{fn}: each row of `probs` must sum to 1; rows {bad[:10].tolist()} sum to {sums[bad[:3]].tolist()}.")
            out = np.log(np.clip(out, 1e-12, None)).astype(np.float32)
        return out

    def _get_writer(self):
        if self._writer is None or not self._writer.alive:
            from ..core.writer import OutputWriter

            # A new writer (after finish() failed, or after fail()) restarts its part counter:
            # give each writer of this session its own token, so its parts never take (and
            # overwrite) the names of parts an earlier writer wrote. The names still start with
            # ``part-<session>-``, which is what _claim looks for.
            self._writer_gen += 1
            # The run's lock is the writer's: a batch takes one lock, not two.
            self._writer = OutputWriter(f"{self.session}-w{self._writer_gen}", lock=self._lock)
            if not self._atexit_registered:
                atexit.register(self._at_exit)
                self._atexit_registered = True
        return self._writer

    def _at_exit(self) -> None:
        """Close open parts at interpreter exit so logged outputs are not left half-written."""
        if self._writer is not None and not self.finished:
            self._fast = None
            try:
                self._writer.close()
            except Exception as e:  # noqa: BLE001 - exiting; say it, do not hide it
                print(f"dataquality: writing model outputs at exit failed: {e}", file=sys.stderr)

    def flush(self) -> None:
        """Write everything logged so far to disk (finish() does this too)."""
        self._flush_samples()
        if self._writer is not None:
            self._writer.flush()

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
        self._fast = None
        if self._writer is not None:
            self._writer.close()
        report = finish_run(self, signals=signals, fn=fn)
        self.finished = True
        self.manifest["status"] = "finished"
        self.manifest["finished_at"] = store.now_iso()
        self._save_manifest()
        if self._atexit_registered:
            atexit.unregister(self._at_exit)
            self._atexit_registered = False
        if verbose:
            _print_report(self, report)
        return report

    def fail(self) -> None:
        """Mark the run failed (what was logged stays on disk)."""
        try:
            self.flush()
        finally:
            self._fast = None
            if self._writer is not None and self._writer.alive:
                try:
                    self._writer.close()
                except Exception:  # noqa: BLE001 - the original exception is the one to see
                    pass
            self.manifest["status"] = "failed"
            self._save_manifest()
            if self._atexit_registered:  # the writer is closed: nothing is left to write at exit
                atexit.unregister(self._at_exit)
                self._atexit_registered = False

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


def _versions() -> dict:
    import platform

    from .. import __version__

    out = {"dataquality": __version__, "python": platform.python_version(), "numpy": np.__version__}
    return out


def _dups(values: list) -> list:
    seen, dups = set(), []
    for v in values:
        if v in seen and v not in dups:
            dups.append(v)
            if len(dups) >= 10:
                break
        seen.add(v)
    return dups


def _py(v: Any) -> Any:
    """A numpy scalar as the Python value it holds (so messages show ``1``, not ``np.int64(1)``)."""
    return v.item() if isinstance(v, np.generic) else v


def _with_fn(check, fn: str, *args):
    """Call a ``dataquality.tasks.text_ner`` checker; its ConfigurationError names ``fn`` instead of itself."""
    try:
        return check(*args)
    except ConfigurationError as e:
        msg = str(e)
        head, sep, rest = msg.partition(": ")
        raise ConfigurationError(f"{fn}: {rest if sep and ' ' not in head else msg}") from None


def _per_sample(x: Any, n: int, *, fn: str, arg: str) -> list[np.ndarray]:
    """NER per-token arrays as a list of ``n`` numpy arrays (from a list, or a padded 3-D array)."""
    if isinstance(x, (list, tuple)):
        if len(x) != n:
            raise ShapeError(f"{fn}: `{arg}` must hold one array per sample ({n} to match `ids`); got {len(x)}.")
        return [to_numpy(v, fn=fn, arg=f"{arg}[{i}]") for i, v in enumerate(x)]
    arr = to_numpy(x, fn=fn, arg=arg)
    if arr.ndim != 3 or arr.shape[0] != n:
        raise ShapeError(
            f"{fn}: `{arg}` must be a list of {n} (tokens, width) arrays or an array of shape ({n}, tokens, width); "
            f"got shape {arr.shape}."
        )
    return list(arr)


def _as_list(v: Any, *, fn: str, arg: str) -> list:
    if v is None or isinstance(v, (str, bytes)):
        raise InputTypeError(f"{fn}: `{arg}` must be a list (one value per sample); got {type(v).__name__}.")
    if hasattr(v, "tolist"):
        return list(to_numpy(v, fn=fn, arg=arg).tolist()) if not hasattr(v, "to_list") else v.to_list()
    try:
        return list(v)
    except TypeError:
        raise InputTypeError(f"{fn}: `{arg}` must be a list (one value per sample); got {type(v).__name__}.") from None


def _check_probs(arr: np.ndarray, *, fn: str) -> None:
    if (arr < 0).any() or (arr > 1).any():
        raise SchemaError(f"{fn}: `probs` must lie in [0, 1]; got values from {float(arr.min())} to {float(arr.max())}.")

