"""A TensorRT session: a deserialized plan, one execution context, one stream, device buffers.

Several requests in flight (offline and server scenarios) get one execution context per request,
each with its own CUDA stream, output buffers and event timer (`_Lane`), the way trtexec's
`--infStreams` does: the GPU overlaps one context's kernels with another's enqueue and copies.

Each prepared input set owns device buffers for every input and output, so sets rotate without
copies: `infer` binds the set's addresses, enqueues `execute_async_v3` and synchronizes the
stream. With `include_copies` the set also owns page-locked host buffers and `infer` enqueues
the host-to-device and device-to-host copies around the engine call. A CUDA event pair around
the enqueued work gives each call's device time (`take_device_times_ms`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import Artifact, Session, TensorInfo
from agents.engines.pool import RequestPool, ThreadRequestPool
from agents.engines.tensorrt import cuda as trt_cuda
from agents.engines.tensorrt.build import IO, make_logger, numpy_dtype
from agents.engines.tensorrt.profile import within
from agents.errors import InfraError, ModelError, UserError
from agents.inputs import resolve_shapes


def _dims(t: TensorInfo) -> list[int]:
    # A loaded session's tensors have concrete shapes (the profile fixed every dynamic dim).
    return [int(d) for d in t.shape if d is not None]


@dataclass
class _IoSet:
    """One prepared input set: its own device buffers for every input and output."""

    addresses: list[tuple[str, int]]
    outputs: list[int]
    h2d: list[tuple[int, np.ndarray]]
    host_out: list[np.ndarray]
    stream: Any = None  # the stream the outputs were written on (None: the session's own)


class TrtSession(Session):
    """A deserialized plan with one execution context, one stream and concrete shapes."""

    def __init__(self, loaded: dict[str, Any], options: Any, inputs: list[TensorInfo],
                 outputs: list[TensorInfo], recorded: dict[str, Any]):
        self._loaded, self._options, self._recorded = loaded, options, recorded
        self._context = loaded["context"]
        self.inputs, self.outputs = inputs, outputs
        self._memory = trt_cuda.Memory()
        self._stream = trt_cuda.Stream()
        self._timer = trt_cuda.EventTimer() if options.device_timing else None
        self._device_ms: list[float] = []
        self._times_lock = threading.Lock()
        self._lanes = 1

    def prepare(self, feeds: dict[str, np.ndarray]) -> _IoSet:
        io = _IoSet([], [], [], [])
        for t in self.inputs:
            arr = np.ascontiguousarray(feeds[t.name], dtype=t.dtype)
            ptr = self._memory.device(arr.nbytes)
            io.addresses.append((t.name, ptr))
            if self._options.include_copies:
                host = self._memory.pinned(list(arr.shape), arr.dtype)
                np.copyto(host, arr)
                io.h2d.append((ptr, host))
            else:
                trt_cuda.copy_to_device(ptr, arr, self._stream.handle)
        for t in self.outputs:
            ptr = self._memory.device(_nbytes(t))
            io.addresses.append((t.name, ptr))
            io.outputs.append(ptr)
            if self._options.include_copies:
                io.host_out.append(self._memory.pinned(_dims(t), np.dtype(t.dtype)))
        self._stream.sync()
        return io

    def infer(self, prepared: _IoSet) -> _IoSet:
        _execute(self._context, self._stream, self._timer, prepared.addresses, prepared.h2d,
                 zip(prepared.host_out, prepared.outputs), self._record, self._loaded["logger"])
        return prepared

    def to_numpy(self, outputs: _IoSet) -> list[np.ndarray]:
        if outputs.host_out:
            return [h.copy() for h in outputs.host_out]
        stream = outputs.stream or self._stream
        arrays: list[np.ndarray] = [np.empty(_dims(t), dtype=t.dtype) for t in self.outputs]
        for arr, ptr in zip(arrays, outputs.outputs):
            trt_cuda.copy_to_host(arr, ptr, stream.handle)
        stream.sync()
        return arrays

    def optimal_requests(self) -> int:
        # Two contexts let one enqueue (and copy) while the other computes; more rarely helps
        # a single GPU (trtexec's --infStreams default is 1, benchmark-minded users pick 2-4).
        return 2

    def request_pool(self, requests: int) -> RequestPool:
        """One execution context, stream and set of output buffers per request in flight.

        Raises:
            InfraError: TensorRT cannot create another context (out of GPU memory).
        """
        device = self._loaded["device"].index
        lanes: list[_Lane] = []
        try:
            for i in range(requests):
                context = self._context if i == 0 else self._new_context()
                lanes.append(_Lane(self, context, own_stream=i > 0))
        except BaseException:
            for lane in lanes:
                lane.close()
            raise
        self._lanes = requests

        def worker(lane: _Lane):
            ready = [False]

            def infer(prepared: _IoSet) -> _IoSet:
                if not ready[0]:  # the CUDA device is per host thread
                    trt_cuda.call(trt_cuda.runtime().cudaSetDevice(device), "cudaSetDevice")
                    ready[0] = True
                return lane.infer(prepared)
            return infer

        pool = _LanePool([worker(lane) for lane in lanes], requests, lanes)
        pool.mechanism = (f"{requests} TensorRT execution contexts on {requests} CUDA streams"
                          if requests > 1 else "1 TensorRT execution context")
        return pool

    def _new_context(self) -> Any:
        context = self._loaded["engine"].create_execution_context()
        if context is None:
            raise InfraError("tensorrt: no further execution context (out of GPU memory?): "
                             + "; ".join(self._loaded["logger"].errors[-3:]))
        for t in self.inputs:
            if not context.set_input_shape(t.name, tuple(t.shape)):
                raise InfraError(f"tensorrt: a new context rejects input '{t.name}' shape {t.shape}")
        return context

    def _record(self, ms: float) -> None:
        with self._times_lock:
            self._device_ms.append(ms)

    def take_device_times_ms(self) -> list[float]:
        """CUDA-event time of every `infer` since the last take (empty without device_timing).

        Returns:
            Milliseconds per call, in call order; the list is cleared.
        """
        out, self._device_ms = self._device_ms, []
        return out

    def resolved_config(self) -> dict[str, Any]:
        dev: trt_cuda.DeviceInfo = self._loaded["device"]
        opts = self._options
        timed = "execute_async_v3 + stream sync"
        if opts.include_copies:
            timed = "H2D copy + execute_async_v3 + D2H copy + stream sync"
        return {"device": dev.index, "gpu": dev.name, "compute_capability": dev.compute_capability,
                "tensorrt": self._loaded["version"], "timed_region": timed,
                "include_copies": opts.include_copies, "streams": self._lanes,
                "execution_contexts": self._lanes,
                "device_timing": "cuda-events" if opts.device_timing else None,
                **self._recorded}

    def close(self) -> None:
        # The context goes before the buffers it is bound to; the engine keeps its runtime alive.
        self._context = None
        self._loaded.clear()
        if self._timer:
            self._timer.close()
        self._memory.free()
        self._stream.close()


class _Lane:
    """One request in flight: an execution context with its own stream, outputs and timer.

    Inputs are read from the prepared set's device buffers (shared, read-only); with
    `include_copies` the lane copies them from the set's pinned host arrays into its own device
    buffers first, so two lanes never write one buffer.
    """

    def __init__(self, session: TrtSession, context: Any, own_stream: bool):
        self._session, self._context = session, context
        self._memory = trt_cuda.Memory()
        self._own_stream = own_stream
        self._stream = trt_cuda.Stream() if own_stream else session._stream
        self._timer = trt_cuda.EventTimer() if session._options.device_timing else None
        copies = session._options.include_copies
        self._inputs = {t.name: self._memory.device(_nbytes(t)) for t in session.inputs} if copies else {}
        self._out = [(t.name, self._memory.device(_nbytes(t))) for t in session.outputs]
        self._out_names = {name for name, _ in self._out}
        host_out = [self._memory.pinned(_dims(t), np.dtype(t.dtype))
                    for t in session.outputs] if copies else []
        self._d2h = list(zip(host_out, [ptr for _, ptr in self._out]))
        # What every call returns: this lane's outputs (read in the pool's callback, before the
        # lane runs again).
        self._result = _IoSet([], [ptr for _, ptr in self._out], [], host_out, self._stream)

    def infer(self, prepared: _IoSet) -> _IoSet:
        addresses = [(name, self._inputs.get(name, ptr)) for name, ptr in prepared.addresses
                     if name not in self._out_names] + self._out
        h2d = [(self._inputs[name], host) for (name, _), (_, host) in zip(prepared.addresses, prepared.h2d)]
        _execute(self._context, self._stream, self._timer, addresses, h2d, self._d2h,
                 self._session._record, self._session._loaded["logger"])
        return self._result

    def close(self) -> None:
        if self._own_stream:
            self._context = None
        if self._timer:
            self._timer.close()
        self._memory.free()
        if self._own_stream:
            self._stream.close()


def _execute(ctx: Any, stream: trt_cuda.Stream, timer: trt_cuda.EventTimer | None,
             addresses: list[tuple[str, int]], h2d: list[tuple[int, np.ndarray]], d2h: Any,
             record: Any, logger: Any) -> None:
    """Bind the tensors, enqueue copies in, `execute_async_v3`, copies out, and wait; the CUDA
    events around it give the device time (`record`).

    Raises:
        RuntimeError: TensorRT refused to enqueue, with its last errors.
    """
    for name, ptr in addresses:
        ctx.set_tensor_address(name, ptr)
    if timer:
        timer.start(stream.handle)
    for ptr, host in h2d:
        trt_cuda.copy_to_device(ptr, host, stream.handle)
    ok = ctx.execute_async_v3(stream.ptr)
    for host, ptr in d2h:
        trt_cuda.copy_to_host(host, ptr, stream.handle)
    if timer:
        timer.end(stream.handle)
    stream.sync()
    if timer:
        record(timer.elapsed_ms())
    if not ok:
        raise RuntimeError("tensorrt: execute_async_v3 failed: " + "; ".join(logger.errors[-3:]))


class _LanePool(ThreadRequestPool):
    """The thread pool over lanes; closing it frees the lanes' contexts and buffers."""

    def __init__(self, infers: list, size: int, lanes: list[_Lane]):
        super().__init__(infers, size)
        self._lanes = lanes

    def close(self) -> None:
        super().close()
        for lane in self._lanes:
            lane.close()
        self._lanes = []


