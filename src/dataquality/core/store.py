"""The run store on disk: where runs live, their manifest, and atomic writes.

The root is ``$DQ_HOME`` (default ``~/.dataquality``). Each run is a folder
``<root>/<project>/<run>/`` with a ``run.json`` manifest; nothing else is global.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import layout as S
from ..exceptions import ConfigurationError, RunNotFoundError


def root_dir(root: str | os.PathLike | None = None) -> Path:
    """The store root: ``root`` if given, else ``$DQ_HOME``, else ``~/.dataquality``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("DQ_HOME")
    return Path(env).expanduser() if env else Path.home() / ".dataquality"


def check_name(value: Any, *, fn: str, arg: str) -> str:
    """Validate a project or run name; it becomes a folder name, so no paths, no dots first."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{fn}: `{arg}` must be a string; got {type(value).__name__}.")
    if not S.NAME_PATTERN.match(value) or value in (".", ".."):
        raise ConfigurationError(
            f"{fn}: `{arg}` must be 1-128 characters of letters, digits, '_', '-' or '.', not "
            f"starting with '.' or '-' (it becomes a folder name); got {value!r}."
        )
    return value


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_token() -> str:
    """A short random token naming one logging session's files."""
    return secrets.token_hex(4)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{S.TMP_PREFIX}{new_token()}-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def read_json(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.load(f)


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished ``tmp`` folder to ``final``, replacing what was there."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f"{S.TMP_PREFIX}old-{new_token()}-{final.name}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class RunPaths:
    """Paths of one run folder."""

    dir: Path

    @property
    def manifest(self) -> Path:
        return self.dir / S.MANIFEST

    def inputs(self, key: str) -> Path:
        return self.dir / S.INPUTS_DIR / key

    def outputs(self, key: str, epoch: int | None = None) -> Path:
        base = self.dir / S.OUTPUTS_DIR / key
        return base if epoch is None else base / str(epoch)

    def results(self, key: str | None = None) -> Path:
        base = self.dir / S.RESULTS_DIR
        return base if key is None else base / key

    @property
    def summary(self) -> Path:
        return self.results() / S.SUMMARY_FILE


def run_paths(project: str, run: str, root: str | os.PathLike | None = None) -> RunPaths:
    return RunPaths(root_dir(root) / project / run)


def load_manifest(paths: RunPaths) -> dict:
    if not paths.manifest.exists():
        raise RunNotFoundError(f"No run at {paths.dir} (no {S.MANIFEST}).")
    return read_json(paths.manifest)


def find_run(project_name: str, run_name: str, *, fn: str, root=None) -> tuple[RunPaths, dict]:
    """Locate a run for reading; a clear error names what exists when it does not."""
    check_name(project_name, fn=fn, arg="project_name")
    check_name(run_name, fn=fn, arg="run_name")
    paths = run_paths(project_name, run_name, root)
    if not paths.manifest.exists():
        base = root_dir(root)
        if not (base / project_name).is_dir():
            raise RunNotFoundError(
                f"{fn}: no project {project_name!r} under {base}; projects there: "
                f"{sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []}."
            )
        runs = sorted(p.name for p in (base / project_name).iterdir() if (p / S.MANIFEST).exists())
        raise RunNotFoundError(
            f"{fn}: no run {run_name!r} in project {project_name!r}; runs there: {runs}."
        )
    return paths, load_manifest(paths)


def list_runs(root=None) -> list[dict]:
    """Every run under the root: project, run, task type, status, splits with results."""
    base = root_dir(root)
    out = []
    if not base.is_dir():
        return out
    for manifest in sorted(base.glob(f"*/*/{S.MANIFEST}")):
        try:
            m = read_json(manifest)
        except (OSError, ValueError):
            continue
        out.append(
            {
                "project_name": m.get("project_name"),
                "run_name": m.get("run_name"),
                "task_type": m.get("task_type"),
                "status": m.get("status"),
                "updated_at": m.get("updated_at"),
                "splits": sorted(m.get("results", {})),
                "path": str(manifest.parent),
            }
        )
    return out


def list_parts(directory: Path, suffix: str) -> list[Path]:
    """Complete parts (temporary names excluded) under ``directory``, recursively, sorted."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.rglob(f"part-*{suffix}") if not p.name.startswith(S.TMP_PREFIX)
    )
