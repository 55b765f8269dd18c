"""Shape strings of engine options, trtexec style: `input:1x3x224x224,mask:1x128`.

Shared by the engines that take shapes as an option string (TensorRT's profiles, and the ONNX
graph helpers of ncnn, MNN and TVM).
"""

from __future__ import annotations

from typing import List

from agents.errors import UserError

# An alias is evaluated at run time: typing's generics, while boards run Python 3.8.
Shape = List[int]


def parse_shapes(text: str | None, option: str) -> dict[str, Shape]:
    """Parse trtexec-style shapes: `input:1x3x224x224,mask:1x128` (`name:` is a scalar).

    Args:
        text: the option's value; None or empty gives no shapes.
        option: the option's name, for messages.
    Returns:
        input name -> dims.
    Raises:
        UserError: a malformed item, a negative dim or a name given twice.
    """
    out: dict[str, Shape] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, dims = item.rpartition(":")  # ONNX names may hold ':' ("input:0")
        if not sep or not name:
            raise UserError(f"{option}: '{item}' is not NAME:D1xD2x..., e.g. input:1x3x224x224")
        try:
            shape = [int(d) for d in dims.split("x")] if dims else []
        except ValueError:
            raise UserError(f"{option}: '{item}': dims must be integers joined by 'x'") from None
        if any(d < 0 for d in shape):
            raise UserError(f"{option}: '{item}': dims must be >= 0")
        if name in out:
            raise UserError(f"{option}: input '{name}' is given twice")
        out[name] = shape
    return out


def format_shapes(shapes: dict[str, Shape]) -> str:
    """The inverse of `parse_shapes`, in name order (stable for cache keys)."""
    return ",".join(f"{name}:{'x'.join(str(d) for d in shapes[name])}" for name in sorted(shapes))
