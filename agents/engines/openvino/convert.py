"""OpenVINO conversions: fp16-compressed IR, and int8 IR through NNCF post-training
quantization on the calibration sets. NNCF is imported only when an int8 variant asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents import requirements


def convert(src: Path, precision: str, workdir: Path, calibration: Any) -> tuple[Path, dict[str, str]]:
    """Write the IR for `precision` into `workdir`.

    Returns:
        (the .xml path, notes on how it was made: tool versions, method).
    """
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(src))
    out = workdir / "model.xml"
    notes = {"openvino": ov.get_version()}
    if precision == "fp16":
        ov.save_model(model, str(out), compress_to_fp16=True)
        return out, {**notes, "conversion": "IR with fp16 weights, inference precision f16"}
    nncf = _nncf()
    from agents.engines.openvino.tensors import port_info

    sets = calibration.sets([port_info(i) for i in model.inputs])
    quantized = nncf.quantize(model, nncf.Dataset(sets), subset_size=len(sets))
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    how = "generated data" if calibration.generated else "user data"
    return out, {**notes, "nncf": nncf.__version__,
                 "quantization": f"NNCF post-training int8, calibrated on {len(sets)} sets of {how}"}


def _nncf():
    requirements.require("openvino", "int8")  # skipped, naming nncf, where it is missing
    import nncf
    return nncf
