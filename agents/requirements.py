"""What a board must have installed for each engine and precision, as data.

Every entry was checked against the imports of the code it serves: the engine's own module
(`version`, `load`) and its compile path for that precision. docs/ENGINES.md ("Board
requirements") shows the same table; a test keeps the two in step.

    packages_for(["onnxruntime"], ["fp32", "int8"])  # ['numpy', 'onnxruntime', 'onnx', 'sympy']
    missing_for("onnxruntime", "int8")                # ['sympy'] where sympy is not importable

Numpy-free and SDK-free: the probe reads it on boards that lack both.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

from agents.errors import UnsupportedVariant, UserError

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Pip:
    """One pip requirement, with the Pythons and machines it applies to (PEP 508 markers)."""

    name: str
    python_from: Tuple[int, int] = (3, 0)
    python_below: Tuple[int, int] = (4, 0)
    machines: Tuple[str, ...] = ()

    def requirement(self) -> str:
        """The requirement string pip evaluates on the board, markers included."""
        markers = []
        if self.python_from != (3, 0):
            markers.append(f'python_version >= "{self.python_from[0]}.{self.python_from[1]}"')
        if self.python_below != (4, 0):
            markers.append(f'python_version < "{self.python_below[0]}.{self.python_below[1]}"')
        markers += [f'platform_machine == "{m}"' for m in self.machines]
        return self.name + ("; " + " and ".join(markers) if markers else "")

    def applies(self, python: Tuple[int, int], machine: str) -> bool:
        """Whether pip would install it on this Python and machine."""
        return self.python_from <= python < self.python_below and (
            not self.machines or machine in self.machines)


@dataclass(frozen=True)
class Need:
    """A package the agent imports: importable under any of `modules`, installed by `pip`
    (the first that applies to the board), or as `other` says where no pip entry applies."""

    modules: Tuple[str, ...]
    pip: Tuple[Pip, ...] = ()
    other: str = ""
    # pip must not resolve its dependencies (pnnx's wheel declares PyTorch, several GB,
    # for helpers the ONNX conversion does not use).
    no_deps: bool = False

    def label(self, python: Tuple[int, int], machine: str) -> str:
        """The package's name for this board: the pip name that applies, else the module."""
        names = [p.name for p in self.pip if p.applies(python, machine)]
        return names[0] if names else self.modules[0]


NUMPY = Need(("numpy",), (Pip("numpy"),))
ONNX = Need(("onnx",), (Pip("onnx"),))
SYMPY = Need(("sympy",), (Pip("sympy"),))
ONNXRUNTIME = Need(("onnxruntime",), (Pip("onnxruntime"),))
# LiteRT has wheels for Python 3.9 and later; tflite-runtime (2.14, the last) for 3.8 to 3.11.
LITERT = Need(("ai_edge_litert", "tflite_runtime"),
              (Pip("ai-edge-litert", python_from=(3, 9)), Pip("tflite-runtime", python_below=(3, 9))))
# TensorRT's Python bindings come with JetPack on a Jetson (not from pip there).
TENSORRT = Need(("tensorrt",), (Pip("tensorrt", machines=("x86_64",)),),
                other="on a Jetson from JetPack: sudo apt install python3-libnvinfer")
# The cuda-python release must match the board's CUDA major version (12.x for CUDA 12).
CUDA_PYTHON = Need(("cuda",), (Pip("cuda-python"),))
PNNX = Need(("pnnx",), (Pip("pnnx"),), no_deps=True)

