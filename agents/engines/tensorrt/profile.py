"""TensorRT optimization profiles as pure functions: shape strings and (min, opt, max) per input.

A TensorRT plan for a model with dynamic dims is valid only inside the optimization profile it
was built with, so the profile is decided at compile time from the model's input dims, the
optimum (`opt_shapes`, which `TensorRtEngine.with_shapes` fills from the user's `--shape`) and
optional `min_shapes` / `max_shapes`. Like trtexec with only
`--shapes`, min and max default to the optimum. No TensorRT here: a bad request fails with the
input's name before any build starts.
"""

from __future__ import annotations

from typing import Dict, Tuple

from agents.engines.base import TensorInfo
from agents.engines.shapes import Shape
from agents.errors import UserError

# An alias is evaluated at run time: typing's generics, while boards run Python 3.8.
Profile = Dict[str, Tuple[Shape, Shape, Shape]]


def profile_shapes(inputs: list[TensorInfo], opt: dict[str, Shape], mins: dict[str, Shape],
                   maxs: dict[str, Shape]) -> Profile:
    """(min, opt, max) for every input with dynamic dims; fixed inputs need no profile entry.

    Args:
        inputs: the network's inputs (dynamic dims are str or None).
        opt: the optimum per input (opt_shapes); required for every dynamic input.
        mins: explicit minimum shapes (default: the optimum).
        maxs: explicit maximum shapes (default: the optimum).
    Returns:
        input name -> (min, opt, max).
    Raises:
        UserError: an unknown input name, a wrong rank, a conflict with a fixed dim, a dynamic
            input without an optimum, or min <= opt <= max violated, each naming the input.
    """
    names = [t.name for t in inputs]
    for label, given in (("opt_shapes", opt), ("min_shapes", mins), ("max_shapes", maxs)):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise UserError(f"tensorrt {label}: unknown input(s) {', '.join(unknown)}; "
                            f"inputs: {', '.join(names)}")
    out: Profile = {}
    for t in inputs:
        if not t.dynamic_dims:
            for label, given in (("min_shapes", mins), ("max_shapes", maxs)):
                if t.name in given:
                    _fit(t, given[t.name], label)
            continue
        out[t.name] = _one(t, opt, mins, maxs)
    return out


def _one(t: TensorInfo, opt: dict[str, Shape], mins: dict[str, Shape],
         maxs: dict[str, Shape]) -> tuple[Shape, Shape, Shape]:
    if t.name not in opt:
        example = "x".join(str(d) if isinstance(d, int) else "N" for d in t.shape)
        raise UserError(f"input '{t.name}' has dynamic dims {t.dynamic_dims}; a TensorRT plan is "
                        f"built for one optimization profile: give its optimum with "
                        f"-o tensorrt.opt_shapes={t.name}:{example}")
    best = _fit(t, opt[t.name], "opt_shapes")
    low = _fit(t, mins.get(t.name, best), "min_shapes")
    high = _fit(t, maxs.get(t.name, best), "max_shapes")
    if not (within(best, low, high) and all(lo <= hi for lo, hi in zip(low, high))):
        raise UserError(f"input '{t.name}': the profile needs min <= opt <= max in every dim; "
                        f"got min {low}, opt {best}, max {high}")
    return low, best, high


def _fit(t: TensorInfo, shape: Shape, label: str) -> Shape:
    if len(shape) != len(t.shape):
        raise UserError(f"tensorrt {label}: input '{t.name}' has rank {len(t.shape)}, "
                        f"{len(shape)} dims given")
    for axis, (want, got) in enumerate(zip(t.shape, shape)):
        if isinstance(want, int) and want != got:
            raise UserError(f"tensorrt {label}: input '{t.name}' dim {axis} is fixed at {want}, "
                            f"{got} given")
    return list(shape)


def within(shape: Shape, low: Shape, high: Shape) -> bool:
    """True when `low <= shape <= high` in every dim (ranks equal)."""
    return len(shape) == len(low) == len(high) and all(
        lo <= d <= hi for d, lo, hi in zip(shape, low, high))
