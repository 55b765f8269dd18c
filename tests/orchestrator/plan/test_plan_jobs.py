"""plan.jobs.plan: a study's model -> one JobSpec per (engine, precision, batch, scenario), every
load setting checked first (moved from test_cli_scenarios.py, on `Study` instead of RunRequest)."""

import pytest

from agents.errors import UserError
from orchestrator.plan.jobs import plan
from orchestrator.plan.scenarios import LoadFlags
from orchestrator.plan.study import ModelEntry, Study


def _study(model, engines, shapes=None, load=LoadFlags()) -> Study:
    """A one-model study on `local` with `load`'s scenarios, batch sizes and settings."""
    settings = {k: v for k, v in vars(load).items() if k not in ("scenarios", "batches")}
    return Study(models=[ModelEntry(model, shapes=dict(shapes or {}))], devices=["local"], engines=engines,
                 scenarios=list(load.scenarios), batch_sizes=list(load.batches) if load.batches else None,
                 load=settings)


def _plan(study: Study):
    """(None, specs), as `bench run`'s old plan returned (study row, specs)."""
    return None, plan(study, study.models[0])


@pytest.mark.parametrize("flags, message", [
    (LoadFlags(scenarios=("server",)), "--scenario server needs --qps"),
    (LoadFlags(qps=10.0), "--qps applies to --scenario server"),
    (LoadFlags(requests=2), "--requests applies to --scenario offline or server"),
    (LoadFlags(scenarios=("offline",), requests=0), "--requests must be >= 1"),
    (LoadFlags(scenarios=("server",), find_peak=True, latency_bound_ms=5.0, qps=3.0), "leave out --qps"),
    (LoadFlags(scenarios=("offline",), find_peak=True), "--find-peak applies to --scenario server"),
    (LoadFlags(scenarios=("server",), qps=float("inf")), "--qps must be a rate > 0"),
    (LoadFlags(scenarios=("server",), qps=5.0, latency_bound_ms=-1.0), "--latency-bound-ms must be > 0"),
    (LoadFlags(scenarios=("burst",)), "unknown scenario 'burst'"),
    (LoadFlags(batches=(0,)), "--batch sizes must be >= 1"),
    (LoadFlags(until_stable_pct=150.0), "--until-stable must be a percentage"),
])
def test_plan_refuses_flags_that_do_not_apply(model_file, flags, message):
    req = _study(model_file("mlp", batch=None), ["onnxruntime"], shapes={"input": [1, 256]}, load=flags)
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        _plan(req)


def test_plan_crosses_engines_precisions_batches_and_scenarios(model_file):
    flags = LoadFlags(scenarios=("single-stream", "offline"), batches=(2, 8), requests=3)
    req = _study(model_file("mlp", batch=None), ["onnxruntime", "openvino"], load=flags)
    _, specs = _plan(req)
    assert len(specs) == 2 * 2 * 2
    got = {(s.variant.engine, s.scenario.name, s.scenario.batch, s.scenario.concurrency,
            tuple(s.inputs.shapes["input"])) for s in specs}
    assert ("openvino", "offline", 8, 3, (8, 256)) in got and ("onnxruntime", "single-stream", 2, None, (2, 256)) in got


def test_batch_replaces_dim_0_of_a_shape_and_a_fixed_model_keeps_its_own_batch(model_file):
    dynamic = _study(model_file("mlp", batch=None), ["onnxruntime"],
                         shapes={"input": [1, 256]}, load=LoadFlags(batches=(16,)))
    assert _plan(dynamic)[1][0].inputs.shapes == {"input": [16, 256]}
    fixed = _study(model_file("resnet", batch=4, filename="r4.onnx"), ["onnxruntime"])
    assert _plan(fixed)[1][0].scenario.batch == 4


def test_a_sequence_dim_0_is_not_counted_as_the_batch(model_file, lstm):
    req = _study(model_file(lstm(), filename="lstm.onnx"), ["onnxruntime"],
                     shapes={"x": [10, 1, 8]})
    spec = _plan(req)[1][0]
    assert spec.scenario.batch == 1 and spec.inputs.shapes == {"x": [10, 1, 8]}
    # x's dim 0 is the sequence, and h0's dim 0 is fixed: --batch has nothing to set
    with pytest.raises(UserError, match=r"--batch 4: input 'h0' fixes its batch dim at 1"):
        _plan(_study(model_file(lstm(), filename="lstm2.onnx"), ["onnxruntime"],
                        shapes={"x": [10, 1, 8]}, load=LoadFlags(batches=(4,))))


def test_batch_on_a_model_whose_only_dim_0_is_a_sequence_is_refused(model_file):
    from onnx import TensorProto as T
    from onnx import helper as h

    graph = h.make_graph([h.make_node("Relu", ["tokens"], ["out"])], "seq_only",
                         [h.make_tensor_value_info("tokens", T.FLOAT, ["num_tokens", 4])],
                         [h.make_tensor_value_info("out", T.FLOAT, ["num_tokens", 4])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    with pytest.raises(UserError, match=r"--batch 4: no input has a batch dim 0 \(inputs: 'tokens' \['num_tokens', 4\]\)"):
        _plan(_study(model_file(model, filename="seq.onnx"), ["onnxruntime"],
                        shapes={"tokens": [7, 4]}, load=LoadFlags(batches=(4,))))
