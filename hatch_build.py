"""Package build hook: builds the console's front end (``frontend/``, Vite) into
``src/dataquality/server/static`` so that every install, editable ones included, serves a working
console. Runs ``npm ci`` (when ``frontend/node_modules`` is missing or older than the lock file)
and ``npm run build`` whenever the built assets are missing or older than their sources.

Without Node.js/npm the build fails with a clear message, unless built assets are already there
(an sdist or wheel that carries them) or ``DQ_SKIP_FRONTEND=1`` is set (the API then serves a page
that says the front end is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCES = ("src", "index.html", "package.json", "package-lock.json", "vite.config.js")


def _newest(paths) -> float:
    t = 0.0
    for p in paths:
        if p.is_dir():
            for q in p.rglob("*"):
                if q.is_file():
                    t = max(t, q.stat().st_mtime)
        elif p.exists():
            t = max(t, p.stat().st_mtime)
    return t


class FrontEndBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name not in ("wheel", "sdist"):
            return
        root = Path(self.root)
        front = root / "frontend"
        static = root / "src" / "dataquality" / "server" / "static"
        index = static / "index.html"
        if os.environ.get("DQ_SKIP_FRONTEND") == "1" or not (front / "package.json").exists():
            return
        stale = not index.exists() or _newest([front / s for s in SOURCES]) > index.stat().st_mtime
        if not stale:
            return
        npm = shutil.which("npm")
        if npm is None:
            if index.exists():
                self.app.display_warning("dataquality: npm not found; keeping the console assets already built.")
                return
            raise RuntimeError(
                "dataquality: building the web console needs Node.js and npm (`apt install nodejs npm`), "
                "then build again; or set DQ_SKIP_FRONTEND=1 to install without the console's front end."
            )
        modules = front / "node_modules"
        lock = front / "package-lock.json"
        env = {**os.environ, "npm_config_fund": "false", "npm_config_audit": "false", "npm_config_update_notifier": "false"}
        if not modules.exists() or (lock.exists() and lock.stat().st_mtime > modules.stat().st_mtime):
            self.app.display_info("dataquality: installing the console's front-end packages (npm ci)")
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=front, check=True, env=env)
        self.app.display_info("dataquality: building the console's front end (vite build)")
        subprocess.run([npm, "run", "build"], cwd=front, check=True, env=env)
        if not index.exists():
            raise RuntimeError(f"dataquality: the front-end build wrote no {index}")
