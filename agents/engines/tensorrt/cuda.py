"""The few CUDA runtime calls the TensorRT engine needs: device, buffers, one stream, events.

cuda-python's runtime bindings live in `cuda.bindings.runtime` from cuda-python 12.6 on (the
only place in 13.x) and in `cuda.cudart` before; both are tried, lazily. Every binding returns
`(cudaError_t, *values)`; `call` turns an error into `CudaError` with the runtime's own text.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.errors import EngineUnavailable, InfraError

_RT: Any = None
_DEVICES: dict[int, "DeviceInfo"] = {}


class CudaError(InfraError):
    """A CUDA runtime call failed (out of memory, lost device ...)."""


def runtime() -> Any:
    """The cuda-python runtime module.

    Raises:
        EngineUnavailable: cuda-python is not installed here.
    """
    global _RT
    if _RT is None:
        try:
            from cuda.bindings import runtime as rt
        except ImportError:
            try:
                from cuda import cudart as rt
            except ImportError as e:
                raise EngineUnavailable("tensorrt", "cannot import cuda-python (cuda.bindings."
                                        f"runtime or cuda.cudart): {e}") from e
        _RT = rt
    return _RT


def _describe(err: Any) -> str:
    rt = runtime()
    text = rt.cudaGetErrorString(err)[1]
    return f"{getattr(err, 'name', err)} ({text.decode() if isinstance(text, bytes) else text})"


def call(result: tuple, what: str) -> Any:
    """The value(s) of a runtime call, or CudaError naming the call and the error."""
    err, *values = result
    if err != runtime().cudaError_t.cudaSuccess:
        raise CudaError(f"{what} failed: {_describe(err)}")
    return values[0] if len(values) == 1 else tuple(values) or None


@dataclass(frozen=True)
class DeviceInfo:
    """One CUDA device as the runtime reports it."""

    index: int
    name: str
    major: int
    minor: int
    memory_bytes: int

    @property
    def compute_capability(self) -> str:
        """e.g. '8.9'."""
        return f"{self.major}.{self.minor}"


def device_count() -> int:
    """How many CUDA devices this process sees.

    Raises:
        EngineUnavailable: none, with what cudaGetDeviceCount returned (no driver, no device).
    """
    err, count = runtime().cudaGetDeviceCount()
    if err != runtime().cudaError_t.cudaSuccess:
        raise EngineUnavailable("tensorrt", f"no CUDA device: cudaGetDeviceCount returned {_describe(err)}")
    if not count:
        raise EngineUnavailable("tensorrt", "no CUDA device: cudaGetDeviceCount returned 0")
    return int(count)


def open_device(index: int) -> DeviceInfo:
    """Make device `index` current for this thread and describe it.

    Raises:
        EngineUnavailable: no CUDA device, or no device with that index.
    """
    count = device_count()
    if index >= count:
        raise EngineUnavailable("tensorrt", f"CUDA device {index} not found; this machine has {count}")
    rt = runtime()
    call(rt.cudaSetDevice(index), f"cudaSetDevice({index})")
    if index not in _DEVICES:
        prop = call(rt.cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
        name = prop.name.split(b"\0")[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
        _DEVICES[index] = DeviceInfo(index, name, int(prop.major), int(prop.minor),
                                     int(prop.totalGlobalMem))
    return _DEVICES[index]


class Memory:
    """Device and pinned host allocations of one owner, all freed by `free()`."""

    def __init__(self) -> None:
        self._device: list[int] = []
        self._host: list[int] = []

    def device(self, nbytes: int) -> int:
        """A device buffer of at least one byte (TensorRT wants a non-null address)."""
        ptr = int(call(runtime().cudaMalloc(max(nbytes, 1)), f"cudaMalloc({nbytes})"))
        self._device.append(ptr)
        return ptr

    def pinned(self, shape: list[int], dtype: np.dtype) -> np.ndarray:
        """A page-locked host array (needed for truly asynchronous copies)."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        ptr = int(call(runtime().cudaMallocHost(max(nbytes, 1)), f"cudaMallocHost({nbytes})"))
        self._host.append(ptr)
        raw = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_uint8)), (max(nbytes, 1),))
        return raw[:nbytes].view(dtype).reshape(shape)

    def free(self) -> None:
        """Release everything this owner allocated."""
        rt = runtime()
        for ptr in self._device:
            rt.cudaFree(ptr)
        for ptr in self._host:
            rt.cudaFreeHost(ptr)
        self._device, self._host = [], []


def copy_to_device(dst: int, src: np.ndarray, stream: Any) -> None:
    """Enqueue a host-to-device copy of `src` (C-contiguous) on `stream`."""
    if src.nbytes:
        rt = runtime()
        call(rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes,
                                rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync H2D")


def copy_to_host(dst: np.ndarray, src: int, stream: Any) -> None:
    """Enqueue a device-to-host copy into `dst` (C-contiguous) on `stream`."""
    if dst.nbytes:
        rt = runtime()
        call(rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes,
                                rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync D2H")


class Stream:
    """One non-default CUDA stream (TensorRT warns that the default stream adds syncs)."""

    def __init__(self) -> None:
        self.handle = call(runtime().cudaStreamCreate(), "cudaStreamCreate")
        self.ptr = int(self.handle)

    def sync(self) -> None:
        """Block until everything enqueued on the stream is done."""
        call(runtime().cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def close(self) -> None:
        """Destroy the stream."""
        runtime().cudaStreamDestroy(self.handle)


class EventTimer:
    """A start/end event pair: device time of the work enqueued between them."""

    def __init__(self) -> None:
        rt = runtime()
        self._start = call(rt.cudaEventCreate(), "cudaEventCreate")
        self._end = call(rt.cudaEventCreate(), "cudaEventCreate")

    def start(self, stream: Any) -> None:
        """Record the start event on `stream`."""
        call(runtime().cudaEventRecord(self._start, stream), "cudaEventRecord")

    def end(self, stream: Any) -> None:
        """Record the end event on `stream`."""
        call(runtime().cudaEventRecord(self._end, stream), "cudaEventRecord")

    def elapsed_ms(self) -> float:
        """Milliseconds between the events (waits for the end event; ~0.5 us resolution)."""
        rt = runtime()
        call(rt.cudaEventSynchronize(self._end), "cudaEventSynchronize")
        return float(call(rt.cudaEventElapsedTime(self._start, self._end), "cudaEventElapsedTime"))

    def close(self) -> None:
        """Destroy both events."""
        rt = runtime()
        rt.cudaEventDestroy(self._start)
        rt.cudaEventDestroy(self._end)
