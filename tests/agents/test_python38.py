"""The agent runs on the board's own python3: Python 3.8 to 3.13.

Three checks: mypy with a 3.8 target over agents/ (run-time generics, newer stdlib APIs),
every module parsed with the 3.8 grammar, and the early exit on an older Python, which must
itself parse on Python 3.6.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AGENTS = REPO / "agents"
CONFIG = Path(__file__).with_name("mypy-py38.ini")
MIN_MYPY = "mypy 1.16.1 (the last release that accepts --python-version 3.8; pip install -e '.[test]')"

# Each line breaks the agent on Python 3.8 and 3.9; the check must flag every one of them.
CANARY = '''\
from __future__ import annotations
import functools
from importlib.metadata import entry_points
Shape = list[int]
Maybe = int | None
def f(x: object) -> str:
    eps = entry_points(group="benchlab.engines")
    isinstance(x, int | str)
    merged = {"a": 1} | {"b": 2}
    return "abc".removeprefix("a")
@functools.cache
def g() -> int:
    return 1
'''
CANARY_LINES = {4, 5, 7, 8, 9, 10, 11}


def _mypy(tmp_path: Path, *paths: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(CONFIG),
                           "--cache-dir", str(tmp_path / "mypy-cache"), *paths],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def test_mypy_finds_nothing_in_agents_that_python_38_cannot_run(tmp_path):
    canary = tmp_path / "canary38.py"
    canary.write_text(CANARY)
    proc = _mypy(tmp_path, "agents", str(canary))
    if "No module named mypy" in proc.stderr or "not supported" in proc.stderr:
        pytest.fail(f"{MIN_MYPY}: {proc.stderr.strip()}")
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    in_agents = [e for e in errors if e.startswith("agents")]
    assert not in_agents, "Python 3.8 cannot run this agent code:\n" + "\n".join(in_agents)
    # The check itself works: every construct of the canary is flagged.
    flagged = {int(e.split(":")[1]) for e in errors if e.startswith(str(canary))}
    assert CANARY_LINES <= flagged, proc.stdout


@pytest.mark.parametrize("path", sorted(AGENTS.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_every_agent_module_parses_as_python_38(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))


def test_the_3_8_grammar_refuses_newer_syntax():
    for newer in ("match x:\n    case 1: pass\n", "with (open('a') as a, open('b') as b): pass\n",
                  "try:\n    pass\nexcept* ValueError:\n    pass\n"):
        with pytest.raises(SyntaxError):
            ast.parse(newer, feature_version=(3, 8))


# What Python 3.6 accepts from __future__; `annotations` (3.7) is a SyntaxError there.
FUTURE_36 = {"nested_scopes", "generators", "division", "absolute_import", "with_statement",
             "print_function", "unicode_literals", "generator_stop"}


def _entry_points() -> list[tuple[str, str]]:
    from orchestrator.transports.agentpkg import ZIPAPP_MAIN
    return [("agents/__init__.py", (AGENTS / "__init__.py").read_text()),
            ("agents/__main__.py", (AGENTS / "__main__.py").read_text()),
            ("zipapp __main__.py", ZIPAPP_MAIN)]


@pytest.mark.parametrize("name,source", _entry_points(), ids=lambda v: v if "/" in v or "zipapp" in v else "")
def test_what_runs_before_the_version_check_parses_on_python_36(name, source):
    tree = ast.parse(source, feature_version=(3, 6))
    futures = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and n.module == "__future__" for a in n.names}
    assert futures <= FUTURE_36, f"{name}: from __future__ import {futures - FUTURE_36} fails on 3.6"
    assert "f\"" not in source.split("sys.exit(2)")[0], f"{name}: keep the check free of f-strings"


def _as_python_36(code: str) -> subprocess.CompletedProcess:
    fake = "import sys\nsys.version_info = (3, 6, 9, 'final', 0)\n"
    return subprocess.run([sys.executable, "-c", fake + code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_python_36_gets_one_line_and_exit_2_from_python_m_agents():
    proc = _as_python_36("import runpy\nrunpy.run_module('agents', run_name='__main__')\n")
    assert proc.returncode == 2
    assert proc.stderr == f"benchlab agent needs Python >= 3.8; this is {sys.executable} 3.6.9\n"


def test_python_36_gets_one_line_and_exit_2_from_the_zipapp(tmp_path):
    from orchestrator.transports.agentpkg import build_zipapp
    pyz = build_zipapp(tmp_path)
    proc = _as_python_36(f"import runpy\nrunpy.run_path({str(pyz)!r}, run_name='__main__')\n")
    assert proc.returncode == 2
    assert proc.stderr == f"benchlab agent needs Python >= 3.8; this is {sys.executable} 3.6.9\n"
