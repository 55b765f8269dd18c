"""plan.knobs: every knob parsed in one place, the one timeout rule, and flags -> Study for
bench run and bench submit alike."""

from pathlib import Path

import pytest

from agents.errors import UserError
from orchestrator.plan import knobs
from orchestrator.plan.knobs import Flags, study_from_flags
from orchestrator.plan.studyfile import load_study


@pytest.mark.parametrize("duration, given, expected", [(5.0, None, 60.0), (40.0, None, 80.0), (5.0, 7.0, 7.0)])
def test_flags_and_study_files_share_the_timeout_rule(tmp_path, duration, given, expected):
    assert knobs.run_length(duration_s=duration, max_duration_s=given).max_duration_s == expected
    extra = "" if given is None else f", max_duration_s: {given}"
    path = tmp_path / "s.yaml"
    path.write_text(f"models: [m.onnx]\ndevices: [all]\nengines: [onnxruntime]\nrun: {{duration_s: {duration}{extra}}}\n")
    assert load_study(path).length.max_duration_s == expected


@pytest.mark.parametrize("call, message", [
    (lambda: knobs.parse_batches("1,x"), "--batch '1,x': expected comma-separated integers"),
    (lambda: knobs.parse_shapes(["input"]), "--shape 'input': expected NAME=D1,D2"),
    (lambda: knobs.parse_shapes(["input=1,a"]), "dims must be integers"),
    (lambda: knobs.parse_options(["openvino.hint"]), "expected ENGINE.KEY=VALUE"),
    (lambda: knobs.parse_pairs(["x"], "--input"), "--input 'x': expected NAME=VALUE"),
    (lambda: knobs.parse_until_stable("often"), "--until-stable 'often': expected a percentage"),
])
def test_a_knob_that_does_not_parse_is_one_user_error(call, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        call()


def test_parsers_build_the_values():
    assert knobs.split_list(" a, b,,c ") == ["a", "b", "c"] and knobs.split_list(None) == []
    assert knobs.parse_shapes(["x=1,3", "s="]) == {"x": [1, 3], "s": []}
    assert knobs.parse_options(["ov.a=1", "ov.b=2", "ort.c=3"]) == {"ov": {"a": "1", "b": "2"}, "ort": {"c": "3"}}
    assert knobs.parse_batches("1,8") == [1, 8] and knobs.parse_until_stable("1.5%") == 1.5
    assert knobs.power_spec("none", idle_s=2.0).idle_s == 0.0 and knobs.power_spec("rapl", idle_s=2.0).idle_s == 2.0


def test_run_and_submit_make_the_same_study_but_for_device_attempts_and_name():
    model = Path("m.onnx")
    flags = Flags(engines="onnxruntime", precisions="fp32,int8", batch="1,4", option=["onnxruntime.spinning=false"],
                  duration=2.0, devices="tag:cpu", max_attempts=5, scenarios="single-stream,offline", requests=2)
    run, submit = study_from_flags(model, flags, "run"), study_from_flags(model, flags, "submit")
    assert (run.devices, run.max_attempts, run.name, run.source) == (["local"], 1, "run m.onnx", "bench run")
    assert (submit.devices, submit.max_attempts, submit.source) == (["tag:cpu"], 5, "bench submit")
    for study in (run, submit):
        assert study.batch_sizes == [1, 4] and study.load == {"requests": 2}
        assert study.length.max_duration_s == 60.0 and study.options == {"onnxruntime": {"spinning": "false"}}


@pytest.mark.parametrize("flags, message", [
    (Flags(engines="onnxruntime", precisions="fp64"), "unknown precision 'fp64'"),
    (Flags(engines="onnxruntime", option=["openvino.hint=X"]), "--option for engine 'openvino', which is not in --engine"),
    (Flags(engines="onnxruntime", duration=-1.0), "--duration must be > 0"),
    (Flags(engines="onnxruntime", scenarios="server"), "--scenario server needs --qps"),
    (Flags(engines="onnxruntime", priority="urgent"), "unknown value 'urgent'; known: interactive, nightly, background"),
])
def test_flags_are_refused_in_the_flags_wording_before_the_study_check(flags, message):
    with pytest.raises(UserError, match=message):
        study_from_flags(Path("m.onnx"), flags, "submit")