# What each engine needs for any precision: its runtime, and the converter its compile runs.
ENGINE: Dict[str, Tuple[Need, ...]] = {
    "mnn": (Need(("MNN",), (Pip("MNN"),)), ONNX),
    "ncnn": (Need(("ncnn",), (Pip("ncnn"),)), ONNX, PNNX),
    "onnxruntime": (ONNXRUNTIME,),
    "openvino": (Need(("openvino",), (Pip("openvino"),)),),
    "tensorrt": (TENSORRT, CUDA_PYTHON),
    "tflite": (LITERT,),
    "tvm": (Need(("tvm",), (Pip("apache-tvm"),)), ONNX),
}
# What a precision adds. ORT's float16 converter reads the graph with onnx; its static int8
# quantizer runs symbolic shape inference (sympy). TensorRT 10.x keeps the fp16 builder flag;
# a TensorRT without it gets the fp16 graph from ORT's converter, and int8 Q/DQ from ORT's
# quantizer after onnx looks for Q/DQ nodes already in the model.
PRECISION: Dict[Tuple[str, str], Tuple[Need, ...]] = {
    ("onnxruntime", "fp16"): (ONNX,),
    ("onnxruntime", "int8"): (ONNX, SYMPY),
    ("openvino", "int8"): (Need(("nncf",), (Pip("nncf"),)),),
    ("tensorrt", "fp16"): (ONNXRUNTIME, ONNX),
    ("tensorrt", "int8"): (ONNXRUNTIME, ONNX, SYMPY),
}
# Converting ONNX to TFLite runs onnx2tf with TensorFlow (2.4 GB) in a child process, often in
# its own environment ($BENCH_TFLITE_CONVERT_PYTHON); boards do not get it by default.
TFLITE_CONVERTER = (Need(("onnx2tf",), (Pip("onnx2tf"),)), Need(("tensorflow",), (Pip("tensorflow"),)),
                    ONNX)
TFLITE_CONVERTER_HINT = ("pip install benchlab[tflite-convert], here or in a separate environment "
                         "named by $BENCH_TFLITE_CONVERT_PYTHON")


def known_engines() -> List[str]:
    """The engines this table covers, sorted."""
    return sorted(ENGINE)


def needs(engine: str, precision: str) -> List[Need]:
    """Everything (engine, precision) imports on the board, numpy first, without repeats.

    Raises:
        UserError: an engine or precision this table does not know, with the known names.
    """
    if engine not in ENGINE:
        raise UserError(f"unknown engine '{engine}'; known: {', '.join(known_engines())}")
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision '{precision}'; known: {', '.join(PRECISIONS)}")
    out: List[Need] = []
    for need in (NUMPY, *ENGINE[engine], *PRECISION.get((engine, precision), ())):
        if need not in out:
            out.append(need)
    return out


def packages_for(engines: Iterable[str], precisions: Iterable[str] = PRECISIONS) -> List[str]:
    """pip requirement strings that make these engines and precisions work on a board.

    Deduplicated, in a stable order (numpy first, then by engine as given, then precision).
    Markers let pip pick per board (tflite-runtime on Python 3.8, tensorrt from pip on x86
    only). Left out: what pip must install without dependencies (see `no_deps_packages_for`)
    and what only the system provides (TensorRT on a Jetson).

    Raises:
        UserError: an unknown engine or precision, with the known names.
    """
    return _requirements(engines, precisions, no_deps=False)


def no_deps_packages_for(engines: Iterable[str], precisions: Iterable[str] = PRECISIONS) -> List[str]:
    """The requirements to install with `pip install --no-deps` (ncnn's pnnx converter)."""
    return _requirements(engines, precisions, no_deps=True)


def _requirements(engines: Iterable[str], precisions: Iterable[str], no_deps: bool) -> List[str]:
    precisions = list(precisions)
    out: List[str] = []
    for engine in engines:
        for precision in precisions:
            for need in needs(engine, precision):
                for req in (p.requirement() for p in need.pip if need.no_deps == no_deps):
                    if req not in out:
                        out.append(req)
    return out


def missing_for(engine: str, precision: str) -> List[str]:
    """What (engine, precision) needs that this Python cannot find, by package name (the pip
    name for this board where pip installs it). Looks the modules up without importing them.

    Raises:
        UserError: an unknown engine or precision.
    """
    return [_label(need) for need in needs(engine, precision) if not _found(need)]


