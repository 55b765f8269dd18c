"""NVIDIA GPUs through NVML (the `pynvml` module of the nvidia-ml-py package).

Per GPU, the total energy counter (`nvmlDeviceGetTotalEnergyConsumption`, millijoules since the
driver loaded; Volta and newer) is preferred; a GPU without it is polled with
`nvmlDeviceGetPowerUsage` (milliwatts, averaged by the driver over a short window). The memory
in use on the sampled GPUs is read alongside and reported as its peak over the window.
Rails are `gpu<index>`; all are summed.

pynvml is imported when the sensor is opened, never when `agents` is imported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from agents.errors import SensorUnavailable, UserError
from agents.power.base import Clock, PowerSensor, Reading, choose_rails, stamped

MODES = ("auto", "energy", "power")


@dataclass
class NvmlOptions:
    """devices: GPU indices to sample (all when None). mode: auto (energy counter where the GPU
    has one, else power), energy or power. rails: sum exactly these rails (gpu<index>)."""

    devices: list[int] | None = None
    mode: str = "auto"
    rails: list[str] | None = None

    def validate(self, source: str) -> None:
        """Reject an unknown mode, naming the option."""
        if self.mode not in MODES:
            raise UserError(f"{source}: mode must be one of {', '.join(MODES)}")


class NvmlSensor(PowerSensor):
    """GPU board energy (or power) per device, with GPU memory in use."""

    name = "nvml"
    Options = NvmlOptions

    def __init__(self, options: NvmlOptions, clock: Clock = time.perf_counter_ns,
                 nvml: ModuleType | None = None):
        self.options, self._clock = options, clock
        self._nvml = nvml or _import_pynvml()
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as e:
            raise SensorUnavailable("nvml", f"NVML cannot start: {e}") from e
        try:
            self._gpus = self._open_devices()
        except BaseException:
            self._nvml.nvmlShutdown()
            raise
        self._rails = [rail for rail, _, _ in self._gpus]
        self._summed = choose_rails("nvml", self._rails, self._rails, options.rails)

    @property
    def min_interval_s(self) -> float:
        """NVML refreshes power and energy about every 20 ms or slower."""
        return 0.02

    def rails(self) -> list[str]:
        """gpu<index> for each sampled GPU."""
        return list(self._rails)

    def summed_rails(self) -> list[str]:
        """All sampled GPUs, unless `rails` chose some."""
        return list(self._summed)

    def methods(self) -> dict[str, str]:
        """rail -> energy or power: how each GPU is measured."""
        return {rail: kind for rail, _, kind in self._gpus}

    def read(self) -> Reading:
        """Energy (J since the driver loaded) or power (W) per GPU, and memory in use."""
        try:
            t_ns, values = stamped(self._clock, self._sample)
        except self._nvml.NVMLError as e:
            raise SensorUnavailable("nvml", f"NVML read failed: {e}") from e
        reading = Reading(t_ns=t_ns)
        used_b = 0
        for (rail, _, kind), (value, mem_b) in zip(self._gpus, values):
            if kind == "energy":
                reading.energy_j[rail] = value / 1e3
            else:
                reading.power_w[rail] = value / 1e3
            used_b += mem_b
        reading.extra["gpu_memory_peak_mb"] = used_b / 2**20
        return reading

    def close(self) -> None:
        """Shut NVML down (it counts its users, so other NVML clients are unaffected)."""
        self._nvml.nvmlShutdown()

    def _sample(self) -> list[tuple[int, int]]:
        nv = self._nvml
        out = []
        for _, handle, kind in self._gpus:
            value = (nv.nvmlDeviceGetTotalEnergyConsumption(handle) if kind == "energy"
                     else nv.nvmlDeviceGetPowerUsage(handle))
            out.append((value, nv.nvmlDeviceGetMemoryInfo(handle).used))
        return out

    def _open_devices(self) -> list[tuple[str, Any, str]]:
        nv = self._nvml
        count = nv.nvmlDeviceGetCount()
        if count == 0:
            raise SensorUnavailable("nvml", "NVML sees no GPU")
        indices = self.options.devices if self.options.devices is not None else range(count)
        missing = [i for i in indices if not 0 <= i < count]
        if missing:
            raise UserError(f"power sensor 'nvml': no GPU with index {missing}; "
                            f"this device has {count} (0..{count - 1})")
        return [(f"gpu{i}", h, self._method(h)) for i in indices
                for h in [nv.nvmlDeviceGetHandleByIndex(i)]]

    def _method(self, handle: Any) -> str:
        nv = self._nvml
        if self.options.mode in ("auto", "energy"):
            try:
                nv.nvmlDeviceGetTotalEnergyConsumption(handle)
                return "energy"
            except nv.NVMLError as e:
                if self.options.mode == "energy":
                    raise SensorUnavailable("nvml", f"no energy counter on this GPU: {e}") from e
        try:
            nv.nvmlDeviceGetPowerUsage(handle)
        except nv.NVMLError as e:
            raise SensorUnavailable("nvml", f"GPU power reading not supported: {e}") from e
        return "power"


def _import_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError as e:
        raise SensorUnavailable("nvml", "pynvml is not installed (pip install nvidia-ml-py)") from e
    return pynvml
