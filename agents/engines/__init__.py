"""Engine registry: built-in engines by module path, third-party ones by entry point.

Nothing here imports a vendor SDK; `get_engine` imports only the engine's benchlab module.
Third parties register through the `benchlab.engines` entry-point group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from agents.errors import UserError
from agents.registry import Registry

if TYPE_CHECKING:  # base imports numpy; the probe lists engine names on boards without it
    from agents.engines.base import Engine


class UnknownEngine(UserError):
    """An engine name that no built-in or plug-in provides."""


ENGINES: Registry[Callable[[], Engine]] = Registry("engine", "benchlab.engines", {
    "mnn": "agents.engines.mnn.engine:MnnEngine",
    "ncnn": "agents.engines.ncnn.engine:NcnnEngine",
    "onnxruntime": "agents.engines.onnxruntime.engine:OnnxRuntimeEngine",
    "openvino": "agents.engines.openvino.engine:OpenVinoEngine",
    "tensorrt": "agents.engines.tensorrt.engine:TensorRtEngine",
    "tflite": "agents.engines.tflite.engine:TfliteEngine",
    "tvm": "agents.engines.tvm.engine:TvmEngine",
}, error=UnknownEngine)


def register(name: str, factory: Callable[[], Engine]) -> None:
    """Add an engine under `name`.

    Raises:
        ValueError: the name is already taken.
    """
    ENGINES.register(name, factory)


def known_engines() -> list[str]:
    """Every engine name, sorted (installed or not)."""
    return ENGINES.names()


def get_engine(name: str) -> Engine:
    """A new instance of the engine called `name`.

    Raises:
        UnknownEngine: no such engine, with the known names.
    """
    return ENGINES.get(name)()
