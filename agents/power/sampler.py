"""A thread that samples a power sensor on the harness's clock, and the run's power metrics.

    sampler = open_sampler(spec.power)          # never raises for a missing sensor
    sampler.measure_idle(spec.power.idle_s)     # before the run
    sampler.start(); ...warm-up, measure...; sampler.stop()
    metrics = sampler.window_metrics(m.start_ns, m.end_ns, inferences)
    trace = sampler.trace(500, window=(m.start_ns, m.end_ns))
    sampler.close()

A sampler without a sensor (power off, or none usable) does nothing and reports every power
metric as None with `power_reason`, never 0.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np

from agents.errors import SensorUnavailable, UserError
from agents.power import check_options, get_sensor
from agents.power.base import Clock, PowerSensor, Reading
from agents.power.window import (downsample, interval_power, peak_in_window, rail_series,
                                 window_energy_j)

METRICS = ("power_avg_w", "power_idle_w", "power_dynamic_w", "energy_j",
           "energy_per_inference_j", "inferences_per_j")
OFF_REASON = "power sampling off"


class Sampler:
    """Samples `sensor` at `rate_hz` (capped by the sensor's `min_interval_s`) in a thread.

    Args:
        sensor: an open sensor, or None (every metric None with `reason`).
        rate_hz: requested rate; the effective one is in `rate_hz`.
        clock: the harness's clock, used to schedule samples (readings carry the sensor's
            stamps, which must come from the same clock).
        reason: why there is no sensor.
        sleep: waits between idle samples' start and stop (time.sleep in production).
    """

    def __init__(self, sensor: PowerSensor | None, rate_hz: float = 20.0,
                 clock: Clock = time.perf_counter_ns, reason: str | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        if rate_hz <= 0:
            raise UserError(f"power rate_hz must be > 0, got {rate_hz}")
        self.sensor, self.reason = sensor, reason if sensor is None else None
        self.interval_s = max(1.0 / rate_hz, sensor.min_interval_s if sensor else 0.0)
        self._clock, self._sleep = clock, sleep
        self._samples: list[Reading] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.idle_w: float | None = None
        self.idle_reason: str | None = reason if sensor is None else "idle power not measured"

    @property
    def rate_hz(self) -> float:
        """The effective sampling rate."""
        return 1.0 / self.interval_s

    def start(self) -> None:
        """Take a first sample now, then keep sampling in a thread until `stop`."""
        if self.sensor is None:
            return
        if self._thread is not None:
            raise RuntimeError("sampler already running")
        with self._lock:
            self._samples = []
        self.error = None
        self._halt.clear()
        self._take()
        self._thread = threading.Thread(target=self._loop, name="power-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and take a last sample, so that a window ending now is covered."""
        if self._thread is None:
            return
        self._halt.set()
        self._thread.join()
        self._thread = None
        self._take()

    def samples(self) -> list[Reading]:
        """A copy of the readings taken since `start`."""
        with self._lock:
            return list(self._samples)

    def measure_idle(self, seconds: float) -> float | None:
        """Average power over `seconds` of sampling with nothing running (before the run).

        Returns:
            Watts, also kept as `idle_w` for `window_metrics`; None (with `idle_reason`) when
            there is no sensor, `seconds` is 0, or the sensor failed.
        """
        if self.sensor is None:
            return None
        if seconds <= 0:
            self.idle_reason = "idle power not measured (idle_s = 0)"
            return None
        self.start()
        self._sleep(seconds)
        self.stop()
        samples = self.samples()
        if len(samples) < 2:
            self.idle_reason = f"idle: {self.error or 'fewer than 2 readings'}"
            return None
        energy, _, problem = self._energy(samples, samples[0].t_ns, samples[-1].t_ns)
        span_s = (samples[-1].t_ns - samples[0].t_ns) / 1e9
        self.idle_w = energy / span_s if energy is not None else None
        self.idle_reason = None if self.idle_w is not None else f"idle: {problem}"
        return self.idle_w

    def window_metrics(self, start_ns: int, end_ns: int, inferences: int) -> dict[str, Any]:
        """Power metrics over exactly [start_ns, end_ns] (the measured window).

        Args:
            start_ns, end_ns: the window on the harness's clock.
            inferences: what was done in it (items: iterations x batch, like throughput_ips).
        Returns:
            METRICS keys (None when unknown), `power_rails` (summed), `power_method`
            (counter, trapezoid or both), `power_reason` (None when measured), `power_samples`,
            and the sensor's extra peaks (e.g. `gpu_memory_peak_mb`).
        """
        out: dict[str, Any] = {k: None for k in METRICS}
        out.update(power_idle_w=self.idle_w, power_rails=[], power_method=None,
                   power_reason=self.reason, power_samples=0)
        if self.sensor is None:
            return out
        samples = self.samples()
        out["power_rails"] = self.sensor.summed_rails()
        out["power_samples"] = sum(start_ns <= r.t_ns <= end_ns for r in samples)
        energy, method, problem = self._energy(samples, start_ns, end_ns)
        for key in sorted({k for r in samples for k in r.extra}):
            out[key] = peak_in_window(samples, key, start_ns, end_ns)
        if energy is None:
            out["power_reason"] = problem
            return out
        seconds = (end_ns - start_ns) / 1e9
        out.update(energy_j=energy, power_avg_w=energy / seconds, power_method=method)
        if self.idle_w is not None:
            out["power_dynamic_w"] = out["power_avg_w"] - self.idle_w
        if inferences > 0:
            out["energy_per_inference_j"] = energy / inferences
            out["inferences_per_j"] = inferences / energy if energy > 0 else None
        return out

    def trace(self, max_points: int = 500, window: tuple[int, int] | None = None
              ) -> dict[str, Any] | None:
        """The total and per-rail power since `start`, at most `max_points` points, for plots.

        Returns:
            {"t_s": seconds from the first sample, "power_w": total of the summed rails,
            "rails": {rail: watts}, "window_s": [start, end] of `window` on the same axis,
            "sensor", "rate_hz"}; None without samples.
        """
        samples = self.samples()
        if self.sensor is None or len(samples) < 2:
            return None
        origin = samples[0].t_ns
        axis = np.asarray([r.t_ns for r in samples[1:]], dtype=np.float64)
        rails: dict[str, list[float | None]] = {}
        total = np.zeros(axis.size)
        for rail in self.sensor.rails():
            series = rail_series(samples, rail)
            if series is None:
                continue
            mid, watts = interval_power(series)
            on_axis = np.interp(axis, mid, watts)
            if rail in self.sensor.summed_rails():
                total += on_axis
            rails[rail] = _rounded(*downsample(axis, on_axis, max_points))[1]
        t, p = _rounded(*downsample(axis, total, max_points))
        return {"t_s": [round((x - origin) / 1e9, 4) for x in t], "power_w": p, "rails": rails,
                "window_s": [round((w - origin) / 1e9, 4) for w in window] if window else None,
                "sensor": self.sensor.name, "rate_hz": round(self.rate_hz, 3)}

    def describe(self) -> dict[str, Any]:
        """What was sampled and how, for `RunResult.environment["power"]`."""
        if self.sensor is None:
            return {"sensor": None, "reason": self.reason}
        return {"sensor": self.sensor.name, "options": self.sensor.config(),
                "rails": self.sensor.rails(), "summed_rails": self.sensor.summed_rails(),
                "rate_hz": round(self.rate_hz, 3), "idle_reason": self.idle_reason,
                "error": self.error}

    def close(self) -> None:
        """Stop sampling and close the sensor."""
        self.stop()
        if self.sensor is not None:
            self.sensor.close()

    def _energy(self, samples: list[Reading], start_ns: int, end_ns: int
                ) -> tuple[float | None, str | None, str | None]:
        """(joules of the summed rails, method, None) or (None, None, why not)."""
        total, kinds = 0.0, set()
        for rail in self.sensor.summed_rails() if self.sensor else []:
            series = rail_series(samples, rail)
            if series is None:
                return None, None, self.error or f"rail {rail}: fewer than 2 readings"
            try:
                total += window_energy_j(series, start_ns, end_ns)
            except ValueError as e:
                return None, None, f"rail {rail}: {e}" + (f" ({self.error})" if self.error else "")
            kinds.add("counter" if series.kind == "energy" else "trapezoid")
        return total, "+".join(sorted(kinds)), None

    def _loop(self) -> None:
        interval_ns = int(self.interval_s * 1e9)
        due = self._clock() + interval_ns
        while not self._halt.wait(max(0.0, (due - self._clock()) / 1e9)):
            if not self._take():
                return
            due += interval_ns
            now = self._clock()
            if due < now:  # a slow read: skip the missed slots rather than bursting
                due = now + interval_ns

    def _take(self) -> bool:
        try:
            reading = self.sensor.read()  # type: ignore[union-attr]
        except Exception as e:  # a sensor failure ends sampling; the reason goes in the run
            self.error = (e.reason if isinstance(e, SensorUnavailable)
                          else f"{type(e).__name__}: {e}")
            return False
        with self._lock:
            # tegrastats-like sources return their newest line again until a new one arrives
            if not self._samples or reading.t_ns > self._samples[-1].t_ns:
                self._samples.append(reading)
        return True


def open_sampler(sensor: str, options: dict[str, Any] | None = None, rate_hz: float = 20.0,
                 clock: Clock = time.perf_counter_ns) -> Sampler:
    """A sampler for `PowerSpec`'s sensor and options; a sampler without a sensor when the
    sensor is `none` or not usable here (the reason is kept).

    Raises:
        UnknownSensor, UserError: an unknown sensor name, option or rate.
    """
    if rate_hz <= 0:
        raise UserError(f"power rate_hz must be > 0, got {rate_hz}")
    if sensor == "none":
        check_options("none", options)
        return Sampler(None, rate_hz, clock, reason=OFF_REASON)
    try:
        return Sampler(get_sensor(sensor, options, clock), rate_hz, clock)
    except SensorUnavailable as e:
        return Sampler(None, rate_hz, clock, reason=f"{e.sensor}: {e.reason}")


def _rounded(t: np.ndarray, w: np.ndarray) -> tuple[list[float], list[float | None]]:
    return t.tolist(), [None if not np.isfinite(x) else round(float(x), 4) for x in w]
