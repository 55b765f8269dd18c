"""The pure scheduler and the retry/health policies, on a fake clock (scheduler_sim.Lab)."""

import pytest

from agents.errors import UserError
from orchestrator.execute.policy import Health, HealthPolicy, RetryPolicy, after_run, health_after_run
from orchestrator.execute.scheduler import DeviceState, Lease, QueuedJob, expired, renew, schedule
from orchestrator.plan.study import priority_rank
from scheduler_sim import Lab

ORT = frozenset({"onnxruntime"})
BOTH = frozenset({"onnxruntime", "openvino"})


def dev(name, engines=ORT, **kw):
    return DeviceState(name, engines, **kw)


def job(id, pool, study="s", engine="onnxruntime", priority=1, artifact="", **kw):
    return QueuedJob(id, study, engine, frozenset(pool), priority, artifact or f"art-{id}", **kw)


def order_on_one_device(lab: Lab) -> list[str]:
    """Run everything to completion on whatever is free; the order jobs started in."""
    started = []
    while not lab.final():
        leases = lab.step()
        assert leases, "nothing runnable but jobs are left"
        for lease in leases:
            started.append(lease.job_id)
            lab.report(lease.device, "ok")
        lab.now += 1.0
    return started


def test_each_device_gets_at_most_one_job_and_busy_devices_none():
    jobs = [job(f"j{i}", ["a", "b", "c"]) for i in range(6)]
    held = [Lease("other", "c", 100.0)]
    new = schedule(jobs, [dev("a"), dev("b"), dev("c")], held, now=0.0)
    assert sorted(l.device for l in new) == ["a", "b"]
    assert len({l.job_id for l in new}) == 2
    assert schedule(jobs, [dev("a")], [Lease("x", "a", 1.0)], now=5.0) == []  # expired, still held


def test_capability_engine_must_be_in_the_probe():
    jobs = [job("trt", ["a", "b"], engine="tensorrt"), job("ov", ["a", "b"], engine="openvino")]
    new = schedule(jobs, [dev("a", ORT), dev("b", BOTH)], [], now=0.0)
    assert [(l.job_id, l.device) for l in new] == [("ov", "b")]


def test_unprobed_and_quarantined_devices_get_nothing():
    jobs = [job("j1", ["a", "b"]), job("j2", ["a", "b"])]
    new = schedule(jobs, [dev("a", frozenset()), dev("b", healthy=False)], [], now=0.0)
    assert new == []


def test_pool_restricts_devices():
    new = schedule([job("j1", ["b"])], [dev("a"), dev("b")], [], now=0.0)
    assert [(l.job_id, l.device) for l in new] == [("j1", "b")]


def test_interactive_overtakes_a_nightly_queued_earlier():
    lab = Lab([dev("a")])
    lab.add(*[job(f"n{i}", ["a"], study="nightly", priority=priority_rank("nightly")) for i in range(3)])
    lab.add(job("i1", ["a"], study="laptop", priority=priority_rank("interactive")),
            job("b1", ["a"], study="bg", priority=priority_rank("background")))
    assert order_on_one_device(lab) == ["i1", "n0", "n1", "n2", "b1"]


def test_unknown_priority_is_refused_by_name():
    with pytest.raises(UserError, match="unknown priority 'urgent'; known: interactive, nightly, background"):
        priority_rank("urgent")


def test_studies_of_one_class_take_turns_fifo_within_each():
    lab = Lab([dev("a")])
    lab.add(*[job(f"A{i}", ["a"], study="A") for i in range(4)])
    lab.add(*[job(f"B{i}", ["a"], study="B") for i in range(2)])
    lab.add(job("C0", ["a"], study="C"))
    assert order_on_one_device(lab) == ["A0", "B0", "C0", "A1", "B1", "A2", "A3"]


def test_a_study_submitted_later_alternates_with_one_already_running():
    lab = Lab([dev("a")])
    lab.add(*[job(f"A{i}", ["a"], study="A") for i in range(5)])
    for _ in range(3):  # A alone for a while
        (lease,) = lab.step()
        lab.report(lease.device, "ok")
        lab.now += 1.0
    lab.add(*[job(f"B{i}", ["a"], study="B") for i in range(3)])
    assert order_on_one_device(lab) == ["B0", "A3", "B1", "A4", "B2"]


def test_jobs_sharing_an_artifact_run_back_to_back_on_the_device_that_built_it():
    lab = Lab([dev("a")])
    # Study A's two scenarios of one variant share artifact K; study B is interleaved by fairness.
    lab.add(job("A-single", ["a"], study="A", artifact="K"), job("A-offline", ["a"], study="A", artifact="K"))
    lab.add(job("B0", ["a"], study="B"), job("B1", ["a"], study="B"))
    assert order_on_one_device(lab) == ["A-single", "A-offline", "B0", "B1"]


def test_artifact_grouping_never_beats_a_better_class():
    lab = Lab([dev("a", last_artifact="K")])
    lab.add(job("nightly-K", ["a"], study="N", artifact="K", priority=1),
            job("interactive", ["a"], study="I", priority=0))
    assert order_on_one_device(lab)[0] == "interactive"


def test_a_job_for_several_devices_prefers_the_one_holding_its_artifact():
    devices = [dev("a", last_artifact="X"), dev("b", last_artifact="K"), dev("c")]
    new = schedule([job("j", ["a", "b", "c"], artifact="K")], devices, [], now=0.0)
    assert new[0].device == "b"


