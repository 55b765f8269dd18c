"""OpenVINO ports (a model's or compiled model's inputs and outputs) as benchlab's TensorInfo.

Shared by the engine and the int8 converter (calibration sets); imports no SDK (numpy only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.engines.base import TensorInfo


def port_name(port: Any) -> str:
    """The port's first name, or `input<index>` for an unnamed one."""
    try:
        return port.get_any_name()
    except RuntimeError:
        return f"input{port.get_index()}"


def port_info(port: Any) -> TensorInfo:
    """Name, numpy dtype and dims of a port (None for a dynamic dim, no dims for a dynamic rank)."""
    pshape = port.get_partial_shape()
    dims: list[int | str | None] = []
    if pshape.rank.is_static:
        dims = [d.get_length() if d.is_static else None for d in pshape]
    return TensorInfo(port_name(port), np.dtype(port.get_element_type().to_dtype()).name, tuple(dims))
