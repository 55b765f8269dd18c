"""Expand a study into queue items: one job per (model, engine, precision, batch, scenario,
device) with `spread: each`, or per selector with `spread: any` (the job may run on any
capable device the selector matches).

`prepare` checks everything that needs no database (selectors, models, shapes, options,
scenario settings) with the one planning road (`orchestrator.plan.jobs.plan`);
`expand` then keeps only the jobs some device can run according to its last probe, and says
why it dropped the others.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from agents.errors import UserError
from inventory import Device, Inventory, select
from orchestrator.plan.jobs import plan
from orchestrator.plan.study import ModelEntry, Study
from results.queue import QueueItem


@dataclass
class Template:
    """A JobSpec (as a dict) of one (model, engine, precision, batch, scenario), before its device."""

    spec: dict[str, Any]
    engine: str
    artifact: str


@dataclass
class Prepared:
    """A study checked against the inventory and its models, ready to expand."""

    study: Study
    selections: list[tuple[str, list[Device]]]
    templates: list[Template] = field(default_factory=list)

    @property
    def devices(self) -> list[Device]:
        """Every device some selector matched, once, in selector order."""
        seen: dict[str, Device] = {}
        for _, devices in self.selections:
            for d in devices:
                seen.setdefault(d.name, d)
        return list(seen.values())


def prepare(study: Study, inv: Inventory, probed_arch: Mapping[str, str] | None = None) -> Prepared:
    """Resolve the selectors and preflight every model; touches no database.

    Raises:
        UserError: a selector matching nothing, a bad model, shape, option, batch size or
            scenario setting.
    """
    selections = [(s, select(inv, s, probed_arch)) for s in study.devices]
    prepared = Prepared(study, selections)
    for model in study.models:
        prepared.templates += _templates(study, model)
    return prepared


def _templates(study: Study, model: ModelEntry) -> list[Template]:
    out = []
    for spec in plan(study, model):
        data = json.loads(spec.to_json())
        out.append(Template(data, spec.variant.engine, artifact_key(data)))
    return out


def artifact_key(spec: Mapping[str, Any]) -> str:
    """What a compile depends on: model, engine, precision, options, shapes, calibration.
    Jobs with the same key reuse one compiled artifact on a device."""
    parts = [spec["model"]["sha256"], spec["variant"], spec["inputs"].get("shapes"),
             (spec.get("calibration") or {}).get("sha256")]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def expand(prepared: Prepared, study_id: str, engines: Mapping[str, frozenset[str] | None],
           why_not: Mapping[str, str] | None = None) -> tuple[list[QueueItem], list[str]]:
    """The runnable jobs, and one line per dropped (engine, device) saying why.

    Args:
        engines: device -> engines its probe found available (None: no usable probe).
        why_not: device -> why it has no usable probe.
    """
    items: list[QueueItem] = []
    skipped: dict[str, None] = {}
    for template in prepared.templates:
        for selector, devices in prepared.selections:
            pools = _pools(prepared.study.spread, template.engine, devices, engines, why_not or {}, skipped)
            for pool in pools:
                items.append(_item(template, pool, selector, study_id))
    return items, list(skipped)


def _pools(spread: str, engine: str, devices: list[Device], engines: Mapping, why_not: Mapping,
           skipped: dict[str, None]) -> list[list[str]]:
    able = []
    for d in devices:
        have = engines.get(d.name)
        if have is None:
            skipped[f"{d.name}: no probe ({why_not.get(d.name, 'not probed')})"] = None
        elif engine not in have:
            skipped[f"{engine} on {d.name}: not available there (probe found: "
                    f"{', '.join(sorted(have)) or 'no engine'})"] = None
        else:
            able.append(d.name)
    if spread == "any":
        return [able] if able else []
    return [[name] for name in able]


def _item(t: Template, pool: list[str], selector: str, study_id: str) -> QueueItem:
    device = pool[0] if len(pool) == 1 else selector
    spec = {**t.spec, "job_id": uuid.uuid4().hex[:16], "study_id": study_id, "device": device}
    return QueueItem(spec=spec, pool=pool, artifact=t.artifact, device=device)


def refuse_if_empty(items: list[QueueItem], skipped: list[str], prepared: Prepared) -> None:
    """Refuse a study with no runnable job, with the reasons, before anything is queued.

    Raises:
        UserError: no job can run.
    """
    if items:
        return
    names = ", ".join(d.name for d in prepared.devices)
    reasons = "; ".join(skipped[:5]) + (f"; ... ({len(skipped)} in all)" if len(skipped) > 5 else "")
    raise UserError(f"nothing to queue: no selected device ({names}) can run any job of this "
                    f"study: {reasons}")

