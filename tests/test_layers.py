"""The dependency rules of DESIGN.md and plan19 §6, as a contract the suite runs: each rule walks
the imports (`ast`, function-level ones included, `if TYPE_CHECKING:` blocks left out) of the
project's packages and names every offending `file:line -> module`. Each rule is also run on a
small synthetic tree that breaks it, so none of these tests can pass by finding nothing."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("agents", "orchestrator", "inventory", "results", "dashboards", "zoo")


@dataclass(frozen=True)
class Edge:
    """`source` (a module, in file `path` at `line`) imports `target` (a project module)."""

    source: str
    path: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} -> {self.target}"


@dataclass
class Graph:
    """The project's modules (name -> file), its import edges and its private-name imports."""

    modules: dict[str, Path] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    private: list[str] = field(default_factory=list)


def scan(root: Path, packages=PROJECT, also: tuple[str, ...] = ()) -> Graph:
    """Walk `packages` under `root` (and the plain folders `also`, e.g. tests: their imports of
    the project count for the private-name rule only)."""
    graph = Graph()
    files: dict[str, Path] = {}
    for top in (*packages, *also):
        for path in sorted((root / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            name = name[: -len(".__init__")] if name.endswith(".__init__") else name
            files[name] = path
            if top in packages:
                graph.modules[name] = path
    for name, path in files.items():
        _scan_file(graph, root, name, path, packages)
    return graph


def _scan_file(graph: Graph, root: Path, name: str, path: Path, packages) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    rel, aliases = str(path.relative_to(root)), {}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                target = _resolve(graph, a.name)
                if target:
                    _edge(graph, name, rel, node.lineno, target)
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, path, node)
            if not base or base.split(".")[0] not in packages:
                continue
            for a in node.names:
                full = f"{base}.{a.name}"
                target = full if full in graph.modules else _resolve(graph, base)
                if target:
                    _edge(graph, name, rel, node.lineno, target)
                if full in graph.modules:
                    aliases[a.asname or a.name] = full
                elif a.name.startswith("_") and not a.name.startswith("__") and base != name:
                    graph.private.append(f"{rel}:{node.lineno} from {base} import {a.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and id(node) not in skip):
            base = ast.unparse(node.value)
            if base in aliases and aliases[base] in graph.modules and aliases[base] != name:
                graph.private.append(f"{rel}:{node.lineno} {base}.{node.attr} ({aliases[base]})")


def _absolute(name: str, path: Path, node: ast.ImportFrom) -> str | None:
    if not node.level:
        return node.module
    parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _resolve(graph: Graph, dotted: str) -> str | None:
    """The longest prefix of `dotted` that is a project module."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in graph.modules:
            return ".".join(parts[:i])
    return None


def _edge(graph: Graph, source: str, path: str, line: int, target: str) -> None:
    edge = Edge(source, path, line, target)
    if target != source and source in graph.modules and edge not in graph.edges:
        graph.edges.append(edge)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def forbidden(graph: Graph, sources: tuple[str, ...], targets: tuple[str, ...],
              exempt: tuple[str, ...] = ()) -> list[str]:
    """Edges from a module under `sources` (not under `exempt`) to one under `targets`."""
    return [str(e) for e in graph.edges
            if any(_within(e.source, s) for s in sources) and not any(_within(e.source, x) for x in exempt)
            and any(_within(e.target, t) for t in targets)]


def only(graph: Graph, sources: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    """Edges from a module under `sources` to a project module under none of `allowed`."""
    return [str(e) for e in graph.edges if any(_within(e.source, s) for s in sources)
            and not any(_within(e.target, a) for a in allowed)]


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    succ: dict[str, set[str]] = {m: set() for m in graph.modules}
    for e in graph.edges:
        succ[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for m in sorted(succ):
        if m not in index:
            visit(m)
    return found


def _cycle_edges(graph: Graph) -> list[str]:
    out = []
    for comp in cycles(graph):
        out += [str(e) for e in graph.edges if e.source in comp and e.target in comp]
    return out


PLAN_MUST_NOT = tuple(f"orchestrator.{m}" for m in ("enqueue", "execute", "transports", "server", "nightly",
                                                    "cli", "fleet", "dashboard"))
RULES = {
    "agents imports nothing of the project": lambda g: forbidden(
        g, ("agents",), ("orchestrator", "results", "inventory", "dashboards", "zoo")),
    "zoo imports nothing of the project": lambda g: forbidden(
        g, ("zoo",), ("agents", "orchestrator", "results", "inventory", "dashboards")),
    "results and inventory import no orchestration": lambda g: forbidden(
        g, ("results", "inventory"), ("orchestrator", "dashboards", "zoo")),
    "dashboards imports no orchestrator": lambda g: forbidden(g, ("dashboards",), ("orchestrator",)),
    "nothing imports the CLI": lambda g: forbidden(
        g, PROJECT, ("orchestrator.cli",), exempt=("orchestrator.cli",)),
    "plan imports no I/O layer": lambda g: forbidden(g, ("orchestrator.plan",), PLAN_MUST_NOT),
    "execute imports neither plan nor the layers above": lambda g: forbidden(
        g, ("orchestrator.execute",), tuple(f"orchestrator.{m}" for m in ("plan", "enqueue", "server", "nightly", "cli"))),
    "transports import only transports and agents": lambda g: only(
        g, ("orchestrator.transports",), ("orchestrator.transports", "agents")),
    "enqueue imports no server, nightly or CLI": lambda g: forbidden(
        g, ("orchestrator.enqueue",), ("orchestrator.server", "orchestrator.nightly", "orchestrator.cli")),
    "server and nightly import no CLI": lambda g: forbidden(
        g, ("orchestrator.server", "orchestrator.nightly"), ("orchestrator.cli",)),
    "no import cycle": _cycle_edges,
}


@pytest.fixture(scope="module")
def project() -> Graph:
    return scan(ROOT)


@pytest.mark.parametrize("rule", list(RULES))
def test_rule_holds(project, rule):
    bad = RULES[rule](project)
    assert not bad, f"{rule}:\n  " + "\n  ".join(bad)


def test_no_private_name_across_modules():
    graph = scan(ROOT, also=("tests", "benchmarks"))
    assert not graph.private, "private names imported across modules:\n  " + "\n  ".join(graph.private)


def test_the_scan_sees_the_project(project):
    # a scan that found nothing would make every rule above pass
    assert len(project.modules) > 100 and len(project.edges) > 300
    assert "orchestrator.cli.run" in project.modules and "agents.spec" in project.modules


# --- the rules on synthetic trees: each must catch what it is for ---------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Graph:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in PROJECT:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return scan(tmp_path, also=("tests",))


BROKEN = {
    "agents imports nothing of the project": {"agents/spec.py": "def f():\n    from results import db\n",
                                              "results/db.py": ""},
    "zoo imports nothing of the project": {"zoo/tflite.py": "import agents.spec\n", "agents/spec.py": ""},
    "results and inventory import no orchestration": {"inventory/model.py": "from orchestrator import fleet\n",
                                                      "orchestrator/fleet.py": ""},
    "dashboards imports no orchestrator": {"dashboards/page.py": "from orchestrator.cli import render\n",
                                           "orchestrator/cli/__init__.py": "", "orchestrator/cli/render.py": ""},
    "nothing imports the CLI": {"orchestrator/server/views.py": "from orchestrator.cli.render import x\n",
                                "orchestrator/server/__init__.py": "", "orchestrator/cli/__init__.py": "",
                                "orchestrator/cli/render.py": ""},
    "plan imports no I/O layer": {"orchestrator/plan/__init__.py": "", "orchestrator/execute/__init__.py": "",
                                  "orchestrator/plan/jobs.py": "from orchestrator import execute\n"},
    "execute imports neither plan nor the layers above": {
        "orchestrator/plan/__init__.py": "", "orchestrator/plan/study.py": "",
        "orchestrator/execute/__init__.py": "", "orchestrator/execute/worker.py": "from ..plan.study import Study\n"},
    "transports import only transports and agents": {
        "orchestrator/transports/__init__.py": "", "orchestrator/transports/ssh.py": "import results.db\n",
        "results/db.py": ""},
    "enqueue imports no server, nightly or CLI": {
        "orchestrator/enqueue.py": "def f():\n    import orchestrator.nightly.run\n",
        "orchestrator/nightly/__init__.py": "", "orchestrator/nightly/run.py": ""},
    "server and nightly import no CLI": {"orchestrator/nightly/__init__.py": "",
                                         "orchestrator/nightly/run.py": "from orchestrator.cli import common\n",
                                         "orchestrator/cli/__init__.py": "", "orchestrator/cli/common.py": ""},
    "no import cycle": {"results/db.py": "def f():\n    from results.migrations import up\n",
                        "results/migrations.py": "from results.db import connect\n"},
}


@pytest.mark.parametrize("rule", list(RULES))
def test_rule_catches_a_breach(tmp_path, rule):
    bad = RULES[rule](_tree(tmp_path, BROKEN[rule]))
    assert bad and all(" -> " in line and ".py:" in line for line in bad), bad


def test_type_checking_imports_and_allowed_edges_pass(tmp_path):
    graph = _tree(tmp_path, {
        "orchestrator/plan/__init__.py": "", "orchestrator/plan/knobs.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orchestrator.execute import x\n"
            "from agents import spec\n"),
        "orchestrator/execute/__init__.py": "from orchestrator.transports import base\n",
        "orchestrator/transports/__init__.py": "", "orchestrator/transports/base.py": "import agents.spec\n",
        "orchestrator/cli/__init__.py": "from orchestrator.cli import run\n",
        "orchestrator/cli/run.py": "from orchestrator.plan import knobs\nfrom orchestrator import execute\n",
        "agents/spec.py": ""})
    assert {name: RULES[name](graph) for name in RULES} == {name: [] for name in RULES}


def test_private_names_are_caught_in_packages_and_tests(tmp_path):
    graph = _tree(tmp_path, {
        "results/db.py": "def _engine(): pass\n__all__ = []\n", "results/migrations.py": "from results.db import _engine\n",
        "results/alembic.py": "from results import db\ndb._engine()\nfrom results.db import __all__\n",
        "tests/test_db.py": "import results.db as d\nd._engine()\n"})
    assert sorted(line.split(" ")[0] for line in graph.private) == [
        "results/alembic.py:2", "results/migrations.py:1", "tests/test_db.py:2"]
