"""agents/requirements.py: the packages a board needs, per engine and precision."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sealed_python import REPO, env_without

from agents import requirements
from agents.errors import UnsupportedVariant, UserError

DOC = REPO / "docs/ENGINES.md"


def test_packages_for_is_deduplicated_base_first_in_engine_then_precision_order():
    assert requirements.packages_for(["onnxruntime"]) == ["numpy", "onnxruntime", "onnx", "sympy"]
    assert requirements.packages_for(["onnxruntime"], ["fp32"]) == ["numpy", "onnxruntime"]
    assert requirements.packages_for(["openvino", "onnxruntime"], ["fp32", "int8"]) == [
        "numpy", "openvino", "nncf", "onnxruntime", "onnx", "sympy"]
    assert requirements.packages_for(["tflite"], ["fp32"]) == [
        'numpy', 'ai-edge-litert; python_version >= "3.9"', 'tflite-runtime; python_version < "3.9"']
    assert requirements.packages_for(["tensorrt"], ["fp32"]) == [
        "numpy", 'tensorrt; platform_machine == "x86_64"', "cuda-python"]


def test_pnnx_is_installed_apart_without_dependencies():
    assert "pnnx" not in requirements.packages_for(["ncnn"])
    assert requirements.no_deps_packages_for(["ncnn"]) == ["pnnx"]
    assert requirements.no_deps_packages_for(["onnxruntime"]) == []


def test_unknown_engine_or_precision_is_a_user_error_listing_the_known_ones():
    with pytest.raises(UserError, match=r"unknown engine 'ovino'; known: mnn, ncnn, onnxruntime, "
                                        r"openvino, tensorrt, tflite, tvm"):
        requirements.packages_for(["ovino"])
    with pytest.raises(UserError, match="unknown precision 'fp8'; known: fp32, fp16, int8"):
        requirements.packages_for(["onnxruntime"], ["fp8"])


def _sealed(tmp_path: Path, code: str, *hidden: str):
    proc = subprocess.run([sys.executable, "-c", code], env=env_without(tmp_path, *hidden),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_missing_for_names_what_this_python_cannot_import(tmp_path):
    code = ("import json; from agents.requirements import missing_for as m\n"
            "print(json.dumps([m('onnxruntime', p) for p in ('fp32', 'fp16', 'int8')]))")
    assert _sealed(tmp_path, code, "onnx", "sympy") == [[], ["onnx"], ["onnx", "sympy"]]
    # onnxruntime is the engine itself: every precision misses it.
    assert _sealed(tmp_path, code, "onnxruntime") == [["onnxruntime"]] * 3


def test_tflite_needs_either_runtime(tmp_path):
    code = "import json; from agents.requirements import missing_for\nprint(json.dumps(missing_for('tflite', 'fp32')))"
    assert _sealed(tmp_path, code, "tflite_runtime") == []  # LiteRT is installed here
    assert _sealed(tmp_path, code, "ai_edge_litert", "tflite_runtime") == ["ai-edge-litert"]


def test_require_raises_the_skip_with_package_and_command(tmp_path):
    code = ("import json\nfrom agents.requirements import require\n"
            "try:\n    require('onnxruntime', 'int8')\nexcept Exception as e:\n"
            "    print(json.dumps([type(e).__name__, str(e)]))\nelse:\n    print('null')")
    assert _sealed(tmp_path, code, "sympy") == [
        "UnsupportedVariant", "onnxruntime int8 needs the Python package 'sympy' (pip install sympy)"]
    assert issubclass(UnsupportedVariant, Exception)


def test_each_installed_distribution_is_found_under_the_table_s_import_name():
    # A wrong import name would report the package missing on every board that has it.
    from importlib.metadata import PackageNotFoundError, distribution

    needs = {n for ns in (*requirements.ENGINE.values(), *requirements.PRECISION.values()) for n in ns}
    checked = []
    for need in needs | set(requirements.TFLITE_CONVERTER) | {requirements.NUMPY}:
        for pip in need.pip:
            try:
                distribution(pip.name)
            except PackageNotFoundError:
                continue  # not installed here: nothing to compare
            assert requirements.missing_needs([need]) == [], f"{pip.name} is installed, {need.modules} not found"
            checked.append(pip.name)
    assert {"numpy", "onnxruntime", "onnx"} <= set(checked)


def test_docs_show_the_same_table():
    assert requirements.markdown_table() in DOC.read_text(), (
        "docs/ENGINES.md 'Board requirements' differs from agents/requirements.py; paste "
        "requirements.markdown_table() there")