def open_session(trt: Any, artifact: Artifact, options: Any, shapes: dict[str, list[int]],
                 recorded: dict[str, Any]) -> TrtSession:
    """Deserialize the plan, fix every input's shape and bind a context to it.

    Args:
        trt: the tensorrt module.
        artifact: the plan (and its io.json beside it).
        options: TensorRtOptions.
        shapes: the user's shapes for dynamic inputs.
        recorded: settings to report in `resolved_config` (compile options, build notes).
    Raises:
        UserError: a dynamic dim left open, or a shape outside the plan's profile.
        InfraError: the plan cannot be deserialized here.
    """
    loaded = _deserialize(trt, Path(artifact.path), options.device)
    engine, context = loaded["engine"], loaded["context"]
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
    infos = [_info(trt, engine, n) for n in names if is_input[n]]
    resolved = resolve_shapes(infos, shapes)
    for t in infos:
        _check_profile(engine, t, resolved[t.name])
        if not context.set_input_shape(t.name, tuple(resolved[t.name])):
            raise UserError(f"tensorrt: input '{t.name}' rejects shape {resolved[t.name]}")
    outputs = [_output(trt, engine, context, n) for n in _ordered(artifact, names, is_input)]
    inputs = [TensorInfo(t.name, t.dtype, tuple(resolved[t.name])) for t in infos]
    return TrtSession(loaded, options, inputs, outputs, recorded)


