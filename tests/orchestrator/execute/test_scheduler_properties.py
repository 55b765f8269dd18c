"""Properties of scheduler + policies over random fleets, queues and outcomes (hypothesis):
no device ever holds two leases, no job runs twice at once, and every job ends in exactly one
final state, with exactly one ok run when it is done."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.execute.policy import FINAL_STATES, HealthPolicy, RetryPolicy
from orchestrator.execute.scheduler import DeviceState, QueuedJob
from scheduler_sim import Lab

ENGINES = ("onnxruntime", "openvino", "tensorrt")
OUTCOMES = ("ok", "ok", "ok", "model-error", "infra-error", "infra-error", "silent", "cancel")


@st.composite
def labs(draw):
    n_dev = draw(st.integers(1, 5))
    devices = []
    for i in range(n_dev):
        engines = draw(st.sets(st.sampled_from(ENGINES), min_size=1))
        devices.append(DeviceState(f"d{i}", frozenset(engines)))
    jobs = []
    for i in range(draw(st.integers(1, 14))):
        engine = draw(st.sampled_from(ENGINES))
        able = [d.name for d in devices if engine in d.engines]
        if not able:
            continue  # expansion never queues a job no device can run
        pool = draw(st.sets(st.sampled_from(able), min_size=1))
        jobs.append(QueuedJob(f"j{i}", f"s{draw(st.integers(0, 2))}", engine, frozenset(pool),
                              draw(st.integers(0, 2)), f"k{draw(st.integers(0, 3))}"))
    outcomes = draw(st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=60))
    return devices, jobs, outcomes


def _invariants(lab: Lab) -> None:
    held = list(lab.leases.values())
    assert len({l.device for l in held}) == len(held), "a device holds two leases"
    assert len({l.job_id for l in held}) == len(held), "a job holds two leases"
    for lease in held:
        assert lab.jobs[lease.job_id].state == "leased"
    for sj in lab.jobs.values():
        assert (sj.state == "leased") == any(l.job_id == sj.job.id for l in held)


def _drive(lab: Lab, outcomes: list[str]) -> None:
    """Feed the scripted outcomes, then let every job finish with ok so the run ends."""
    script = iter(outcomes)
    for _ in range(400):
        lab.step()
        _invariants(lab)
        for device in sorted(lab.leases):
            what = next(script, "ok")
            if what == "silent":
                continue  # no heartbeat: the lease will expire
            if what == "cancel":
                lab.report(device, "infra-error", cancelled=True)
            else:
                lab.report(device, what)
            _invariants(lab)
        lab.now += 3.0
        lab.health_checks(passes=next(script, "ok") != "infra-error")
        if lab.final():
            return
    raise AssertionError("jobs left unfinished: " + str({j: s.state for j, s in lab.jobs.items()}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labs())
def test_no_double_lease_and_every_job_ends_in_exactly_one_final_state(case):
    devices, jobs, outcomes = case
    lab = Lab(devices, ttl_s=5.0, retry=RetryPolicy(max_attempts=3, backoff_s=1.0),
              health=HealthPolicy(quarantine_after=2, check_interval_s=4.0))
    lab.add(*jobs)
    _drive(lab, outcomes)
    for sj in lab.jobs.values():
        assert sj.state in FINAL_STATES
        if sj.state == "done":  # completed exactly once
            assert sj.runs[-1] == "ok" and sj.runs.count("ok") == 1
        else:
            assert "ok" not in sj.runs
        assert sj.attempt <= 3


@settings(max_examples=200, deadline=None)
@given(labs())
def test_a_pass_never_assigns_a_device_twice_nor_outside_a_jobs_pool(case):
    devices, jobs, _ = case
    from orchestrator.execute.scheduler import schedule
    new = schedule(jobs, devices, [], now=0.0)
    assert len({l.device for l in new}) == len(new)
    by_id = {j.id: j for j in jobs}
    by_dev = {d.name: d for d in devices}
    for lease in new:
        job = by_id[lease.job_id]
        assert lease.device in job.pool and job.engine in by_dev[lease.device].engines
    # work-conserving: a free device that some unassigned job could use is not left idle
    used = {l.device for l in new}
    assigned = {l.job_id for l in new}
    for job in jobs:
        if job.id not in assigned:
            assert not any(d in job.pool and job.engine in by_dev[d].engines and d not in used
                           for d in by_dev)