def test_devices_holding_a_wanted_artifact_are_handed_out_last():
    # "other" comes first and could take b (alphabetical), which would make "k" rebuild K on c.
    devices = [dev("b", last_artifact="K"), dev("c")]
    jobs = [job("other", ["b", "c"]), job("k", ["b", "c"], artifact="K")]
    assert {(l.job_id, l.device) for l in schedule(jobs, devices, [], now=0.0)} == {("other", "c"), ("k", "b")}


def test_lease_expires_without_heartbeat_and_job_returns_with_next_attempt():
    lab = Lab([dev("a")], ttl_s=10.0)
    lab.add(job("j", ["a"]))
    (lease,) = lab.step()
    assert lease.expires_at == 10.0 and lab.jobs["j"].attempt == 1
    lab.now = 9.0
    lab.heartbeat()  # renewed: now expires at 19
    assert lab.leases["a"].expires_at == 19.0 and expired(list(lab.leases.values()), 18.9) == []
    lab.now = 19.0
    lab.step()  # expired: back in the queue with a backoff, not yet restarted
    assert lab.jobs["j"].state == "queued" and "a" not in lab.leases
    lab.now = 20.0
    (again,) = lab.step()
    assert again.job_id == "j" and lab.jobs["j"].attempt == 2
    assert renew(again, 25.0, 10.0).expires_at == 35.0


def test_infra_error_is_retried_after_backoff_on_another_device():
    lab = Lab([dev("a"), dev("b")], retry=RetryPolicy(max_attempts=3, backoff_s=2.0))
    lab.add(job("j", ["a", "b"]), job("blocker", ["b"]))
    first = {l.job_id: l.device for l in lab.step()}
    assert first == {"j": "a", "blocker": "b"}
    lab.report("b", "ok")
    assert lab.report("a", "infra-error") == "queued"
    assert lab.step() == []  # backing off until now + 2 s
    lab.now = 2.0
    (retry,) = lab.step()
    assert (retry.job_id, retry.device) == ("j", "b")  # avoids the device that failed it


def test_retry_waits_for_a_busy_other_device_rather_than_the_failed_one():
    lab = Lab([dev("a"), dev("b")], retry=RetryPolicy(max_attempts=3, backoff_s=0.0))
    lab.add(job("j", ["a", "b"]), job("long", ["b"]))
    lab.step()
    lab.report("a", "infra-error")
    assert lab.step() == []  # a is free but failed j; b is busy: j waits for b
    lab.report("b", "ok")
    (retry,) = lab.step()
    assert (retry.job_id, retry.device) == ("j", "b")


def test_retry_falls_back_to_the_failed_device_when_it_is_the_only_one():
    lab = Lab([dev("a")], retry=RetryPolicy(max_attempts=2, backoff_s=0.0))
    lab.add(job("j", ["a"]))
    lab.step()
    lab.report("a", "infra-error")
    (again,) = lab.step()
    assert again.device == "a"
    assert lab.report("a", "infra-error") == "failed"  # gave up after max_attempts
    assert lab.jobs["j"].runs == ["infra-error", "infra-error"]


def test_model_error_is_not_retried_and_ok_is_done():
    assert after_run(RetryPolicy(), "model-error", 1, None, "a", 0.0).state == "failed"
    assert after_run(RetryPolicy(), "ok", 1, None, "a", 0.0).state == "done"
    assert after_run(RetryPolicy(), "infra-error", 1, 1, "a", 0.0).state == "failed"  # job's own limit
    assert after_run(RetryPolicy(), "ok", 1, None, "a", 0.0, cancel_requested=True).state == "cancelled"


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(backoff_s=5.0, factor=2.0, max_backoff_s=12.0)
    assert [policy.delay_s(a) for a in (1, 2, 3)] == [5.0, 10.0, 12.0]


def test_device_quarantined_after_k_infra_errors_and_back_after_a_passed_check():
    lab = Lab([dev("a")], retry=RetryPolicy(max_attempts=5, backoff_s=0.0),
              health=HealthPolicy(quarantine_after=2, check_interval_s=5.0))
    lab.add(job("j", ["a"]))
    for _ in range(2):
        lab.step()
        lab.report("a", "infra-error")
    assert lab.health["a"].quarantined
    assert lab.step() == []  # nothing goes to a quarantined device
    lab.now = 4.9
    assert lab.health_checks(passes=True) == []  # not due yet
    lab.now = 5.0
    assert lab.health_checks(passes=False) == ["a"] and lab.health["a"].quarantined
    lab.now = 10.0
    assert lab.health_checks(passes=True) == ["a"] and not lab.health["a"].quarantined
    (lease,) = lab.step()
    assert lab.report(lease.device, "ok") == "done" and lab.health["a"].failures == 0


def test_a_working_run_resets_the_failure_count_and_cancel_counts_nothing():
    policy = HealthPolicy(quarantine_after=3)
    h = health_after_run(policy, Health(), "infra-error", 0.0)
    assert h.failures == 1
    assert health_after_run(policy, h, "model-error", 1.0).failures == 0
    assert health_after_run(policy, h, "infra-error", 1.0, cancelled=True) == h


def test_not_before_in_the_future_is_not_scheduled_and_does_not_use_a_turn():
    jobs = [job("later", ["a"], study="A", not_before=10.0), job("now", ["a"], study="B")]
    assert [l.job_id for l in schedule(jobs, [dev("a")], [], now=0.0)] == ["now"]
    assert [l.job_id for l in schedule(jobs, [dev("a")], [], now=10.0)] == ["later"]
