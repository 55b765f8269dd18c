"""execute.run_study on the queue road, as `bench run` uses it: only its own study's jobs run,
an Observer sees each job start and finish, and the study's accuracy limit flags a variant
before it is stored (real local agent, real onnxruntime, built-in `local` device)."""

import threading

from inventory.model import LOCAL_DEVICE, Inventory
from inventory.yamlsrc import Where
from orchestrator import enqueue, execute
from orchestrator.execute.dispatcher import DispatchConfig
from orchestrator.execute.policy import NEVER, HealthPolicy
from orchestrator.plan.study import ModelEntry, Study
from results import fleet
from results.db import open_db
from results.queries import run_results

LOCAL = Inventory(devices={"local": LOCAL_DEVICE})
CONFIG = DispatchConfig(heartbeat_s=0.2, poll_s=0.1, health=HealthPolicy(quarantine_after=NEVER))


def _queue(db, model, fast_length, **kw) -> enqueue.Submitted:
    study = Study(models=[ModelEntry(model)], devices=["local"], engines=["onnxruntime"], threads=1,
                  length=fast_length(), max_attempts=1, **kw)
    return enqueue.submit(enqueue.check(study, LOCAL, Where("test")), db)


def test_only_its_own_study_runs_and_the_observer_sees_each_job(tmp_path, model_file, fast_length):
    db = open_db(f"sqlite:///{tmp_path / 'q.db'}")
    mine = _queue(db, model_file("mlp"), fast_length, name="mine")
    other = _queue(db, model_file("mlp"), fast_length, name="other", precisions=["fp32"])
    started = []
    seen = execute.Collect(track=lambda spec: started.append(spec.job_id))
    counts = execute.run_study(db, mine.devices, mine.row.id, CONFIG, stop=threading.Event(),
                               observer=seen, only_study=True)
    assert counts == {"done": 1}
    assert started == mine.job_ids and [r.job_id for r in seen.results] == mine.job_ids
    assert seen.results[0].status == "ok" and seen.results[0].job.device == "local"
    assert fleet.state_counts(db, other.row.id) == {"queued": 1}  # not served by bench run's worker


def test_the_studys_accuracy_limit_flags_the_stored_run(tmp_path, model_file, fast_length):
    db = open_db(f"sqlite:///{tmp_path / 'q.db'}")
    done = _queue(db, model_file("transformer"), fast_length, precisions=["int8"], max_accuracy_drop=1e-7)
    seen = execute.Collect()
    execute.run_study(db, done.devices, done.row.id, CONFIG, stop=threading.Event(), observer=seen)
    (stored,) = run_results(db, study_id=done.row.id)
    assert "accuracy-failed" in stored.flags and "accuracy-failed" in seen.results[0].flags
    assert "above the limit 1e-07" in stored.environment["accuracy"]["failed"]
    assert execute.policy.failed(seen.results)
