"""Which engines this board can run: each SDK imported in its own child process.

A vendor SDK can segfault, abort or hang on import (a wheel built for another CPU, a CUDA
driver that does not answer). Imported in the agent, it would take the whole probe down and
the board would report nothing; in a child with a timeout it marks its own engine unavailable,
with why, and the others are still listed. numpy gets the same treatment: every engine needs
it, and a board whose python3 lacks it must still say so in the probe's JSON.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

import agents
from agents import requirements
from agents.errors import clip

TIMEOUT_S = 60.0
SETUP_HINT = "pip install numpy for that interpreter, or `bench fleet setup <device>`"
_MARK = "benchlab-probe "  # the child's answer line; SDKs may print to stdout on import
_CHILD = "import sys\nfrom agents.sdkprobe import child\nchild(sys.argv[1])\n"
_NUMPY = "numpy"


def survey(names: Optional[List[str]] = None, timeout_s: float = TIMEOUT_S) -> Dict[str, Any]:
    """numpy and each engine: available with its version (and, per precision, whether its
    packages are here), or unavailable with the reason.

    Args:
        names: the engines to check; default every known one (built-in and plug-in).
        timeout_s: how long one child may take; all run in parallel.
    Returns:
        {"numpy": {...}, "engines": {name: {"available", "version" | "reason", "precisions"}}}.
    """
    from agents.engines import known_engines

    names = known_engines() if names is None else names
    with ThreadPoolExecutor(max_workers=len(names) + 1) as pool:
        found = dict(zip([_NUMPY, *names], pool.map(lambda n: check(n, timeout_s), [_NUMPY, *names])))
    numpy = found.pop(_NUMPY)
    if not numpy["available"]:
        numpy["reason"] = (f"{_python()} cannot import numpy ({numpy['reason']}); every engine "
                           f"needs it; fix: {SETUP_HINT}")
        why = f"needs numpy, which {_python()} cannot import; fix: {SETUP_HINT}"
        found = {name: {"available": False, "reason": why} for name in found}
    return {"numpy": numpy, "engines": found}


def check(name: str, timeout_s: float = TIMEOUT_S) -> Dict[str, Any]:
    """One engine (or "numpy") checked in a child of this Python: its answer, or why it gave none."""
    try:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, name], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_child_env(),
                                start_new_session=True)  # its own group: a timeout kills it whole
    except OSError as e:
        return {"available": False, "reason": f"cannot start {sys.executable}: {e}"}
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return {"available": False, "reason": f"import timed out after {timeout_s:g} s"}
    answers = [line[len(_MARK):] for line in out.splitlines() if line.startswith(_MARK)]
    if answers:
        return json.loads(answers[-1])
    return {"available": False, "reason": _no_answer(proc.returncode, err)}


def child(name: str) -> None:
    """The child's side: import the SDK, read its version, print the facts as one marked line."""
    facts: Dict[str, Any]
    try:
        facts = _numpy() if name == _NUMPY else _engine(name)
    except Exception as e:  # whatever an SDK raises on import is the reason, kept whole
        reason = getattr(e, "reason", None) or f"{type(e).__name__}: {e}"
        facts = {"available": False, "reason": str(reason)}
    sys.stdout.write(_MARK + json.dumps(facts, default=str) + "\n")
    sys.stdout.flush()


def _numpy() -> Dict[str, Any]:
    import numpy
    return {"available": True, "version": numpy.__version__}


def _engine(name: str) -> Dict[str, Any]:
    from agents.engines import get_engine

    engine = get_engine(name)
    facts: Dict[str, Any] = {"available": True, "version": engine.version()}
    if name in requirements.ENGINE:
        facts["precisions"] = precisions(name, tuple(engine.precisions))
    return facts


def precisions(name: str, offered: tuple) -> Dict[str, Dict[str, Any]]:
    """Per precision the engine offers: whether the packages it needs are here.

    The engine may still skip a variant for its model or device (TVM has no fp16 on a CPU,
    OpenVINO none on a CPU without fp16 units): this says what is installed, no more.
    """
    out: Dict[str, Dict[str, Any]] = {}
    converter = _tflite_converter() if name == "tflite" else None
    for precision in offered:
        missing = requirements.missing_needs(requirements.needs(name, precision))
        entry: Dict[str, Any] = {"available": not missing}
        if missing:
            entry["reason"] = f"needs {requirements.describe(missing)}"
        if converter is not None:
            entry["from_onnx"] = converter
        out[precision] = entry
    return out


def _tflite_converter() -> Dict[str, Any]:
    from agents.engines.tflite.convert import converter_missing

    why = converter_missing()
    return {"available": True} if why is None else {"available": False, "reason": why}


def _no_answer(code: int, err: str) -> str:
    tail = clip(err.strip(), 4000, keep="tail")  # a crash's last lines say most
    if code < 0:
        try:
            what = f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            what = f"signal {-code}"
        return f"import crashed: {what}" + (f"; stderr: {tail}" if tail else "")
    return f"import exited with code {code} without an answer" + (f"; stderr: {tail}" if tail else "")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass  # a grandchild that left the group still holds the pipes; do not wait for it


def _child_env() -> Dict[str, str]:
    # The child imports `agents` from where this one did: a checkout, site-packages or the zipapp.
    root = str(Path(agents.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _python() -> str:
    return f"{sys.executable} (Python {'.'.join(str(v) for v in sys.version_info[:3])})"
