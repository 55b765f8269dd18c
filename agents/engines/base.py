"""The engine plug-in interface: compile a model into an artifact, load it, run it.

An engine is a stateless factory; a `Session` is one loaded artifact with concrete input
shapes. The harness splits each inference into `prepare` (untimed: put an input set into the
engine's native form) and `infer` (timed: the engine call alone).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from agents.engines.pool import RequestPool, ThreadRequestPool
from agents.errors import clip
from agents.options import build_options  # noqa: F401  (engines and plug-ins import it here)


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, numpy dtype name, shape (int, or str/None when dynamic)."""

    name: str
    dtype: str
    shape: tuple[int | str | None, ...]

    @property
    def dynamic_dims(self) -> list[str]:
        """Names of the dims that are not fixed (symbolic name, or '?' when unnamed)."""
        return [d if isinstance(d, str) else "?" for d in self.shape if not isinstance(d, int)]


@dataclass
class Artifact:
    """What `Engine.compile` produced: a file (or the model itself for fp32) and its metadata."""

    path: str
    precision: str
    compile_s: float = 0.0
    size_bytes: int | None = None
    cache: str = "none"
    tool_versions: dict[str, str] = dataclasses.field(default_factory=dict)


class Session(ABC):
    """One loaded artifact, ready to run with concrete input shapes."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    @abstractmethod
    def prepare(self, feeds: dict[str, np.ndarray]) -> Any:
        """Turn one input set into the engine's native form, outside the timed region.

        Args:
            feeds: input name -> array of the input's concrete shape and dtype.
        Returns:
            An opaque object accepted by `infer`.
        """

    @abstractmethod
    def infer(self, prepared: Any) -> Any:
        """Run one synchronous inference: the only call the harness times.

        Args:
            prepared: a value returned by `prepare`.
        Returns:
            The engine's outputs, kept alive by the harness so nothing is elided.
        """

    @abstractmethod
    def to_numpy(self, outputs: Any) -> list[np.ndarray]:
        """Copy outputs returned by `infer` into numpy arrays, in `self.outputs` order.

        Args:
            outputs: a value returned by `infer`.
        Returns:
            One array per model output.
        """

    @abstractmethod
    def optimal_requests(self) -> int:
        """How many requests in flight this session serves best (1 for a latency setup).

        Returns:
            The engine's own recommendation, used by the offline and server scenarios.
        """

    # Whether `infer` may run on several threads at once, each with its own prepared object.
    # The default `request_pool` serializes `infer` when this is False.
    thread_safe_infer: bool = False

    def request_pool(self, requests: int) -> RequestPool:
        """A pool that keeps up to `requests` inferences in flight (offline, server scenarios).

        The default runs `infer` on `requests` threads (serialized unless `thread_safe_infer`).
        Engines with a native mechanism override it: OpenVINO's AsyncInferQueue, TensorRT's
        execution contexts on CUDA streams, one TFLite interpreter per request. The caller
        submits only prepared objects (from `prepare`) that are not in flight, and closes the
        pool before `close`.

        Args:
            requests: requests in flight at most, 1 <= requests <= the engine's `max_requests`.
        Returns:
            A `RequestPool` whose `mechanism` says how the requests run.
        """
        return ThreadRequestPool(self.infer, requests, serialize=not self.thread_safe_infer)

    @abstractmethod
    def resolved_config(self) -> dict[str, Any]:
        """The settings the engine actually applied (threads, streams, hint, provider).

        Returns:
            A JSON-ready dict stored with the run.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""

    # Layout mapping for the accuracy check. The fp32 reference is the source ONNX model; a
    # converted artifact may name or lay out its tensors differently (TFLite: NHWC). These two
    # map between them; the defaults are for artifacts that keep the ONNX names and layouts.
    layout_note: str | None = None

    def adapt_inputs(self, reference_feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """This session's feeds for an input set given in the reference model's names/layouts."""
        return reference_feeds

    def adapt_outputs(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        """This session's outputs (from `to_numpy`) in the reference model's order and layout."""
        return outputs


class Engine(ABC):
    """An inference runtime plug-in. Subclasses import their SDK lazily, inside methods."""

    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]]
    Options: ClassVar[type]
    # Model formats this engine loads, by file suffix (".onnx", ".tflite", ".xml" ...).
    formats: ClassVar[tuple[str, ...]] = (".onnx",)
    # Option names that change the compiled artifact (part of the cache key); the others
    # (threads, streams ...) only change how it runs.
    compile_keys: ClassVar[tuple[str, ...]] = ()
    # Part of the artifact cache key: bump it when the engine's own compile code changes what it
    # writes (a fixed converter bug), so artifacts made by the old code are not reused.
    converter_revision: ClassVar[int] = 1
    # Whether int8 uses calibration data (MNN's weight-only int8 does not): runs calibrated on
    # generated data are flagged only where it does.
    calibrates: ClassVar[bool] = True
    # Most requests in flight `bench run --requests` accepts for this engine.
    max_requests: ClassVar[int] = 64

    @abstractmethod
    def version(self) -> str:
        """The SDK's version.

        Returns:
            Version string.
        Raises:
            EngineUnavailable: the SDK is not installed or cannot be imported here.
        """

    @abstractmethod
    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        """Convert, quantize or build the model for `precision` (a no-op for a native fp32).

        Args:
            model_path: the source model.
            precision: fp32, fp16 or int8.
            options: an instance of `self.Options`.
            workdir: an empty directory of the artifact cache, owned by this call; the
                artifact's files go here (the cache moves the directory into place).
            calibration: an `agents.inputs.Calibration` for int8 (its `sets(inputs)` gives
                feeds with concrete shapes for the model's inputs), or None.
        Returns:
            The artifact to load.
        Raises:
            UnsupportedVariant: this engine cannot do `precision` here (the variant is skipped).
            ModelError: conversion or quantization failed; the converter's message is kept.
        """

    def target(self, options: Any) -> str:
        """What an artifact is specific to, for the cache key (CPU arch, GPU model ...).

        Args:
            options: an instance of `self.Options`.
        Returns:
            A short string; artifacts for different targets never share a cache entry.
        """
        import platform
        return platform.machine()

    @abstractmethod
    def load(self, artifact: Artifact, options: Any, shapes: dict[str, list[int]]) -> Session:
        """Load the artifact and fix every input's shape.

        Args:
            artifact: from `compile`.
            options: an instance of `self.Options`.
            shapes: the user's shapes for dynamic inputs (validated by `resolve_shapes`).
        Returns:
            A session whose `inputs` have concrete shapes.
        """

    def scenario_options(self, scenario: str) -> dict[str, Any]:
        """Option defaults for a load scenario; the job's own options override them.

        Args:
            scenario: single-stream, offline or server.
        Returns:
            Raw option values (e.g. OpenVINO's THROUGHPUT hint for offline); none by default.
        """
        return {}

    def options(self, raw: dict[str, Any], source: str = "engine options") -> Any:
        """Validate raw option values into this engine's typed `Options`."""
        return build_options(self.Options, raw, source)

    def supports(self, suffix: str) -> str | None:
        """Whether this engine can run a model file of this suffix here, with what is installed
        (`bench run` picks its default engines with this; the runner checks `formats` only).

        Args:
            suffix: the model file's suffix, lower case (".onnx", ".tflite" ...).
        Returns:
            None when it can, else the reason (the variant is then skipped).
        """
        if suffix in self.formats:
            return None
        return f"{self.name} cannot read {suffix} models; it reads {', '.join(self.formats)}"

    def resolve_options(self, options: Any, shapes: dict[str, list[int]]) -> Any:
        """The options with anything the job's concrete shapes decide (TensorRT: its profile).

        Args:
            options: validated options.
            shapes: the user's shapes for dynamic inputs.
        Returns:
            Options for compile and load (the cache key sees them).
        """
        return options


def short_message(e: BaseException, limit: int = 2000) -> str:
    """An engine's error on one line (their messages span many lines); a message longer than
    `limit` is cut with a visible marker, never silently."""
    text = " ".join(str(e).split())
    return clip(text, limit) if text else type(e).__name__
