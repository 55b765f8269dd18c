"""Engine registry: built-in engines by module path, third-party ones by entry point.

Nothing here imports a vendor SDK; `get_engine` imports only the engine's benchlab module.
Third parties register through the `benchlab.engines` entry-point group.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable

from agents.compat import entry_points
from agents.errors import UserError

if TYPE_CHECKING:  # base imports numpy; the probe lists engine names on boards without it
    from agents.engines.base import Engine

_BUILTIN = {
    "mnn": "agents.engines.mnn:MnnEngine",
    "ncnn": "agents.engines.ncnn:NcnnEngine",
    "onnxruntime": "agents.engines.onnxruntime:OnnxRuntimeEngine",
    "openvino": "agents.engines.openvino:OpenVinoEngine",
    "tensorrt": "agents.engines.tensorrt:TensorRtEngine",
    "tflite": "agents.engines.tflite:TfliteEngine",
    "tvm": "agents.engines.tvm:TvmEngine",
}
_EXTRA: dict[str, Callable[[], Engine]] = {}
_ENTRY_POINTS_LOADED = False


class UnknownEngine(UserError):
    """An engine name that no built-in or plug-in provides."""


def register(name: str, factory: Callable[[], Engine]) -> None:
    """Add an engine under `name`.

    Raises:
        ValueError: the name is already taken.
    """
    if name in _BUILTIN or name in _EXTRA:
        raise ValueError(f"engine '{name}' is already registered")
    _EXTRA[name] = factory


def known_engines() -> list[str]:
    """Every engine name, sorted (installed or not)."""
    _load_entry_points()
    return sorted({*_BUILTIN, *_EXTRA})


def get_engine(name: str) -> Engine:
    """The engine called `name`.

    Raises:
        UnknownEngine: no such engine, with the known names.
    """
    _load_entry_points()
    if name in _BUILTIN:
        module, cls = _BUILTIN[name].split(":")
        return getattr(importlib.import_module(module), cls)()
    if name in _EXTRA:
        return _EXTRA[name]()
    raise UnknownEngine(f"unknown engine '{name}'; known: {', '.join(known_engines())}")


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points("benchlab.engines"):
        if ep.name not in _BUILTIN and ep.name not in _EXTRA:
            _EXTRA[ep.name] = _factory(ep)


def _factory(ep: Any) -> Callable[[], Engine]:
    return lambda: ep.load()()