def _deserialize(trt: Any, plan: Path, device: int) -> dict[str, Any]:
    dev = trt_cuda.open_device(device)
    logger = make_logger(trt)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan.read_bytes())
    if engine is None:
        raise InfraError(f"tensorrt cannot deserialize {plan.name} (built for another GPU or "
                         f"TensorRT version?): {'; '.join(logger.errors[-3:])}")
    context = engine.create_execution_context()
    if context is None:
        raise InfraError(f"tensorrt: no execution context (out of GPU memory?): "
                         f"{'; '.join(logger.errors[-3:])}")
    return {"runtime": runtime, "engine": engine, "context": context, "logger": logger,
            "device": dev, "version": trt.__version__}


def _info(trt: Any, engine: Any, name: str) -> TensorInfo:
    dims = tuple(int(d) if d >= 0 else None for d in engine.get_tensor_shape(name))
    return TensorInfo(name, numpy_dtype(trt, engine.get_tensor_dtype(name), name), dims)


def _check_profile(engine: Any, info: TensorInfo, shape: list[int]) -> None:
    if not info.dynamic_dims:
        return
    low, _, high = ([int(d) for d in dims] for dims in engine.get_tensor_profile_shape(info.name, 0))
    if not within(shape, low, high):
        raise UserError(f"--shape {info.name}={','.join(map(str, shape))} is outside the plan's "
                        f"profile (min {low}, max {high}); set tensorrt.min_shapes/max_shapes "
                        f"to build a wider one")


def _output(trt: Any, engine: Any, context: Any, name: str) -> TensorInfo:
    info = _info(trt, engine, name)
    shape = tuple(int(d) for d in context.get_tensor_shape(name))
    if any(d < 0 for d in shape):
        raise ModelError(f"tensorrt: output '{name}' has a data-dependent shape {list(shape)}, "
                         "which benchlab does not support")
    return TensorInfo(name, info.dtype, shape)


def _ordered(artifact: Artifact, names: list[str], is_input: dict[str, bool]) -> list[str]:
    # Outputs in the ONNX graph's order, as the accuracy check compares by position.
    outputs = [n for n in names if not is_input[n]]
    io = Path(artifact.path).with_name(IO)
    if io.is_file():
        order = {n: i for i, n in enumerate(json.loads(io.read_text())["outputs"])}
        outputs.sort(key=lambda n: order.get(n, len(order)))
    return outputs


def _nbytes(info: TensorInfo) -> int:
    return int(np.prod(info.shape, dtype=np.int64)) * np.dtype(info.dtype).itemsize
