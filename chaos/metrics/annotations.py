"""Fault windows and playbook steps as Grafana annotations, on the same wall-clock origin as the series.

Each annotation is the JSON body Grafana's HTTP API takes at ``POST /api/annotations``:
``time`` and ``timeEnd`` in milliseconds since the epoch (a region when they differ), ``tags``
and ``text``. Without a ``dashboardUID`` an annotation belongs to the organisation: any
dashboard shows it through an annotation query on the Grafana data source filtered by the
tag ``chaoslab``. The file is a JSON array of such bodies, one request each.
"""

from __future__ import annotations

from typing import Any

from chaos.model.faults import describe_params
from chaos.run import Run

TAG = "chaoslab"


def _ms(origin: float, t: float) -> int:
    return int(round((origin + t) * 1000))


def grafana_annotations(run: Run, origin: float) -> list[dict[str, Any]]:
    """The run's faults (regions, from their start to when they really ended) and playbook steps."""
    name = run.experiment.name
    out: list[dict[str, Any]] = []
    for fault in run.faults:
        end = fault.end_s if fault.end_s is not None else run.duration_s
        params = describe_params(fault.params)
        text = f"{name}: fault {fault.label}: {fault.kind.value} on {fault.target}" + (f" ({params})" if params else "")
        out.append({"time": _ms(origin, fault.start_s), "timeEnd": _ms(origin, end),
                    "tags": [TAG, name, "fault", fault.kind.value, fault.target], "text": text})
    incident = run.incident
    if incident is not None and incident.triggered_s is not None:
        out.append({"time": _ms(origin, incident.triggered_s), "timeEnd": _ms(origin, incident.triggered_s),
                    "tags": [TAG, name, "playbook", incident.playbook],
                    "text": f"{name}: playbook {incident.playbook} triggered by {incident.trigger}"})
    for step in incident.steps if incident is not None else ():
        if step.start_s is None:
            continue
        end = next((t for t in (step.end_s, step.acted_s) if t is not None), run.duration_s)
        action = f"{step.action.value} {step.target}".strip()
        text = f"{name}: step {step.name} ({step.role}): {action}, {step.status.value}"
        out.append({"time": _ms(origin, step.start_s), "timeEnd": _ms(origin, end),
                    "tags": [TAG, name, "playbook", "step", step.name], "text": text + (f"; {step.note}" if step.note
                                                                                        else "")})
    return sorted(out, key=lambda a: (a["time"], a["text"]))