def require(engine: str, precision: str, only: Sequence[Need] = ()) -> None:
    """Refuse the variant, naming what to install, when a package it needs is missing here.

    Args:
        engine, precision: the variant.
        only: check these needs only (a compile step's own); default: all of the variant's.
    Raises:
        UnsupportedVariant: something is missing (the run is skipped, not the device's fault).
    """
    missing = [n for n in (only or needs(engine, precision)) if not _found(n)]
    if missing:
        raise UnsupportedVariant(f"{engine} {precision} needs {describe(missing)}")


def describe(missing: Sequence[Need]) -> str:
    """'the Python package 'onnx' (pip install onnx)': what is missing and how to install it."""
    labels = [_label(n) for n in missing]
    what = (f"the Python package '{labels[0]}'" if len(labels) == 1 else
            "the Python packages " + ", ".join(f"'{x}'" for x in labels))
    pip = [_label(n) for n in missing if _pip(n) and not n.no_deps]
    fixes = [f"pip install {' '.join(pip)}"] if pip else []
    fixes += [f"pip install --no-deps {_label(n)}" for n in missing if _pip(n) and n.no_deps]
    fixes += [n.other for n in missing if not _pip(n) and n.other]
    return f"{what} ({'; '.join(fixes)})"


def for_module(module: str) -> Need:
    """The table's entry importable as `module` (or a parent of it); an entry installing the
    module under its own name when the table has none."""
    top = module.split(".")[0]
    for need in (NUMPY, *TFLITE_CONVERTER, *(n for ns in (*ENGINE.values(), *PRECISION.values()) for n in ns)):
        if top in need.modules:
            return need
    return Need((top,), (Pip(top),))


def missing_needs(needs_: Iterable[Need]) -> List[Need]:
    """Those of `needs_` that this Python cannot find."""
    return [n for n in needs_ if not _found(n)]


def markdown_table() -> str:
    """The table as docs/ENGINES.md shows it ("Board requirements"); a test keeps them equal."""
    rows = ["| engine | every precision | fp16 adds | int8 adds |", "|---|---|---|---|"]
    for engine in known_engines():
        base = ", ".join(_doc(n) for n in (NUMPY, *ENGINE[engine]))
        adds = [", ".join(_doc(n) for n in PRECISION.get((engine, p), ())) or "-" for p in ("fp16", "int8")]
        rows.append(f"| {engine} | {base} | {adds[0]} | {adds[1]} |")
    converter = ", ".join(_doc(n) for n in TFLITE_CONVERTER)
    rows.append(f"| tflite, from an ONNX model | the tflite row, and the converter: {converter} "
                "(not on boards by default) | | |")
    return "\n".join(rows) + "\n"


def _doc(need: Need) -> str:
    options = []
    for pip in need.pip:
        when = []
        if pip.python_from != (3, 0):
            when.append(f"Python >= {pip.python_from[0]}.{pip.python_from[1]}")
        if pip.python_below != (4, 0):
            when.append(f"Python < {pip.python_below[0]}.{pip.python_below[1]}")
        when += [f"pip on {m} only" for m in pip.machines]
        when += ["pip install --no-deps"] if need.no_deps else []
        options.append(f"`{pip.name}`" + (f" ({'; '.join(when)})" if when else ""))
    text = " or ".join(options) or f"`{need.modules[0]}`"
    if need.other:
        text = text[:-1] + f"; {need.other})" if text.endswith(")") else f"{text} ({need.other})"
    return text


def _label(need: Need) -> str:
    return need.label(sys.version_info[:2], platform.machine())


def _pip(need: Need) -> bool:
    return any(p.applies(sys.version_info[:2], platform.machine()) for p in need.pip)


def _found(need: Need) -> bool:
    for module in need.modules:
        try:
            if importlib.util.find_spec(module) is not None:
                return True
        except (ImportError, ValueError):  # a parent package that fails to import
            continue
    return False
