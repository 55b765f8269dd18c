"""The conversion child of `convert.py`: onnx2tf, then the TFLite <-> ONNX tensor map.

Run as `python -m agents.engines.tflite.onnx2tf SPEC.json` in the conversion's own directory;
it writes `result.json` there: {"versions", "layout"} or {"unsupported": reason}. onnx2tf's
own failures end the process with its message on stdout/stderr (it calls sys.exit).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.tflite.convert import converter_versions

# onnx2tf checks its conversion on sample images it downloads from GitHub into the working
# directory when every input looks like an image; boards have no network, so a seeded stand-in
# with that file name is written first. It only feeds onnx2tf's own ONNX-vs-TF check.
SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
# onnx2tf's default: channel-first inputs and outputs become channel-last.
CHANNEL_LAST = {3: [0, 2, 1], 4: [0, 2, 3, 1], 5: [0, 2, 3, 4, 1]}
GENERATED_SETS = 8


class Unsupported(Exception):
    """A variant onnx2tf cannot make for this model (not a conversion failure)."""


@dataclass
class Io:
    """An ONNX graph input or output: name, dims (None when symbolic), numpy dtype name."""

    name: str
    dims: list[int | None]
    dtype: str


def main(argv: list[str]) -> int:
    """Convert as SPEC.json says; see the module docstring."""
    spec = json.loads(Path(argv[0]).read_text())
    inputs, outputs = onnx_io(spec["onnx"])
    try:
        kwargs = convert_kwargs(spec, inputs)
    except Unsupported as e:
        Path("result.json").write_text(json.dumps({"unsupported": str(e)}))
        return 0
    rng = np.random.default_rng(0)
    np.save(SAMPLE_FILE, rng.random((20, 128, 128, 3), dtype=np.float32))
    import onnx2tf

    onnx2tf.convert(**kwargs)
    in_details, out_details = tflite_io(Path(spec["out"]) / spec["artifact"])
    layout = {"source": "", "inputs": match(inputs, in_details), "outputs": match(outputs, out_details),
              "reference_outputs": [o.name for o in outputs]}
    Path("result.json").write_text(json.dumps({"versions": converter_versions(), "layout": layout}))
    return 0


def onnx_io(path: str) -> tuple[list[Io], list[Io]]:
    """The graph's inputs (initializers excluded) and outputs."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(path, load_external_data=False).graph
    inits = {i.name for i in graph.initializer}

    def io(v: Any) -> Io:
        tt = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        return Io(v.name, dims, np.dtype(tensor_dtype_to_np_dtype(tt.elem_type)).name)

    return [io(v) for v in graph.input if v.name not in inits], [io(v) for v in graph.output]


def convert_kwargs(spec: dict[str, Any], inputs: list[Io]) -> dict[str, Any]:
    """onnx2tf.convert arguments: float models always; full-integer int8 when asked."""
    kwargs = {"input_onnx_file_path": spec["onnx"], "output_folder_path": spec["out"],
              "output_signaturedefs": True, "non_verbose": True}
    if spec["int8"]:
        kwargs.update(output_integer_quantized_tflite=True, quant_type="per-channel",
                      input_quant_dtype="int8", output_quant_dtype="int8",
                      custom_input_op_name_np_data_path=calibration(inputs, spec["calibration"]))
    return kwargs


def calibration(inputs: list[Io], given: dict[str, str] | None) -> list[list[Any]]:
    """onnx2tf's [name, npy file (channel-last), mean, std] per input; generated when not given.

    Raises:
        Unsupported: an input that is not float32 (onnx2tf calibrates float32 inputs only).
    """
    rng = np.random.default_rng(20240601)
    entries = []
    for i, io in enumerate(inputs):
        if io.dtype != "float32":
            raise Unsupported(f"int8 through onnx2tf calibrates float32 inputs only; input "
                              f"'{io.name}' is {io.dtype}")
        if given and io.name in given:
            data = np.load(given[io.name]).astype(np.float32)
        else:  # standard normal, like the inputs bench run generates
            shape = [GENERATED_SETS * (io.dims[0] or 1)] + [d or 1 for d in io.dims[1:]]
            data = rng.standard_normal(shape).astype(np.float32)
        perm = CHANNEL_LAST.get(data.ndim)
        path = f"calibration_tf_{i}.npy"
        np.save(path, data.transpose(perm) if perm else data)
        entries.append([io.name, path, np.zeros(1, np.float32), np.ones(1, np.float32)])
    return entries


def tflite_io(path: Path) -> tuple[list[dict], list[dict]]:
    """Input and output details of the converted model, in the Interpreter's order."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite import Interpreter
    interp = Interpreter(model_path=str(path))
    return interp.get_input_details(), interp.get_output_details()


def match(ios: list[Io], details: list[dict]) -> list[dict[str, Any]]:
    """For each TFLite tensor, its ONNX source and transposition.

    By name (onnx2tf keeps input names, the int8 converter wraps them as
    `serving_default_NAME:0`), else by position, else the first ONNX tensor whose shape fits.

    Raises:
        RuntimeError: a TFLite tensor that no ONNX tensor fits.
    """
    unused, entries = list(ios), []
    for position, d in enumerate(details):
        signature = [int(v) for v in d.get("shape_signature", d["shape"])]
        fits = [io for io in unused if perm_for(io.dims, signature) is not False
                or _scalar(io.dims, signature)]
        named = [io for io in fits if _norm(io.name) == _norm(d["name"])]
        positional = [ios[position]] if position < len(ios) and ios[position] in fits else []
        if not (named or positional or fits):
            raise RuntimeError(f"converted tensor '{d['name']}' {signature} matches no ONNX tensor "
                               f"of {[(io.name, io.dims) for io in unused]}")
        source = (named or positional or fits)[0]
        unused.remove(source)
        scalar = _scalar(source.dims, signature)
        entries.append({"name": d["name"], "source": source.name, "scalar": scalar,
                        "perm": None if scalar else perm_for(source.dims, signature)})
    return entries


def perm_for(dims: list[int | None], signature: list[int]) -> list[int] | None | bool:
    """Channel-last axes if the TFLite shape is the transposed ONNX one, None if it is the same
    shape, False if neither (ambiguous shapes count as transposed: onnx2tf's default)."""
    perm = CHANNEL_LAST.get(len(dims))
    if perm and _fits([dims[a] for a in perm], signature):
        return perm
    return None if _fits(dims, signature) else False


def _scalar(dims: list[int | None], signature: list[int]) -> bool:
    """onnx2tf turns a scalar (rank 0) into a rank-1 tensor of one element."""
    return not dims and signature in ([1], [-1])


def _fits(dims: list[int | None], signature: list[int]) -> bool:
    return len(dims) == len(signature) and all(a is None or b < 0 or a == b
                                               for a, b in zip(dims, signature))


def _norm(name: str) -> str:
    name = re.sub(r"^serving_default_|:\d+$", "", name)
    return re.sub(r"[^0-9a-z]+", "_", name.lower())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
