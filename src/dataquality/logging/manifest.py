"""The run's manifest (``run.json``) and folders as one logging session sees them.

:class:`RunRecord` opens or creates the manifest, saves it, counts its changes (the short path
of ``log_model_outputs`` is valid only while the manifest it was decided under is unchanged),
claims a split's folders for this session and writes input parts.
"""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

import numpy as np

from ..core import layout as S
from ..core import store
from ..exceptions import ConfigurationError, InputTypeError, RunStateError
from ..tasks.base import Task


class RunRecord:
    """The manifest and folders of run ``<project>/<run>`` for one session.

    Parameters
    ----------
    task : Task
    project_name, run_name : str
        Already checked names.
    root : path or None
        Store root (see :func:`dataquality.core.store.root_dir`).
    overwrite : bool
        Delete an existing run of that name first.
    fn : str
        The ``dq`` function opening the run, for messages.

    Attributes
    ----------
    manifest : dict
        ``run.json``'s content; change it, then :meth:`save`.
    version : int
        How many times this session saved the manifest.
    paths : dataquality.core.store.RunPaths
    session : str
        Token in the name of every part this session writes.
    """

    def __init__(self, task: Task, project_name: str, run_name: str, *, root, overwrite: bool, fn: str) -> None:
        self.project_name, self.run_name = project_name, run_name
        self.paths = store.run_paths(project_name, run_name, root)
        self.session = store.new_token()
        self.version = 0
        self.claimed: set[str] = set()  # split keys this session may write (see claim)
        if overwrite and self.paths.dir.exists():
            shutil.rmtree(self.paths.dir)
        if self.paths.manifest.exists():
            self.manifest = store.load_manifest(self.paths)
            if self.manifest.get("task_type") != task.name:
                raise ConfigurationError(
                    f"{fn}: run {project_name}/{run_name} exists with task_type "
                    f"{self.manifest.get('task_type')!r}; got {task.name!r}. Use another run_name "
                    "or overwrite=True."
                )
            self.manifest["status"] = "logging"
        else:
            self.manifest = {
                "format_version": S.STORE_FORMAT_VERSION,
                "project_name": project_name,
                "run_name": run_name,
                "task_type": task.name,
                "labels": None,
                **{option: None for option in task.options},
                "id_type": None,
                "embedding_dim": None,
                "logits_dim": None,
                "status": "logging",
                "created_at": store.now_iso(),
                "results": {},
                "signal_settings": {},
            }
        self.manifest.setdefault("sessions", []).append({"session": self.session, "started_at": store.now_iso()})
        self.manifest["versions"] = versions()
        self.save()

    @property
    def name(self) -> str:
        return f"{self.project_name}/{self.run_name}"

    def save(self) -> None:
        """Write the manifest (atomically) and count the change."""
        self.version += 1
        self.manifest["updated_at"] = store.now_iso()
        store.write_json(self.paths.manifest, self.manifest)

    def claim(self, key: str, fn: str) -> None:
        """Refuse to mix this session's data for a split with an earlier session's."""
        if key in self.claimed:
            return
        own = f"part-{self.session}-"
        for d, suffix in ((self.paths.inputs(key), S.INPUT_PART_SUFFIX), (self.paths.outputs(key), S.OUTPUT_PART_SUFFIX)):
            for p in store.list_parts(d, suffix):
                if not p.name.startswith(own):
                    raise RunStateError(
                        f"{fn}: run {self.name} already has {key!r} data from an earlier session "
                        f"({p.relative_to(self.paths.dir)}). Use a new run_name (or a new "
                        "inference_name), or dq.init(..., overwrite=True) to start the run over."
                    )
        self.claimed.add(key)

    def check_id_type(self, ids: np.ndarray, fn: str, arg: str = "ids") -> str:
        """``"int"`` or ``"str"``: the kind of ``ids``, which must be that of the ids logged before."""
        kind = "int" if ids.dtype.kind == "i" else "str"
        known = self.manifest.get("id_type")
        if known is not None and known != kind:
            raise InputTypeError(
                f"{fn}: `{arg}` must be {'integers' if known == 'int' else 'strings'} like the ids "
                f"logged before in run {self.name}; got "
                f"{'integers' if kind == 'int' else 'strings'} (e.g. {ids[:3].tolist()}). Use one id type."
            )
        return kind

    def write_input_part(self, key: str, table) -> tuple[Path, Path]:
        """Write ``table`` as the next input part of split ``key`` under a temporary name;
        returns (temporary path, final path): rename it to make it count."""
        import pyarrow.parquet as pq

        d = self.paths.inputs(key)
        d.mkdir(parents=True, exist_ok=True)
        n = len(list(d.glob(f"part-{self.session}-*"))) + len(list(d.glob(f"{S.TMP_PREFIX}part-{self.session}-*")))
        name = f"part-{self.session}-{n:05d}{S.INPUT_PART_SUFFIX}"
        tmp = d / f"{S.TMP_PREFIX}{name}"
        pq.write_table(table, tmp)
        return tmp, d / name


def versions() -> dict:
    """Versions of what wrote the run, for its manifest."""
    from ..version import __version__

    return {"dataquality": __version__, "python": platform.python_version(), "numpy": np.__version__}


__all__ = ["RunRecord", "versions"]
