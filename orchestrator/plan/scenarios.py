"""Load scenarios of a study: validation, batch shapes, and the JobSpec's `Scenario`.

`--batch N` sets dim 0 of every input whose dim 0 is dynamic (replacing dim 0 of a `--shape`
for it); a model that fixes dim 0 at another value is refused, as is any flag that would not
apply to the scenarios asked for. A symbolic dim 0 whose name says it is a sequence, time or
length axis (`seq`, `sequence_length`, `time`, `num_tokens` ...: recurrent and sequence models)
is not a batch: `--batch` leaves it alone and the run's batch does not count it. Everything
here is checked before anything is stored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from agents.engines import get_engine
from agents.engines.base import TensorInfo
from agents.errors import UserError
from agents.spec import SCENARIOS, Scenario


@dataclass
class LoadFlags:
    """The load settings of a study (defaults: single-stream, the model's batch)."""

    scenarios: tuple[str, ...] = ("single-stream",)
    batches: tuple[int, ...] | None = None
    requests: int | None = None
    qps: float | None = None
    latency_bound_ms: float | None = None
    find_peak: bool = False
    until_stable_pct: float | None = None
    seed: int = 0


def check_flags(flags: LoadFlags, engines: list[str]) -> None:
    """Refuse flags that cannot mean anything for these scenarios and engines.

    Raises:
        UserError: one line naming the flag.
    """
    names, load = set(flags.scenarios), {"offline", "server"} & set(flags.scenarios)
    unknown = sorted(names - set(SCENARIOS))
    problems = [
        (not flags.scenarios, "--scenario needs at least one of " + ", ".join(SCENARIOS)),
        (bool(unknown), f"unknown scenario '{unknown[0] if unknown else ''}'; known: {', '.join(SCENARIOS)}"),
        (any(b < 1 for b in flags.batches or ()), f"--batch sizes must be >= 1, got {_nums(flags.batches)}"),
        (flags.requests is not None and not load, "--requests applies to --scenario offline or server"),
        (flags.requests is not None and flags.requests < 1, f"--requests must be >= 1, got {flags.requests}"),
        (not _positive(flags.qps), f"--qps must be a rate > 0 queries per second, got {_nums(flags.qps)}"),
        (flags.qps is not None and "server" not in names, "--qps applies to --scenario server"),
        (not _positive(flags.latency_bound_ms), f"--latency-bound-ms must be > 0, got {_nums(flags.latency_bound_ms)}"),
        (flags.latency_bound_ms is not None and "server" not in names, "--latency-bound-ms applies to --scenario server"),
        (flags.find_peak and "server" not in names, "--find-peak applies to --scenario server"),
        (flags.find_peak and flags.latency_bound_ms is None,
         "--find-peak needs --latency-bound-ms: the peak is the highest rate whose p99 stays under it"),
        (flags.find_peak and flags.qps is not None, "--find-peak searches the rate itself; leave out --qps"),
        ("server" in names and not flags.find_peak and flags.qps is None,
         "--scenario server needs --qps X (or --find-peak with --latency-bound-ms)"),
        (flags.until_stable_pct is not None and not 0 < flags.until_stable_pct < 100,
         f"--until-stable must be a percentage in (0, 100), e.g. 1%, got {flags.until_stable_pct}")]
    for bad, message in problems:
        if bad:
            raise UserError(message)
    _check_requests(flags.requests, engines)


def _positive(value: float | None) -> bool:
    """None (not given) or a finite number > 0."""
    return value is None or (math.isfinite(value) and value > 0)


def _nums(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_nums(v) for v in value)
    return "-" if value is None else f"{value:g}"


def _check_requests(requests: int | None, engines: list[str]) -> None:
    for name in engines if requests is not None else []:
        limit = get_engine(name).max_requests
        if requests > limit:
            raise UserError(f"--requests {requests}: {name} allows at most {limit} requests in flight")


_NOT_BATCH = re.compile(r"^(seq|sequence|seq_?len|seq_?length|sequence_?length|len|length|time|"
                        r"times?teps?|steps?|t|tokens?|num_\w+|n_\w+|\w+_len|\w+_length|"
                        r"past\w*|total\w*)$", re.IGNORECASE)


def has_batch_dim(info: TensorInfo) -> bool:
    """Whether dim 0 of an input counts as its batch: any fixed or unnamed dim 0, or a symbolic
    one whose name does not say sequence/time/length."""
    if not info.shape:
        return False
    dim0 = info.shape[0]
    return not (isinstance(dim0, str) and _NOT_BATCH.match(dim0))


def batch_shapes(inputs: list[TensorInfo], shapes: dict[str, list[int]], batch: int,
                 data_shapes: dict[str, list[int]]) -> dict[str, list[int]]:
    """The user's shapes with dim 0 of every input whose dim 0 is dynamic set to `batch`.

    Raises:
        UserError: an input fixes dim 0 at another value, its data has another dim 0, or it
            has other dynamic dims no `--shape` fixes.
    """
    out = {k: list(v) for k, v in shapes.items()}
    batched = [info for info in inputs if has_batch_dim(info)]
    if not batched:
        dims = ", ".join(f"'{i.name}' {list(i.shape)}" for i in inputs) or "none"
        raise UserError(f"--batch {batch}: no input has a batch dim 0 (inputs: {dims}); "
                        "set its dims with --shape instead")
    for info in batched:
        dim0 = info.shape[0]
        if isinstance(dim0, int):
            if dim0 != batch:
                raise UserError(f"--batch {batch}: input '{info.name}' fixes its batch dim at {dim0} "
                                f"(shape {list(info.shape)}); export the model with a dynamic dim 0")
            continue
        if info.name in data_shapes and data_shapes[info.name][0] != batch:
            raise UserError(f"--batch {batch}: the data given for input '{info.name}' has dim 0 = "
                            f"{data_shapes[info.name][0]}")
        rest = out.get(info.name, list(info.shape))[1:]
        if not all(isinstance(d, int) for d in rest):
            example = ",".join(["N", *(str(d) if isinstance(d, int) else "D" for d in rest)])
            raise UserError(f"input '{info.name}' has dynamic dims besides the batch (shape "
                            f"{list(info.shape)}); pass --shape {info.name}={example}")
        out[info.name] = [batch, *rest]
    return out


def model_batch(inputs: list[TensorInfo], resolved: dict[str, list[int]]) -> int:
    """The batch of concrete input shapes: dim 0 of the first input whose dim 0 is a batch dim
    (`has_batch_dim`), else 1."""
    return next((resolved[i.name][0] for i in inputs if has_batch_dim(i) and resolved.get(i.name)), 1)


def scenario_for(flags: LoadFlags, name: str, batch: int) -> Scenario:
    """The JobSpec's Scenario for one scenario name and batch size."""
    server = name == "server"
    return Scenario(name=name, batch=batch,
                    concurrency=flags.requests if name != "single-stream" else None,
                    target_qps=flags.qps if server else None,
                    latency_bound_ms=flags.latency_bound_ms if server else None,
                    seed=flags.seed, find_peak=flags.find_peak and server,
                    until_stable_pct=flags.until_stable_pct)

