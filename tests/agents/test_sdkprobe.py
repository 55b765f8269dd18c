"""The probe survives SDKs that crash, hang or raise on import, and boards without numpy.

The bad SDKs are real plug-ins: distributions on PYTHONPATH that register an engine in the
`benchlab.engines` entry-point group, whose module kills, aborts, hangs or raises when imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sealed_python import REPO, env_without

from agents import sdkprobe

BAD_SDKS = {
    "segfaulty": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "aborty": "import os\nos.abort()\n",
    "raisy": "raise RuntimeError('driver 470 is too old for this SDK: ' + 'x' * 3000 + ' END')\n",
    "hangy": "import os, time\nopen(os.environ['HANG_PID_FILE'], 'w').write(str(os.getpid()))\ntime.sleep(600)\n",
}


def _plugins(tmp_path: Path, names) -> Path:
    """A folder holding one distribution that registers each named engine."""
    site = tmp_path / "plugins"
    dist = site / "bad_sdks-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-sdks\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[benchlab.engines]\n" + "".join(f"{n} = {n}_sdk:Engine\n" for n in names))
    for name in names:
        (site / f"{name}_sdk.py").write_text(BAD_SDKS[name])
    return site


def _probe(env: dict, *argv: str) -> dict:
    proc = subprocess.run([sys.executable, *argv, "probe"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_crashing_or_raising_sdk_marks_only_its_engine(tmp_path):
    site = _plugins(tmp_path, ["segfaulty", "aborty", "raisy"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    engines = _probe(env, "-m", "agents")["engines"]
    assert engines["segfaulty"] == {"available": False, "reason": "import crashed: signal 11 (SIGSEGV)"}
    assert engines["aborty"]["reason"].startswith("import crashed: signal 6 (SIGABRT)")
    raisy = engines["raisy"]
    assert not raisy["available"] and raisy["reason"].startswith("RuntimeError: driver 470 is too old")
    assert raisy["reason"].endswith(" END")  # kept whole
    assert engines["onnxruntime"]["available"] is True and engines["onnxruntime"]["version"]


def test_a_hanging_sdk_times_out_and_its_process_is_gone(tmp_path, monkeypatch):
    site = _plugins(tmp_path, ["hangy"])
    pid_file = tmp_path / "hang.pid"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(REPO)]))
    monkeypatch.setenv("HANG_PID_FILE", str(pid_file))
    found = sdkprobe.survey(["hangy", "onnxruntime"], timeout_s=5)["engines"]
    assert found["hangy"] == {"available": False, "reason": "import timed out after 5 s"}
    assert found["onnxruntime"]["available"] is True
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, f"the hung import (pid {pid}) was left running"


def test_precisions_say_which_package_is_missing(tmp_path):
    env = env_without(tmp_path, "sympy")
    ort = _probe(env, "-m", "agents")["engines"]["onnxruntime"]
    assert ort["available"] is True  # the existing keys stay as they were
    assert ort["precisions"]["fp32"] == {"available": True}
    assert ort["precisions"]["fp16"] == {"available": True}
    assert ort["precisions"]["int8"] == {
        "available": False, "reason": "needs the Python package 'sympy' (pip install sympy)"}


def test_zipapp_probe_without_numpy_prints_json_and_says_why(tmp_path):
    from orchestrator.transports.agentpkg import build_zipapp
    pyz = build_zipapp(tmp_path / "agent")
    env = env_without(tmp_path, "numpy")
    env["PYTHONPATH"] = env["PYTHONPATH"].split(os.pathsep)[0]  # the sitecustomize alone
    found = _probe(env, str(pyz))
    version = ".".join(map(str, sys.version_info[:3]))
    numpy = found["numpy"]
    assert numpy["available"] is False
    for part in (sys.executable, f"Python {version}", "No module named 'numpy'", "every engine needs it",
                 "pip install numpy", "bench fleet setup"):
        assert part in numpy["reason"]
    assert found["engines"], "the engines are still listed"
    for name, facts in found["engines"].items():
        assert facts["available"] is False and facts["reason"].startswith("needs numpy"), name
    assert found["environment"]["cpu_logical"] >= 1 and "rapl" in found["power_sensors"]


def test_run_without_numpy_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "agents", "run", "-"], input="{}", capture_output=True,
                          text=True, env=env_without(tmp_path, "numpy"), timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "No module named 'numpy'" in lines[0] and "pip install numpy" in lines[0]


def test_long_error_text_is_cut_only_with_a_visible_marker():
    from agents.engines.base import short_message
    from agents.errors import clip

    text = "word " * 1000  # 5000 characters
    assert clip(text, 5000) == text
    assert clip(text, 100) == text[:100] + "… [4900 more characters]"
    assert clip(text, 100, keep="tail") == "[4900 more characters] …" + text[-100:]
    assert short_message(RuntimeError("x" * 2500)).endswith("… [500 more characters]")
