"""The shape of the package, checked over ``src/``: no import cycles, no private names imported
across modules, imports that flow one way between the package's sides, small modules, and no
task names outside the task folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "dataquality"
MAX_LINES = 500

# Which top-level parts of the package may import which (one way). A part not listed may import
# anything but those that import it. Lazy (function-level) imports count too.
LAYERS = {
    "core": {"exceptions"},
    "exceptions": set(),
    "signals": {"core", "exceptions"},
    "tasks": {"core", "signals", "exceptions"},
    "logging": {"core", "signals", "tasks", "exceptions", "pipeline"},
    "pipeline": {"core", "signals", "tasks", "exceptions"},
    "read": {"core", "signals", "tasks", "exceptions"},
}


ANYONE = {"exceptions", "version"}  # leaves every part may import


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted((SRC / PKG).rglob("*.py")):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _walk(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:`` (type-only imports run nothing)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(mod: str, path: Path):
    """(target module, imported name or None, line) for every import of a package module."""
    tree = ast.parse(path.read_text())
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == PKG:
                    yield a.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PKG:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:
                    yield sub, None, node.lineno
                else:
                    yield target, a.name, node.lineno


def _part(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for target, _, _ in _imports(mod, path):
            if target in MODULES and target != mod:
                g[mod].add(target)
    return g


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on, stack, out = set(), [], []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    # A sub-package's __init__ re-exporting its own modules is not a cycle of the code's logic;
    # every other loop is, lazy imports included (the root package's imports count: a module that
    # imports ``dataquality`` itself depends on everything the package exposes).
    g = _graph()
    for mod in g:
        if MODULES[mod].name == "__init__.py" and mod != PKG:
            g[mod] = {t for t in g[mod] if not t.startswith(mod + ".")}
    assert _cycles(g) == []


def test_no_private_names_imported_across_modules():
    bad = []
    for mod, path in MODULES.items():
        aliases = {}
        tree = ast.parse(path.read_text())
        for target, name, line in _imports(mod, path):
            if name is not None and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{mod}:{line} imports {target}.{name}")
        for node in _walk(tree):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    aliases[a.asname or a.name] = True
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith(PKG):
                        aliases[(a.asname or a.name).split(".")[0]] = True
        for node in _walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_") and not node.attr.startswith("__")):
                target = f"{node.value.id}"
                bad.append(f"{mod}:{node.lineno} uses {target}.{node.attr}")
    assert bad == []


def test_imports_flow_one_way():
    bad = []
    for mod, path in MODULES.items():
        part = _part(mod)
        if part not in LAYERS:
            continue
        for target, _, line in _imports(mod, path):
            tp = _part(target)
            if tp and tp != part and tp not in LAYERS[part] and tp not in ANYONE:
                bad.append(f"{mod}:{line} ({part}) imports {target} ({tp})")
    assert bad == []


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_modules_are_small(mod):
    n = len(MODULES[mod].read_text().splitlines())
    assert n <= MAX_LINES, f"{mod} has {n} lines (at most {MAX_LINES}): split it by idea"


def test_no_task_names_outside_task_folders():
    """Only a task's own folder (and the registry) may name a task type; everyone else asks the
    run's task. Docstrings may show examples; ``dq.init``'s default (Galileo's signature) is the
    one name allowed in code."""
    from dataquality.tasks import TASK_ALIASES

    bad = []
    for mod, path in MODULES.items():
        if mod.startswith((f"{PKG}.tasks", f"{PKG}.demo")) or mod == f"{PKG}.cli":  # the CLI names demos
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.value) for n in _walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        allowed = set()
        for n in _walk(tree):
            if isinstance(n, ast.FunctionDef) and n.name == "init" and mod == f"{PKG}.api":
                allowed |= {id(d) for d in n.args.defaults}
        for n in _walk(tree):
            if (isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.lower() in TASK_ALIASES
                    and id(n) not in docstrings and id(n) not in allowed):
                bad.append(f"{mod}:{n.lineno}: {n.value!r}")
    assert bad == []


def test_demo_is_outside_the_core_import_graph():
    """The demo and its corpus/encoder helpers are imported only by the ``dq demo`` command."""
    bad = [f"{mod}:{line}" for mod, path in MODULES.items()
           if not mod.startswith(f"{PKG}.demo") and mod != f"{PKG}.cli"
           for target, _, line in _imports(mod, path) if target.startswith(f"{PKG}.demo")]
    assert bad == []


def test_front_end_names_no_task():
    front = SRC.parent / "frontend" / "src"
    if not front.is_dir():
        pytest.skip("no front-end sources in this checkout")
    from dataquality.tasks import TASK_ALIASES

    pat = re.compile(r"""(['"`])(%s)\1""" % "|".join(map(re.escape, TASK_ALIASES)))
    bad = [f"{p.name}:{i}" for p in sorted(front.rglob("*.js*")) for i, line in enumerate(p.read_text().splitlines(), 1)
           if pat.search(line) or re.search(r"\bisNer\b", line)]
    assert bad == []
