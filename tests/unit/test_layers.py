"""The layers hold: every import between meshlab's units follows the table of allowed arrows, no
import circle exists anywhere in the package, the package docstrings name every module (the map),
every exception meshlab defines is in ``meshlab/errors.py``'s tree, and importing a module has no
side effect on the process.

How imports are read (:func:`imports`, with ``ast``, no import executed): every ``import`` and
``from ... import`` in a module counts, at the top or inside a function (a lazy import is still an
arrow), and so do imports under ``if TYPE_CHECKING:`` (not exempt: a type-only import is an arrow a
reader follows too; meshlab has none). A *unit* is a top-level module (``meshlab.lab``) or a
subpackage (``meshlab.policy``); ``meshlab`` alone is the package's ``__init__``. Arrows inside a
unit are free, but no circle may run through them.

The checker is shown failing on tiny fake packages written to ``tmp_path`` (a circle through lazy
imports, an upward import, an arrow the table does not have).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import meshlab
from meshlab.errors import MeshlabError

ROOT = Path(meshlab.__file__).resolve().parent.parent
L = "meshlab."

#: The allowed arrows: unit -> the units (or single modules) it may import. Read top to bottom it is
#: the map of ``meshlab/__init__.py``, lowest layer first; anything not here is refused.
ALLOWED: dict[str, set[str]] = {
    # foundation
    "meshlab.version": set(),
    "meshlab.errors": set(),
    "meshlab.durations": set(),
    "meshlab.trace": set(),
    "meshlab.tables": set(),
    "meshlab.yamlnode": {"meshlab.durations", "meshlab.errors"},
    "meshlab.modes": set(),
    # description: pure data
    "meshlab.topology": {"meshlab.errors", "meshlab.yamlnode"},
    "meshlab.mesh": {"meshlab.modes", "meshlab.topology"},
    "meshlab.identity": {"meshlab.topology"},
    "meshlab.policy": {
        "meshlab.modes",
        "meshlab.durations",
        "meshlab.errors",
        "meshlab.mesh",
        "meshlab.topology",
        "meshlab.yamlnode",
    },
    # data plane
    "meshlab.net": {"meshlab.modes", "meshlab.errors", "meshlab.topology"},
    "meshlab.proxy": {"meshlab.errors", "meshlab.identity", "meshlab.net", "meshlab.policy", "meshlab.trace"},
    "meshlab.apps": {"meshlab.net", "meshlab.topology", "meshlab.trace"},
    "meshlab.telemetry": {"meshlab.modes", "meshlab.trace", "meshlab.version"},
    # realization
    "meshlab.backends": {
        "meshlab.apps",
        "meshlab.errors",
        "meshlab.modes",
        "meshlab.net",
        "meshlab.telemetry",
        "meshlab.topology",
    },
    "meshlab.enrollment": {"meshlab.mesh", "meshlab.topology"},
    "meshlab.export_manifests": {"meshlab.topology"},
    "meshlab.export_images": {"meshlab.topology"},
    "meshlab.export_readme": {"meshlab.export_manifests"},
    "meshlab.export": {
        "meshlab.enrollment",
        "meshlab.errors",
        "meshlab.export_images",
        "meshlab.export_manifests",
        "meshlab.export_readme",
        "meshlab.mesh",
        "meshlab.policy.builder",
        "meshlab.topology",
    },
    "meshlab.supervisor": {
        "meshlab.backends",
        "meshlab.errors",
        "meshlab.identity",
        "meshlab.net",
        "meshlab.topology",
    },
    # recordings: what a lab measured, as data; read back with no lab (nothing that runs one)
    "meshlab.records": {"meshlab.errors", "meshlab.topology"},
    "meshlab.replay": {
        "meshlab.errors",
        "meshlab.records",
        "meshlab.telemetry",
        "meshlab.topology",
        "meshlab.trace",
        "meshlab.version",
    },
    # the facade
    "meshlab.lab": {
        "meshlab.modes",
        "meshlab.apps",
        "meshlab.backends",
        "meshlab.enrollment",
        "meshlab.errors",
        "meshlab.export",
        "meshlab.identity",
        "meshlab.mesh",
        "meshlab.net",
        "meshlab.policy",
        "meshlab.replay",
        "meshlab.supervisor",
        "meshlab.telemetry",
        "meshlab.topology",
        "meshlab.trace",
    },
    # on top of the lab: measurements, UI, exercises
    "meshlab.compare": {"meshlab.modes", "meshlab.lab", "meshlab.proxy", "meshlab.telemetry"},
    "meshlab.bench": {
        "meshlab.compare",
        "meshlab.identity",
        "meshlab.lab",
        "meshlab.net",
        "meshlab.proxy",
        "meshlab.telemetry",
    },
    "meshlab.fuzzgen": {"meshlab.net"},
    "meshlab.fuzzprobe": {"meshlab.fuzzgen"},
    "meshlab.fuzztargets": {"meshlab.fuzzgen", "meshlab.fuzzprobe", "meshlab.identity", "meshlab.net"},
    "meshlab.fuzzbench": {"meshlab.fuzzgen", "meshlab.fuzztargets", "meshlab.lab"},
    "meshlab.viz_layout": set(),
    "meshlab.viz": {"meshlab.modes", "meshlab.telemetry", "meshlab.viz_layout"},
    # the widgets hold no mesh logic: the lab (passed in), the pure policy builder, plots
    "meshlab.widgets": {"meshlab.errors", "meshlab.policy.builder", "meshlab.viz"},
    "meshlab.bench_panel": {"meshlab.lab", "meshlab.widgets"},
    "meshlab.probes": {"meshlab.modes"},
    "meshlab.exercises": {"meshlab.errors", "meshlab.viz"},
    "meshlab.tasks": {
        "meshlab.modes",
        "meshlab.errors",
        "meshlab.probes",
        "meshlab.exercises",
        "meshlab.export",
        "meshlab.identity",
        "meshlab.policy",
        "meshlab.topology",
        "meshlab.viz",
    },
    "meshlab.report": {"meshlab.replay", "meshlab.telemetry", "meshlab.viz"},
    "meshlab.dashboard": {
        "meshlab.lab",
        "meshlab.replay",
        "meshlab.telemetry",
        "meshlab.viz",
        "meshlab.widgets",
    },
    # for instructors: builds, grading and the class view of the notebooks' tasks
    "meshlab.classroom": {
        "meshlab.backends",
        "meshlab.errors",
        "meshlab.exercises",
        "meshlab.lab",
        "meshlab.tasks",
    },
    # entry points
    "meshlab.cli": {
        "meshlab.modes",
        "meshlab.backends",
        "meshlab.bench",
        "meshlab.bench_panel",
        "meshlab.classroom",
        "meshlab.compare",
        "meshlab.errors",
        "meshlab.export",
        "meshlab.fuzzbench",
        "meshlab.lab",
        "meshlab.policy",
        "meshlab.report",
        "meshlab.topology",
    },
    "meshlab.__main__": {"meshlab.cli"},
    "meshlab": {"meshlab.lab", "meshlab.topology", "meshlab.version"},
}


# ------------------------------------------------------------------------------------------------
# the checker: pure functions over a source tree
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrow:
    source: str  # the importing module
    target: str  # the imported module (a package means its __init__)
    line: int

    def where(self, root: Path) -> str:
        return f"{_file_of(self.source, root)}:{self.line}"


def _file_of(module: str, root: Path) -> str:
    p = root.joinpath(*module.split("."))
    return str((p / "__init__.py" if p.is_dir() else p.with_suffix(".py")).relative_to(root))


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``root``: dotted name -> file (a package is its __init__)."""
    out = {}
    for f in sorted((root / package).rglob("*.py")):
        parts = list(f.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def imports(root: Path, package: str) -> list[Arrow]:
    """Every import of a module of ``package`` by a module of ``package``, wherever it is written."""
    mods = modules(root, package)
    arrows = []
    for name, f in mods.items():
        pkg = name if f.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                found = [_existing(a.name, mods) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                # "from x import y": the module x.y when y is one, else x
                found = [
                    f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else _existing(mod, mods)
                    for a in node.names
                ]
            else:
                continue
            arrows += [Arrow(name, t, node.lineno) for t in dict.fromkeys(found) if t and t != name]
    return arrows


def _existing(dotted: str, mods: dict) -> str | None:
    while dotted and dotted not in mods:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def unit_of(module: str, package: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and parts[0] == package else module


def circles(arrows: list[Arrow]) -> list[list[str]]:
    """The import circles among modules: strongly connected components of more than one module."""
    graph: dict[str, set[str]] = {}
    for a in arrows:
        graph.setdefault(a.source, set()).add(a.target)
        graph.setdefault(a.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _reachable(table: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for t in table.get(todo.pop(), ()):
            t = t if t in table else next((u for u in table if t.startswith(u + ".")), t)
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def departures(root: Path, package: str, allowed: dict[str, set[str]]) -> list[str]:
    """Everything that breaks the layering, one readable line each (empty: the layers hold)."""
    arrows = imports(root, package)
    problems = []
    for cycle in circles(arrows):
        inside = [a for a in arrows if a.source in cycle and a.target in cycle]
        problems.append(
            f"import circle {' <-> '.join(cycle)}: "
            + "; ".join(f"{a.where(root)} imports {a.target}" for a in inside)
        )
    for a in arrows:
        src, dst = unit_of(a.source, package), unit_of(a.target, package)
        if src == dst:
            continue
        if src not in allowed:
            problems.append(
                f"{a.where(root)}: {src} is not in the table of allowed arrows; add it to its layer"
            )
            continue
        ok = allowed[src]
        if dst in ok or any(a.target == m or a.target.startswith(m + ".") for m in ok):
            continue
        if src in _reachable(allowed, dst):
            problems.append(
                f"{a.where(root)}: upward import: {a.source} imports {a.target}, but {dst} is above "
                f"{src} (it may import {src}); move the shared code down, or pass it in"
            )
        else:
            problems.append(
                f"{a.where(root)}: {a.source} imports {a.target}: the arrow {src} -> {dst} is not in "
                f"the table; {src} may import {', '.join(sorted(ok)) or 'nothing of ' + package}"
            )
    return problems


# ------------------------------------------------------------------------------------------------
# meshlab as it is
# ------------------------------------------------------------------------------------------------


def test_meshlab_imports_follow_the_table_with_no_circle_and_nothing_upward():
    assert departures(ROOT, "meshlab", ALLOWED) == []


def test_the_table_itself_has_no_circle_and_names_every_unit():
    arrows = [Arrow(s, t, 0) for s, ts in ALLOWED.items() for t in ts]
    assert circles(arrows) == []
    units = {unit_of(m, "meshlab") for m in modules(ROOT, "meshlab")}
    assert units == set(ALLOWED), (
        f"in the package, not the table: {units - set(ALLOWED)}; "
        f"in the table, not the package: {set(ALLOWED) - units}"
    )


def _doc(f: Path) -> str:
    return ast.get_docstring(ast.parse(f.read_text())) or ""


def test_the_package_docstrings_are_the_map_naming_every_unit_and_module():
    """``meshlab/__init__.py`` names every unit (``meshlab.X``) under its layer, in the table's
    order; each subpackage's docstring names each of its modules (``.name``)."""
    mods = modules(ROOT, "meshlab")
    root_doc = _doc(mods["meshlab"])
    units = sorted({unit_of(m, "meshlab") for m in mods} - {"meshlab", "meshlab.__main__"})
    missing = [u for u in units if f"`{u}`" not in root_doc]
    assert not missing, f"meshlab/__init__.py's map does not name {missing}"
    positions = [root_doc.index(f"`{u}`") for u in ALLOWED if u in units]
    assert positions == sorted(positions), "the map lists the units in another order than the table's layers"
    for pkg in sorted(m for m, f in mods.items() if f.name == "__init__.py" and m != "meshlab"):
        doc = _doc(mods[pkg])
        children = [m.rpartition(".")[2] for m in mods if m.rpartition(".")[0] == pkg]
        unnamed = [c for c in children if f"`.{c}`" not in doc and f"`{pkg}.{c}`" not in doc]
        assert not unnamed, f"{_file_of(pkg, ROOT)}'s docstring does not name {unnamed}"


# ------------------------------------------------------------------------------------------------
# the checker fails where it should: fake packages in tmp_path
# ------------------------------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


FAKE_TABLE = {
    "fake": set(),
    "fake.low": set(),
    "fake.mid": {"fake.low"},
    "fake.high": {"fake.mid", "fake.low"},
    "fake.side": set(),
}


def test_a_circle_through_lazy_imports_inside_a_subpackage_is_reported(tmp_path):
    """Two modules of one unit import each other, one of them inside a function (as backends/
    did through choose_backend): no unit-to-unit arrow is wrong, the circle still is."""
    root = _write(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/low/__init__.py": "from .base import Base\n",
            "fake/low/base.py": "def choose():\n    from .impl import Impl\n    return Impl()\n\nclass Base: pass\n",
            "fake/low/impl.py": "from .base import Base\n\nclass Impl(Base): pass\n",
            "fake/mid.py": "",
            "fake/high.py": "",
            "fake/side.py": "",
        },
    )
    found = departures(root, "fake", FAKE_TABLE)
    assert len(found) == 1 and found[0].startswith("import circle fake.low.base <-> fake.low.impl: ")
    assert (
        "fake/low/base.py:2 imports fake.low.impl" in found[0]
        and "fake/low/impl.py:1 imports fake.low.base" in found[0]
    )


def test_an_upward_import_and_an_arrow_not_in_the_table_are_reported_with_file_and_line(tmp_path):
    root = _write(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/low.py": (
                "import os\n\ndef f():\n    from fake.high import thing   # upward, and lazy\n    return thing\n"
            ),
            "fake/mid.py": "from . import low\n",
            "fake/high.py": "from .mid import low\nthing = 1\n",
            "fake/side.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .low import f\n",
        },
    )
    found = departures(root, "fake", FAKE_TABLE)
    assert any(p.startswith("import circle fake.high <-> fake.low <-> fake.mid") for p in found)
    assert "fake/low.py:4: upward import: fake.low imports fake.high" in "\n".join(found)
    assert any(
        p.startswith(
            "fake/side.py:3: fake.side imports fake.low: the arrow fake.side -> fake.low is not in the table"
        )
        for p in found
    )  # a TYPE_CHECKING import counts
    assert len(found) == 3


def test_a_unit_missing_from_the_table_is_reported(tmp_path):
    root = _write(tmp_path, {"fake/__init__.py": "", "fake/low.py": "", "fake/new.py": "from . import low\n"})
    assert departures(root, "fake", FAKE_TABLE) == [
        "fake/new.py:1: fake.new is not in the table of allowed arrows; add it to its layer"
    ]


# ------------------------------------------------------------------------------------------------
# habits: one exception tree, no import-time side effects, a CLI without ipywidgets
# ------------------------------------------------------------------------------------------------


def test_every_exception_meshlab_defines_is_in_the_errors_tree():
    strays = []
    for info in pkgutil.walk_packages(meshlab.__path__, L):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
                and not issubclass(obj, MeshlabError)
            ):
                strays.append(f"{info.name}.{name}")
    assert strays == [], (
        f"exceptions outside meshlab/errors.py's tree (derive them from MeshlabError): {strays}"
    )


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_importing_viz_and_the_proxy_metrics_changes_nothing_outside_them():
    """viz used to register its PNG formatter with IPython on import, and prometheus_client (which
    registers process, platform and GC collectors in its global registry when imported) must load only
    when a proxy is scraped. Registering is an explicit call: the notebooks' session and the panel
    make it."""
    r = _python("""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        png = shell.display_formatter.formatters["image/png"]
        import meshlab.viz, meshlab.proxy.metrics
        from matplotlib.figure import Figure
        try:
            png.lookup_by_type(Figure)
            print("registered on import")
        except KeyError:
            print("not registered on import")
        print("prometheus_client loaded" if "prometheus_client" in sys.modules else "prometheus_client not loaded")
        from meshlab.exercises import session
        session("test-layers", path="/dev/null")
        print("registered by session" if png.lookup_by_type(Figure) else "?")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == [
        "not registered on import",
        "prometheus_client not loaded",
        "registered by session",
    ]


def test_the_cli_and_its_benchmarks_run_without_ipywidgets():
    r = _python("""
        import sys
        sys.modules["ipywidgets"] = None          # any import of it now fails
        import meshlab.bench, meshlab.compare
        from meshlab.cli import main
        sys.exit(main(["topologies"]))
    """)
    assert r.returncode == 0, r.stderr
    assert "bookinfo" in r.stdout
