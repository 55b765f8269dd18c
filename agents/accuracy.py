"""Accuracy of a variant against the fp32 ONNX Runtime reference, on the same inputs.

Per output: max and mean absolute error, cosine similarity (worst input set), and top-1
agreement when the output looks like class scores ([batch, classes] floats). The reference runs
before warm-up and is closed before timing starts, so it never shares the cores with the
measured engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import Session
from agents.inputs import make_input_sets, resolve_shapes
from agents.spec import JobSpec

MAX_SETS = 8


def check(spec: JobSpec, session: Session, user_data: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Compare the loaded variant with the fp32 reference.

    Returns:
        (metrics with units in their names, details for the run's environment). Metrics are
        None, with the reason in the details, when no reference can be made here.
    """
    empty = dict.fromkeys(("accuracy_max_abs_error", "accuracy_mean_abs_error",
                           "accuracy_cosine_min", "accuracy_top1_agreement"))
    reason = _no_reference(spec)
    if reason:
        return empty, {"reference": None, "reason": reason}
    import onnxruntime as ort

    ref = ort.InferenceSession(spec.model.path, providers=["CPUExecutionProvider"])
    try:
        feeds, names = _reference_feeds(ref, spec, user_data)
        expected = [ref.run(None, feed) for feed in feeds]
    finally:
        del ref
    got = [session.adapt_outputs(session.to_numpy(session.infer(session.prepare(session.adapt_inputs(f)))))
           for f in feeds]
    outputs = {name: compare([e[i] for e in expected], [g[i] for g in got])
               for i, name in enumerate(names)}
    details = {"reference": f"onnxruntime {ort.__version__} fp32 CPUExecutionProvider",
               "sets": len(feeds), "outputs": outputs, "layout": session.layout_note}
    return {**empty, **_worst(outputs)}, details


def _no_reference(spec: JobSpec) -> str | None:
    if (spec.variant.engine, spec.variant.precision) == ("onnxruntime", "fp32"):
        return "this variant is the fp32 reference"
    if Path(spec.model.path).suffix.lower() != ".onnx":
        return f"no fp32 ONNX reference for a {Path(spec.model.path).suffix} model"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed on this device, so there is no fp32 reference"
    return None


def _reference_feeds(ref: Any, spec: JobSpec, user_data: dict) -> tuple[list[dict], list[str]]:
    from agents.engines.onnxruntime.types import ort_infos

    infos = ort_infos(ref.get_inputs())
    data_shapes = {k: list(v.shape) for k, v in user_data.items()}
    shapes = resolve_shapes(infos, {**spec.inputs.shapes, **data_shapes})
    sets = make_input_sets(infos, shapes, user_data, min(spec.inputs.sets, MAX_SETS), spec.inputs.seed)
    return sets, [o.name for o in ref.get_outputs()]


def compare(expected: list[np.ndarray], got: list[np.ndarray]) -> dict[str, float | None]:
    """Error figures of one output over several input sets (worst set for cosine)."""
    exp = [np.asarray(e, dtype=np.float64) for e in expected]
    act = [np.asarray(g, dtype=np.float64).reshape(e.shape) for e, g in zip(exp, got)]
    diffs = np.concatenate([np.abs(e - a).ravel() for e, a in zip(exp, act)])
    return {"max_abs_error": float(diffs.max()) if diffs.size else 0.0,
            "mean_abs_error": float(diffs.mean()) if diffs.size else 0.0,
            "cosine_min": min(_cosine(e, a) for e, a in zip(exp, act)),
            "top1_agreement": _top1(exp, act)}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a.ravel(), b.ravel()
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        return 1.0 if nx == ny else 0.0
    return float(np.dot(x, y) / (nx * ny))


def _top1(exp: list[np.ndarray], act: list[np.ndarray]) -> float | None:
    # Class scores: a 2-D float output with more than one class per row.
    if exp[0].ndim != 2 or exp[0].shape[1] < 2:
        return None
    hits = np.concatenate([np.argmax(e, 1) == np.argmax(a, 1) for e, a in zip(exp, act)])
    return float(hits.mean())


def _worst(outputs: dict[str, dict]) -> dict[str, float | None]:
    def pick(key: str, fn) -> float | None:
        values = [o[key] for o in outputs.values() if o[key] is not None]
        return fn(values) if values else None

    return {"accuracy_max_abs_error": pick("max_abs_error", max),
            "accuracy_mean_abs_error": pick("mean_abs_error", max),
            "accuracy_cosine_min": pick("cosine_min", min),
            "accuracy_top1_agreement": pick("top1_agreement", min)}
