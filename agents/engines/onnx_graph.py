"""What the converting engines (ncnn, MNN, TVM) need to know about an ONNX model before they
convert it: its graph inputs and outputs, and the concrete shapes a job runs them at.

These engines bake the input shapes into the artifact (pnnx and TVM need them to convert), so
the shapes travel in an `input_shapes` option that is part of the cache key, in the same
`name:1x3x224x224,...` form as TensorRT's `opt_shapes`. Only the onnx package is imported.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import TensorInfo
from agents.engines.shapes import format_shapes, parse_shapes
from agents.errors import ModelError
from agents.inputs import resolve_shapes


def graph_io(path: Path) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The graph's inputs (initializers excluded) and outputs, in graph order.

    Raises:
        ModelError: the file is not a readable ONNX model, or a tensor has no tensor type.
    """
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as e:  # onnx raises DecodeError and friends
        raise ModelError(f"cannot read {Path(path).name} as ONNX: {e}") from e
    inits = {i.name for i in graph.initializer}

    def info(v: Any) -> TensorInfo:
        if not v.type.HasField("tensor_type"):
            raise ModelError(f"'{v.name}' is not a tensor; only tensor inputs and outputs are supported")
        tt = v.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                     for d in tt.shape.dim)
        return TensorInfo(v.name, np.dtype(tensor_dtype_to_np_dtype(tt.elem_type)).name, dims)

    return [info(v) for v in graph.input if v.name not in inits], [info(v) for v in graph.output]


def with_shapes(options: Any, shapes: dict[str, list[int]]) -> Any:
    """`options` with the user's shapes in `input_shapes` (when unset), so the shapes baked
    into the artifact are part of its cache key.

    Args:
        options: a typed options dataclass with an `input_shapes` field.
        shapes: the user's shapes (input name -> dims).
    Returns:
        A copy of `options`.
    """
    if options.input_shapes or not shapes:
        return options
    return dataclasses.replace(options, input_shapes=format_shapes(shapes))


def concrete_inputs(path: Path, input_shapes: str | None) -> list[TensorInfo]:
    """The model's inputs with every dim fixed from `input_shapes`.

    Raises:
        UserError: a shape for an unknown input, a wrong rank, or a dynamic dim left open.
    """
    inputs, _ = graph_io(path)
    resolved = resolve_shapes(inputs, parse_shapes(input_shapes, "input_shapes"))
    return [dataclasses.replace(t, shape=tuple(resolved[t.name])) for t in inputs]


def validate_shapes(input_shapes: str | None, source: str) -> None:
    """Reject a malformed `input_shapes` option when the options are built."""
    parse_shapes(input_shapes, f"{source}: input_shapes")
