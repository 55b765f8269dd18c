"""Energy over an exact time window, and a downsampled trace, from a list of readings.

Pure functions, no threads and no I/O. Per rail, a cumulative energy counter is preferred:
the energy in [start, end] is the counter's value linearly interpolated at `end` minus at
`start`. A rail with power only is integrated with the trapezoid rule over the samples inside
the window plus the power interpolated at both edges. Either way the samples must bracket the
window; energy outside it is never counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.power.base import Reading

# numpy 2.0 renamed trapz; boards on Python 3.8 have numpy 1.24 at most.
_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


@dataclass
class Series:
    """One rail's samples: times (ns) and either cumulative joules or watts."""

    t_ns: np.ndarray
    values: np.ndarray
    kind: str  # energy | power


def rail_series(samples: list[Reading], rail: str) -> Series | None:
    """The rail's counter series when it has one, else its power series, else None."""
    for kind, attr in (("energy", "energy_j"), ("power", "power_w")):
        pts = [(r.t_ns, getattr(r, attr)[rail]) for r in samples if rail in getattr(r, attr)]
        if len(pts) >= 2:
            t, v = zip(*pts)
            return Series(np.asarray(t, dtype=np.int64), np.asarray(v, dtype=np.float64), kind)
    return None


def window_energy_j(series: Series, start_ns: int, end_ns: int) -> float:
    """Joules of one rail in [start_ns, end_ns].

    Raises:
        ValueError: the samples do not bracket the window (the sampler started late or stopped
            early), or the window is empty.
    """
    if end_ns <= start_ns:
        raise ValueError(f"empty window [{start_ns}, {end_ns}]")
    t = series.t_ns
    if t[0] > start_ns or t[-1] < end_ns:
        first, last = (t[0] - start_ns) / 1e9, (t[-1] - start_ns) / 1e9
        raise ValueError(f"samples cover {first:+.3f}..{last:+.3f} s of a window of "
                         f"0..{(end_ns - start_ns) / 1e9:.3f} s")
    rel: np.ndarray = (t - start_ns).astype(np.float64)  # small numbers keep float64 exact to the ns
    end = float(end_ns - start_ns)
    if series.kind == "energy":
        e0, e1 = np.interp([0.0, end], rel, series.values)
        return float(e1 - e0)
    inside = (rel > 0) & (rel < end)
    edges = np.interp([0.0, end], rel, series.values)
    times = np.concatenate(([0.0], rel[inside], [end]))
    watts = np.concatenate(([edges[0]], series.values[inside], [edges[1]]))
    return float(_trapezoid(watts, times) / 1e9)


def interval_power(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """Average watts over each interval between samples, at the interval's midpoint (ns)."""
    t: np.ndarray = series.t_ns.astype(np.float64)
    dt_s = np.diff(t) / 1e9
    mid = (t[:-1] + t[1:]) / 2
    if series.kind == "energy":
        return mid, np.diff(series.values) / dt_s
    return mid, (series.values[:-1] + series.values[1:]) / 2


def downsample(t: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: the mean of each run of consecutive points.

    Means (not every n-th point) keep the trace's area, so its energy still adds up.
    """
    if t.size <= max_points:
        return t, values
    buckets = np.array_split(np.arange(t.size), max_points)
    return (np.array([t[b].mean() for b in buckets]),
            np.array([values[b].mean() for b in buckets]))


def peak_in_window(samples: list[Reading], key: str, start_ns: int, end_ns: int) -> float | None:
    """The largest value of `key` among the extras read in [start_ns, end_ns]."""
    values = [r.extra[key] for r in samples if key in r.extra and start_ns <= r.t_ns <= end_ns]
    return max(values) if values else None
