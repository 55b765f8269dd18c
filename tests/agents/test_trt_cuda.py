"""The CUDA runtime layer under the TensorRT engine (device, pinned/device buffers, stream, events),
run for real on an NVIDIA GPU (`pytest -m gpu`). It needs cuda-python only, not TensorRT."""

from __future__ import annotations

import time

import numpy as np
import pytest

from agents.engines.tensorrt import cuda as trt_cuda
from agents.errors import EngineUnavailable


def _device():
    try:
        return trt_cuda.open_device(0)
    except EngineUnavailable as e:
        pytest.skip(f"no CUDA here: {e.reason}")


@pytest.mark.gpu
def test_device_is_described():
    info = _device()
    assert info.name and info.memory_bytes > 2**30 and info.major >= 3
    print(f"CUDA device 0: {info.name}, cc {info.compute_capability}, {info.memory_bytes / 2**30:.1f} GiB")


@pytest.mark.gpu
def test_round_trip_through_device_memory_on_a_stream_with_event_times():
    _device()
    memory, stream, timer = trt_cuda.Memory(), trt_cuda.Stream(), trt_cuda.EventTimer()
    try:
        n = 16 * 2**20 // 4  # 16 MiB of float32
        src = memory.pinned([n], np.float32)
        src[:] = np.arange(n, dtype=np.float32)
        dst = memory.pinned([n], np.float32)
        dst[:] = -1
        buf = memory.device(src.nbytes)
        timer.start(stream.handle)
        trt_cuda.copy_to_device(buf, src, stream.handle)
        trt_cuda.copy_to_host(dst, buf, stream.handle)
        timer.end(stream.handle)
        t0 = time.perf_counter()
        ms = timer.elapsed_ms()
        stream.sync()
        wall_ms = (time.perf_counter() - t0) * 1e3
        np.testing.assert_array_equal(dst, src)
        # 32 MiB moved over PCIe/NVLink: some time, and a plausible bandwidth (> 0.5 GB/s)
        assert 0 < ms < 32 * 2**20 / 0.5e9 * 1e3
        print(f"H2D+D2H of 16 MiB: {ms:.3f} ms by CUDA events ({2 * src.nbytes / ms / 1e6:.1f} GB/s), "
              f"host wait {wall_ms:.3f} ms")
    finally:
        timer.close()
        stream.close()
        memory.free()


@pytest.mark.gpu
def test_an_impossible_allocation_is_a_cuda_error_naming_the_call():
    _device()
    memory = trt_cuda.Memory()
    try:
        with pytest.raises(trt_cuda.CudaError, match=r"cudaMalloc\(.*\) failed: cudaErrorMemoryAllocation"):
            memory.device(1 << 50)
    finally:
        memory.free()
