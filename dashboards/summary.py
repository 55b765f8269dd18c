"""Pure aggregations behind the figures: variants, costs, distributions, Pareto fronts.

A variant here is one (device, engine, precision, options) cell of a study; its numbers are the
medians over its `ok` runs, so a study that ran a variant several times shows one honest value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A purchase price becomes a cost per hour over this many hours of continuous use (3 years).
AMORTISATION_H = 3 * 365 * 24
_MEDIANS = ("latency_p50_ms", "latency_p99_ms", "throughput_ips", "energy_per_inference_j",
            "inferences_per_j", "power_avg_w", "cost_per_hour", "cost_per_million")
_KEYS = ["device", "variant"]


def with_cost(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `cost_per_hour` (a purchase `price` amortised over AMORTISATION_H when no hourly
    cost is known) and `cost_per_million` inferences; NaN where the device has no cost."""
    out = runs.copy()
    hourly = out["cost_per_hour"] if "cost_per_hour" in out else pd.Series(np.nan, index=out.index)
    if "price" in out:
        hourly = hourly.fillna(out["price"] / AMORTISATION_H)
    out["cost_per_hour"] = hourly.astype(float)
    out["cost_per_million"] = out["cost_per_hour"] / (out["throughput_ips"].astype(float) * 3600) * 1e6
    return out


def variant_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, variant): its `label` (see `labels`), run counts, the status (ok
    when any run is ok, else the last run's), the last error, the last power-sensor reason and
    the medians of the `ok` runs (NaN where no ok run of the variant measured it)."""
    runs = with_cost(runs)
    numeric = [*_MEDIANS, *accuracy_columns(runs)]
    runs = runs.assign(**{c: np.nan for c in numeric if c not in runs})  # e.g. no power metric
    runs[numeric] = runs[numeric].astype(float)
    groups = runs.groupby(_KEYS, sort=True)
    ok = runs[runs["status"] == "ok"]
    out = groups[["engine", "precision"]].first()
    out["runs"], out["last_status"] = groups.size(), groups["status"].last()
    out["ok_runs"] = ok.groupby(_KEYS).size().reindex(out.index, fill_value=0)
    out["status"] = out["last_status"].where(out["ok_runs"] == 0, "ok")
    failed = runs[runs["status"] != "ok"]
    out["error"] = failed.groupby(_KEYS)["error"].last().reindex(out.index)
    reasons = runs["power_reason"] if "power_reason" in runs else pd.Series(None, index=runs.index)
    out["power_reason"] = reasons.groupby([runs[k] for k in _KEYS]).last().reindex(out.index)
    out = out.join(ok.groupby(_KEYS)[numeric].median()).reset_index()
    out = out.astype({"error": object, "power_reason": object})
    out = out.where(out.notna(), None).astype({c: float for c in numeric})
    out.insert(2, "label", labels(out) if len(out) else [])
    return out[[*_KEYS, "label", "engine", "precision", "runs", "ok_runs", "status", "error",
                "power_reason", *numeric]]


def accuracy_columns(frame: pd.DataFrame) -> list[str]:
    """The `accuracy_*` metric columns the frame holds."""
    return sorted(c for c in frame.columns if c.startswith("accuracy_"))


def labels(summary: pd.DataFrame) -> list[str]:
    """Short labels of variants: the device is named only when the frame has several."""
    if summary["device"].nunique() <= 1:
        return list(summary["variant"])
    return [f"{v} @ {d}" for d, v in zip(summary["device"], summary["variant"])]


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points are on the Pareto front when both coordinates are to be minimised:
    no other point is at least as good in both and strictly better in one."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mask = np.ones(x.size, dtype=bool)
    for i in range(x.size):
        dominated = (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        mask[i] = not dominated.any()
    return mask


def box_stats(samples_ms: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """Quantiles of the pooled raw samples of each label, for box plots drawn from the data.

    Args:
        samples_ms: label -> the sample arrays (milliseconds) of its runs.

    Returns:
        One row per label with samples, runs, p1, p25, p50, p75, p99 and mean.
    """
    rows = []
    for label, arrays in samples_ms.items():
        pooled = np.concatenate(arrays) if arrays else np.empty(0)
        if pooled.size == 0:
            continue
        q = np.percentile(pooled, [1, 25, 50, 75, 99])
        rows.append({"label": label, "samples": int(pooled.size), "runs": len(arrays),
                     "p1": q[0], "p25": q[1], "p50": q[2], "p75": q[3], "p99": q[4],
                     "mean": float(pooled.mean())})
    return pd.DataFrame(rows, columns=["label", "samples", "runs", "p1", "p25", "p50", "p75",
                                       "p99", "mean"])


def run_quartiles(runs: pd.DataFrame, samples_ms: dict[int, np.ndarray]) -> pd.DataFrame:
    """Add each run's `latency_p25_ms` and `latency_p75_ms`, computed from its raw samples
    (NaN for a run without samples)."""
    out = runs.copy()
    q = {i: np.percentile(s, [25, 75]) for i, s in samples_ms.items() if s.size}
    out["latency_p25_ms"] = [q[i][0] if i in q else np.nan for i in out["id"]]
    out["latency_p75_ms"] = [q[i][1] if i in q else np.nan for i in out["id"]]
    return out
