"""Study files and their expansion, before any database: bench run's own planning per model,
selectors resolved, every key checked with its line."""

import pytest

from agents.errors import UserError
from inventory import InventoryError, load_inventory
from orchestrator.plan.expand import expand, prepare
from orchestrator.plan.studyfile import load_study


@pytest.fixture
def files(tmp_path, lab_file, model_file):
    model_file("mlp", batch=None, filename="dyn.onnx")
    inv = load_inventory(lab_file({"name": "a", "tags": ["cpu"]}, {"name": "b", "tags": ["cpu"]}))

    def study(text: str):
        path = tmp_path / "study.yaml"
        path.write_text("models: [dyn.onnx]\ndevices: [tag:cpu]\nengines: [onnxruntime]\n" + text)
        return load_study(path), inv

    return study


def test_scenarios_batches_and_load_settings_reach_every_job(files):
    config, inv = files("scenarios: [offline, server]\nbatch_sizes: [2]\n"
                        "load: {requests: 4, qps: 50, latency_bound_ms: 20}\nspread: any\n")
    prepared = prepare(config, inv)
    items, skipped = expand(prepared, "s1", {"a": frozenset({"onnxruntime"}), "b": frozenset()})
    assert skipped == ["onnxruntime on b: not available there (probe found: no engine)"]
    scenarios = {i.spec["scenario"]["name"]: i.spec["scenario"] for i in items}
    assert scenarios["offline"]["concurrency"] == 4 and scenarios["offline"]["batch"] == 2
    assert scenarios["server"]["target_qps"] == 50 and scenarios["server"]["latency_bound_ms"] == 20
    assert {tuple(i.pool) for i in items} == {("a",)}
    assert len({i.artifact for i in items}) == 1  # both scenarios reuse one compiled artifact
    assert all(i.spec["inputs"]["shapes"]["input"][0] == 2 for i in items)


def test_refusals_come_from_bench_runs_own_checks(files):
    config, inv = files("scenarios: [server]\n")
    with pytest.raises(UserError, match="--scenario server needs --qps"):
        prepare(config, inv)


@pytest.mark.parametrize("text, message", [
    ("load: {qpss: 3}\n", "study.yaml:4: field 'load.qpss': unknown key 'qpss' in load; did you mean 'qps'?"),
    ("priority: urgent\n", "field 'priority': unknown value 'urgent'; known: interactive, nightly, background"),
    ("batch_sizes: [one]\n", "study.yaml:4: field 'batch_sizes': expected an integer"),
    ("models: [x.onnx]\n", "study.yaml:4: duplicate key 'models' (first at line 1)"),
])
def test_bad_study_files(files, text, message):
    with pytest.raises(InventoryError) as e:
        files(text)
    assert message in str(e.value)
