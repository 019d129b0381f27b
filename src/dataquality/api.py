"""The module-level ``dq.*`` functions: spelled-out, keyword-only, each delegating to the current run.

With the kill switch ``DQ_DISABLED=1`` in the environment every function returns without doing
anything (``init`` returns an inert run), so a training script can keep its ``dq`` calls.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from .logging.inputs import DEFAULT
from .logging.run import Run, current_run, disabled, get_current_run, set_current_run


class _DisabledRun:
    """What ``dq.init`` returns while ``DQ_DISABLED`` is set: every method is a no-op."""

    finished = False

    def __getattr__(self, name: str):
        return lambda *a, **k: None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def __repr__(self) -> str:
        return "Run(disabled by DQ_DISABLED)"


def init(
    task_type: str = "text_classification",
    project_name: str | None = None,
    run_name: str | None = None,
    *,
    root: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Run:
    """Start (or extend) a run and make it the current one.

    Parameters
    ----------
    task_type : str
        ``"text_classification"`` (also for NLI: log ``text`` and ``text_pair``).
    project_name, run_name : str, optional
        Default ``"default"`` and a timestamp ``run-YYYYmmdd-HHMMSS``. An existing
        ``project_name/run_name`` is extended: e.g. a later process logs an inference set into a
        finished training run; its labels must match.
    root : path, optional
        Store root; defaults to ``$DQ_HOME`` or ``~/.dataquality``.
    overwrite : bool
        Delete an existing run of the same name first.

    Returns
    -------
    Run
        Also a context manager: a clean exit calls ``finish()``, an exception marks it failed.

    Examples
    --------
    >>> import dataquality as dq
    >>> run = dq.init("text_classification", project_name="reviews", run_name="minilm")  # doctest: +SKIP
    """
    if disabled():
        return _DisabledRun()  # type: ignore[return-value]
    project_name = "default" if project_name is None else project_name
    run_name = datetime.now().strftime("run-%Y%m%d-%H%M%S") if run_name is None else run_name
    r = Run(task_type, project_name, run_name, root=root, overwrite=overwrite)
    set_current_run(r)
    return r


def get_run() -> Run | None:
    """The current run, or None."""
    return current_run()


def set_labels_for_run(labels: Any) -> None:
    """Set the label names, in the order of the logit columns. One label ``x`` means ``NOT_x``/``x``."""
    if not disabled():
        get_current_run("dq.set_labels_for_run").set_labels_for_run(labels)


def set_signal_settings(**settings: Any) -> dict | None:
    """Set signal knobs of the current run, e.g. ``likely_mislabeled_dep_percentile=80`` (precision
    over recall), ``drift_k=10``, ``dep_knn_weight=1.0`` (DEP from training dynamics alone).

    Every knob, its range and default: ``dataquality.signals.settings.SETTINGS``. Unknown names and
    out-of-range values raise ``ConfigurationError``. The next ``finish()`` recomputes every split.
    """
    if disabled():
        return None
    return get_current_run("dq.set_signal_settings").set_signal_settings(**settings)


def set_tagging_schema(tagging_schema: str) -> None:
    """NER: the tagging schema of the labels set by ``set_labels_for_run``: ``"BIO"``,
    ``"BILOU"`` or ``"BIOES"`` (inferred from the labels when not set)."""
    if not disabled():
        fn = "dq.set_tagging_schema"
        get_current_run(fn).set_option("tagging_schema", tagging_schema, fn=fn)


def set_split(split: str, inference_name: str | None = None) -> None:
    """Set the split for later calls: train/training, validation/val, test, or inference (with a name)."""
    if not disabled():
        get_current_run("dq.set_split").set_split(split, inference_name)


def set_epoch(epoch: int) -> None:
    """Set the epoch (a non-negative integer) for later ``log_model_outputs`` calls."""
    if not disabled():
        get_current_run("dq.set_epoch").set_epoch(epoch)


def set_epoch_and_split(epoch: int, split: str, inference_name: str | None = None) -> None:
    """Set the epoch and the split at once."""
    if not disabled():
        get_current_run("dq.set_epoch_and_split").set_epoch_and_split(epoch, split, inference_name)


def log_dataset(
    dataset: Any,
    *,
    batch_size: int = 100_000,
    text: str = "text",
    id: str = "id",
    label: Any = DEFAULT,
    split: str | None = None,
    inference_name: str | None = None,
    meta: list[str] | None = None,
    text_pair: Any = DEFAULT,
) -> None:
    """Log a split's inputs: one row per sample with an id, a text, a label (not for inference).

    Parameters
    ----------
    dataset : DataFrame, datasets.Dataset, pyarrow.Table, dict of columns, iterable of dicts, or path
        Read ``batch_size`` rows at a time.
    text, id, label, text_pair : str
        Column names. ``label`` holds label names or integer indices into the run's labels;
        ``text_pair`` (the hypothesis of an NLI pair) is used when present.
    split, inference_name : str, optional
        Default: what ``dq.set_split`` chose.
    meta : list of str, optional
        Extra columns to keep (numbers, strings, booleans, dates), for filtering and slicing.

    Raises
    ------
    SchemaError, LabelError, DuplicateIdError, InputTypeError, SplitError
        A rejected call writes nothing.
    """
    if not disabled():
        get_current_run("dq.log_dataset").log_dataset(
            dataset, batch_size=batch_size, text=text, id=id, label=label, split=split,
            inference_name=inference_name, meta=meta, text_pair=text_pair,
        )


def log_data_samples(
    *,
    texts: Any,
    ids: Any,
    labels: Any = None,
    split: str | None = None,
    inference_name: str | None = None,
    meta: dict[str, Any] | None = None,
    text_pairs: Any = None,
    **kwargs: Any,
) -> None:
    """Log samples given as parallel lists (``meta`` maps a column name to its values).

    ``kwargs`` are the task's own per-sample arguments, e.g. for ``text_ner``
    ``text_token_indices`` (per sample a list of ``(start, end)`` character offsets, one per
    model token) and ``gold_spans`` (per sample a list of ``{"start", "end", "label"}``); any
    other name raises ``InputTypeError``.
    """
    if not disabled():
        get_current_run("dq.log_data_samples").log_data_samples(
            texts=texts, ids=ids, labels=labels, split=split, inference_name=inference_name,
            meta=meta, text_pairs=text_pairs, **kwargs,
        )


def log_data_sample(
    *,
    text: str,
    id: int | str,
    label: Any = None,
    split: str | None = None,
    inference_name: str | None = None,
    meta: dict[str, Any] | None = None,
    text_pair: str | None = None,
    **kwargs: Any,
) -> None:
    """Log one sample (validated now, written in parts); ``kwargs`` are the task's own
    arguments, as for :func:`log_data_samples` (one value each)."""
    if not disabled():
        get_current_run("dq.log_data_sample").log_data_sample(
            text=text, id=id, label=label, split=split, inference_name=inference_name, meta=meta,
            text_pair=text_pair, **kwargs,
        )


def log_model_outputs(
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
    """Log one batch of model outputs from inside the forward pass.

    Parameters
    ----------
    ids : sequence of int or str, shape (n,)
        Ids of the samples in the batch, as logged with ``log_dataset``.
    embs : array-like, shape (n, d)
        One embedding per sample (numpy, list, or a torch tensor on any device).
    logits : array-like, shape (n, k), (n,) or (n, 1)
        One column per label; shape (n,) or (n, 1) is a binary sigmoid output.
    probs : array-like, optional
        Probabilities instead of logits (rows sum to 1).
    split, epoch, inference_name : optional
        Default: what ``dq.set_split`` / ``dq.set_epoch`` chose. Inference takes no epoch.
    exclude_embs : bool
        Log without embeddings.

    Notes
    -----
    The caller's thread validates and copies the batch; a background thread writes it. A write
    failure is raised as ``WriterError`` by the next ``dq`` call or by ``finish()``.
    """
    if not disabled():
        get_current_run("dq.log_model_outputs").log_model_outputs(
            ids=ids, embs=embs, logits=logits, probs=probs, split=split, epoch=epoch,
            inference_name=inference_name, exclude_embs=exclude_embs,
        )


def finish(*, signals: bool = True, verbose: bool = True) -> dict | None:
    """Check and join everything logged, compute the signals, write ``results/``; prints where."""
    if disabled():
        return None
    return get_current_run("dq.finish").finish(signals=signals, verbose=verbose)


def show(
    project_name: str | None = None,
    run_name: str | None = None,
    *,
    root: str | os.PathLike | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    token: str | None = None,
) -> str:
    """Serve the local console on a background thread and print the URL of a run's page.

    Opens no browser. The server binds ``host`` (loopback by default, where no token is needed;
    any other address gets an access token, generated when ``token`` is not given, that every
    request must carry) and keeps running, on a daemon thread, until the Python process exits
    (or ``dataquality.server.runner.stop_background()``). A second call reuses it.

    Parameters
    ----------
    project_name, run_name : str, optional
        The run to show; default the current (or last) run of ``dq.init``.
    root : path, optional
        Store root; default the current run's, else ``$DQ_HOME`` or ``~/.dataquality``.
    host : str
        Address to listen on.
    port : int, optional
        Default 8765, or any free port when 8765 is taken.
    token : str, optional
        Access token to require (always required off loopback).

    Returns
    -------
    str
        The run's console URL, e.g. ``http://127.0.0.1:8765/runs/reviews/minilm``.

    Raises
    ------
    RunStateError
        No run given and none started with ``dq.init``.
    ImportError
        The ``console`` extra (FastAPI, uvicorn) is not installed.
    """
    from .exceptions import RunStateError
    from .server.runner import start_background

    if (project_name is None) != (run_name is None):
        raise RunStateError("dq.show: pass both `project_name` and `run_name`, or neither (the current run).")
    if project_name is not None:
        from .core.store import check_name

        check_name(project_name, fn="dq.show", arg="project_name")
        check_name(run_name, fn="dq.show", arg="run_name")
    if project_name is None:
        r = get_run()
        if r is None or isinstance(r, _DisabledRun):
            raise RunStateError("dq.show: no run to show; call dq.init(...) first or pass project_name and run_name.")
        project_name, run_name = r.project_name, r.run_name
        if root is None:
            root = r.paths.dir.parent.parent
    srv = start_background(root, host=host, port=port, token=token)
    url = srv.url(project_name, run_name)
    print(f"dataquality console: {url}")
    return url


def set_tasks_for_run(tasks: list[str], binary: bool = True) -> None:
    """Set the tasks of a ``text_multi_label`` run, in the order of the model's outputs.

    ``binary=True`` (the default, as Galileo's): each task ``x`` is ``NOT_x`` / ``x``, its labels
    are set here (do not call ``dq.set_labels_for_run``), samples give their active tasks and the
    model one sigmoid logit per task, ``(n, n_tasks)``. ``binary=False``: give each task its labels
    with ``dq.set_labels_for_run([[...], [...]])``, one list per task, in this order.
    """
    if not disabled():
        fn = "dq.set_tasks_for_run"
        get_current_run(fn).set_option("tasks", {"tasks": tasks, "binary": binary}, fn=fn)
