"""Retries, device health and what counts as a failure: pure decisions, no I/O, time passed in.

After each attempt `after_run` decides the job's next state; `health_after_run` counts a
device's consecutive infra failures and quarantines it after K of them; a quarantined device
gets a health check every `check_interval_s` and `health_after_check` brings it back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agents.spec import RunResult

FINAL_STATES = ("done", "failed", "cancelled")
ACTIVE_STATES = ("queued", "leased", "running")
STATES = ACTIVE_STATES + FINAL_STATES  # a job's states, in the order tables show them
NEVER = 2**31  # HealthPolicy(quarantine_after=NEVER): a device is never quarantined (bench run)


@dataclass(frozen=True)
class RetryPolicy:
    """How infra-errors are retried: up to `max_attempts` attempts in all, waiting
    `backoff_s * factor**(attempt-1)` (at most `max_backoff_s`) before the next one."""

    max_attempts: int = 3
    backoff_s: float = 5.0
    factor: float = 2.0
    max_backoff_s: float = 300.0

    def delay_s(self, attempt: int) -> float:
        """The wait before the attempt after `attempt`."""
        return min(self.max_backoff_s, self.backoff_s * self.factor ** max(0, attempt - 1))


@dataclass(frozen=True)
class Outcome:
    """What happens to a job after an attempt.

    Args:
        state: queued (retry), done, failed or cancelled.
        not_before: earliest start of the retry (0 when not retried).
        avoid: a device the retry should avoid when another one can take it.
        reason: why, for `bench status`.
    """

    state: str
    not_before: float = 0.0
    avoid: str | None = None
    reason: str | None = None


def after_run(policy: RetryPolicy, status: str, attempt: int, max_attempts: int | None,
              device: str, now: float, cancel_requested: bool = False,
              error: str | None = None) -> Outcome:
    """The job's next state after attempt `attempt` ended with run status `status`.

    ok -> done; skipped (a variant the device does not offer) -> done, with the reason;
    model-error -> failed (a bad model fails the same way everywhere);
    infra-error -> queued again after a backoff, on another device where one exists,
    until `max_attempts` (the job's own, else the policy's) attempts were made.
    A cancelled job ends cancelled whatever its run's status.
    """
    if cancel_requested:
        return Outcome("cancelled", reason="cancelled by the user")
    if status == "ok":
        return Outcome("done")
    if status == "skipped":
        return Outcome("done", reason=f"skipped: {error or ''}".strip())
    if status == "model-error":
        return Outcome("failed", reason=f"model-error (not retried): {error or ''}".strip())
    return _retry(policy, attempt, max_attempts, device, now, f"infra-error: {error or ''}".strip())


def after_expiry(policy: RetryPolicy, attempt: int, max_attempts: int | None, device: str,
                 now: float, cancel_requested: bool = False) -> Outcome:
    """The job's next state when its lease expired (its orchestrator or board went silent)."""
    if cancel_requested:
        return Outcome("cancelled", reason="cancelled by the user")
    return _retry(policy, attempt, max_attempts, device, now,
                  f"lease on {device} expired without a result")


def _retry(policy: RetryPolicy, attempt: int, max_attempts: int | None, device: str, now: float,
           reason: str) -> Outcome:
    limit = max_attempts or policy.max_attempts
    if attempt >= limit:
        return Outcome("failed", reason=f"{reason} (gave up after {attempt} attempt(s))")
    return Outcome("queued", not_before=now + policy.delay_s(attempt), avoid=device, reason=reason)


@dataclass(frozen=True)
class HealthPolicy:
    """Quarantine a device after `quarantine_after` consecutive infra failures; check a
    quarantined device every `check_interval_s`."""

    quarantine_after: int = 3
    check_interval_s: float = 60.0


@dataclass(frozen=True)
class Health:
    """A device's health: consecutive infra failures, quarantine, last check and why."""

    failures: int = 0
    quarantined: bool = False
    checked_at: float = 0.0
    reason: str | None = None
    since: float | None = None  # when the quarantine began


def health_after_run(policy: HealthPolicy, health: Health, status: str, now: float,
                     error: str | None = None, cancelled: bool = False) -> Health:
    """Count an attempt's outcome against the device that ran it.

    Any run that reached the engine (ok or model-error) proves the device works and resets
    the count; a cancelled run says nothing about the device.
    """
    if cancelled:
        return health
    if status != "infra-error":
        return replace(health, failures=0, reason=None)
    failures = health.failures + 1
    if failures >= policy.quarantine_after:
        return Health(failures, True, now, f"{failures} consecutive infra-errors; last: {error}", now)
    return replace(health, failures=failures, reason=error)


def check_due(policy: HealthPolicy, health: Health, now: float) -> bool:
    """Whether a quarantined device should get its health check now."""
    return health.quarantined and now - health.checked_at >= policy.check_interval_s


def health_after_check(health: Health, ok: bool, now: float, reason: str | None = None) -> Health:
    """A passed health check releases the device from quarantine; a failed one keeps it."""
    if ok:
        return Health(0, False, now, None)
    return replace(health, quarantined=True, checked_at=now, reason=reason or health.reason,
                   since=health.since or now)


def accuracy_drop(result: RunResult) -> float | None:
    """1 - top-1 agreement where the output is class scores, else 1 - worst cosine."""
    top1 = result.metrics.get("accuracy_top1_agreement")
    cosine = result.metrics.get("accuracy_cosine_min")
    if top1 is not None:
        return 1.0 - top1
    return None if cosine is None else 1.0 - cosine


def apply_accuracy_limit(result: RunResult, max_drop: float | None) -> None:
    """Flag a variant `accuracy-failed` when its drop exceeds the study's max_accuracy_drop."""
    drop = accuracy_drop(result)
    if max_drop is None or drop is None or drop <= max_drop:
        return
    result.flags.append("accuracy-failed")
    result.environment.setdefault("accuracy", {})["failed"] = (
        f"accuracy drop {drop:.4f} above the limit {max_drop:g}")


def is_skipped(result: RunResult) -> bool:
    """A variant this engine or device cannot do: shown as skipped, not as a failure."""
    return result.skipped


def failed(results: list[RunResult]) -> bool:
    """Whether `bench run` should exit 2: a run that is not ok (skips aside) or failed accuracy."""
    return any((r.status != "ok" and not is_skipped(r)) or "accuracy-failed" in r.flags
               for r in results)
