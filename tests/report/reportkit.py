"""Hand-made result documents for the report tests, shaped as ``Result.to_dict()`` writes them.

A synthetic system of N services in layers: one entrypoint calls ``svc-000``, each service
calls up to three in the next layer. A fault slows one deep service; the services on its
path up to the entrypoint breach one after another, each a few seconds after the one it
calls. Everything is derived from the arguments, so tests know what the reports must say.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    services: int = 12
    seconds: int = 120
    fault_at: float = 40.0
    fault_end: float = 80.0
    step_s: float = 3.0          # delay between one service's breach and its caller's
    entrypoints: int = 1
    seed: int = 1


def names(n: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(n)]


def edges(n: int) -> list[tuple[str, str]]:
    """A tree-like layered graph: service i calls 3i+1, 3i+2, 3i+3 (those that exist)."""
    ns = names(n)
    return [(ns[i], ns[c]) for i in range(n) for c in (3 * i + 1, 3 * i + 2, 3 * i + 3) if c < n]


def path_to_root(n: int, leaf: int) -> list[int]:
    out = [leaf]
    while out[-1] != 0:
        out.append((out[-1] - 1) // 3)
    return out


def _series(shape: Shape, breach_at: float | None, rng: random.Random, entry: bool) -> dict[str, list[Any]]:
    reqs, errs, p99, queue = [], [], [], []
    for t in range(shape.seconds):
        broken = breach_at is not None and breach_at <= t < shape.fault_end
        n = 100 + rng.randint(-5, 5)
        e = int(n * 0.6) if broken else rng.randint(0, 1)
        reqs.append(n)
        errs.append(e)
        p99.append(None if broken and e == n else round((900.0 if broken else 40.0) + rng.random() * 10, 3))
        queue.append(0.0 if entry else (50.0 if broken else float(rng.randint(0, 2))))
    zeros = [0] * shape.seconds
    return {"requests": reqs, "ok": [a - b for a, b in zip(reqs, errs, strict=True)], "errors": errs,
            "timeout": errs, "rejected": zeros, "circuit_open": zeros, "crashed": zeros, "injected": zeros,
            "dependency": zeros, "p50_ms": p99, "p95_ms": p99, "p99_ms": p99, "mean_ms": p99, "queue": queue,
            "busy": zeros, "retries": zeros, "wasted": zeros, "degraded": zeros}


def _figures(series: dict[str, list[Any]], first_breach: float | None, hops: int | None,
             amp: float | None) -> dict[str, Any]:
    requests, errors = sum(series["requests"]), sum(series["errors"])
    return {"requests": requests, "errors": errors, "error_ratio": round(errors / requests, 6),
            "errors_by_cause": {"timeout": errors} if errors else {}, "p50_ms": 40.0, "p95_ms": 60.0,
            "p99_ms": 900.0 if first_breach is not None else 45.0, "mean_ms": 45.0, "throughput_rps": 99.0,
            "first_breach_s": first_breach, "attempts_per_entry_request": amp, "hops": hops, "retries": 0,
            "wasted": 0, "degraded": 0}


def make_doc(shape: Shape = Shape()) -> dict[str, Any]:
    """A failing run: the deepest service slowed, its callers up to the entrypoint breached in turn."""
    rng = random.Random(shape.seed)
    ns = names(shape.services)
    leaf = shape.services - 1
    chain = path_to_root(shape.services, leaf)          # leaf first: the order of breach
    breach = {ns[i]: shape.fault_at + k * shape.step_s for k, i in enumerate(chain)}
    hops = {ns[i]: k for k, i in enumerate(chain)}
    entries = [f"entry-{k}" for k in range(shape.entrypoints)]
    scopes = {f"service:{n}": _series(shape, breach.get(n), rng, False) for n in ns}
    root_breach = breach[ns[0]] + 1
    for e in entries:
        scopes[f"entrypoint:{e}"] = _series(shape, root_breach, rng, True)
    services = {n: _figures(scopes[f"service:{n}"], breach.get(n), hops.get(n), round(1.0 + i % 3 * 0.5, 2))
                for i, n in enumerate(ns)}
    entry_figs = {e: _figures(scopes[f"entrypoint:{e}"], root_breach, None, None) for e in entries}
    slos = [_slo(f"service:{n}", services[n], 0.02, breach.get(n)) for n in ns]
    slos += [_slo(f"entrypoint:{e}", entry_figs[e], 0.01, root_breach) for e in entries]
    entry_requests = sum(f["requests"] for f in entry_figs.values())
    entry_failed = sum(f["errors"] for f in entry_figs.values())
    return {
        "schema_version": 3, "engine": "sim", "experiment": f"synthetic-{shape.services}", "topology": "layers",
        "seed": shape.seed, "duration_s": float(shape.seconds), "warmup_s": 10.0,
        "slo_met": all(s["met"] for s in slos), "time_to_detect_s": 12.0,
        "blast_radius": {
            "services": [ns[i] for i in chain],
            "cascade": [{"service": ns[i], "first_breach_s": breach[ns[i]], "hops": k, "breach_seconds": 30,
                         "cause": "latency" if k == 0 else "error_ratio"} for k, i in enumerate(chain)],
            "entry_requests": entry_requests, "entry_failed": entry_failed,
            "entry_failed_ratio": round(entry_failed / entry_requests, 6), "entry_errors": entry_failed,
            "entry_slow": 0},
        "services": services, "entrypoints": entry_figs, "slos": slos,
        "alerts": [{"name": "entry-errors", "scope": f"entrypoint:{entries[0]}", "fired_at_s": shape.fault_at + 12,
                    "resolved_at_s": shape.fault_end + 10, "value": 0.5}],
        "detections": [{"fault": "slow-leaf", "start_s": shape.fault_at, "alert": "entry-errors",
                        "detected_at_s": shape.fault_at + 12, "time_to_detect_s": 12.0, "other_alerts": []}],
        "alert_expectations": [{"alert": "entry-errors", "within_s": 30.0, "fired_at_s": shape.fault_at + 12,
                                "met": True}],
        "faults": [{"label": "slow-leaf", "kind": "slowdown", "target": ns[leaf], "start_s": shape.fault_at,
                    "end_s": shape.fault_end, "params": {"factor": 10.0}}],
        "markers": [{"t_s": shape.fault_at, "kind": "fault_on", "subject": ns[leaf], "detail": "slow-leaf"},
                    {"t_s": shape.fault_at + 5, "kind": "breaker_open", "subject": f"{ns[0]}->{ns[1]}",
                     "detail": ""},
                    {"t_s": shape.fault_at + 20, "kind": "breaker_closed", "subject": f"{ns[0]}->{ns[1]}",
                     "detail": ""},
                    {"t_s": shape.fault_at + 2, "kind": "crash", "subject": ns[leaf], "detail": "replica 0"},
                    {"t_s": shape.fault_end, "kind": "fault_off", "subject": ns[leaf], "detail": "slow-leaf"}],
        "graph": {"edges": [list(e) for e in edges(shape.services)], "entrypoints": {e: ns[0] for e in entries}},
        "series": {"t_s": list(range(shape.seconds)), "columns": list(scopes[f"service:{ns[0]}"]),
                   "scopes": scopes},
        "audit": {"inputs": {"experiments/synthetic.yaml": {"sha256": "ab" * 32}}, "seeds": [shape.seed],
                  "chaoslab_version": "0.1.0", "python": "3.11.7", "packages": {"matplotlib": "3.11.2"},
                  "host": "testhost", "platform": "Linux", "started": "2026-01-02T03:04:05+00:00",
                  "finished": "2026-01-02T03:04:09+00:00",
                  "command": ["chaoslab", "simulate", "experiments/synthetic.yaml", "--out", "runs/x y"]},
    }


def _slo(scope: str, fig: dict[str, Any], target: float, first_breach: float | None) -> dict[str, Any]:
    met = fig["error_ratio"] <= target
    return {"name": f"{scope} error ratio <= {target}", "slo": f"{scope} SLO", "scope": scope, "kind": "error_ratio",
            "target": target, "threshold_ms": None, "percentile": None, "observed": fig["error_ratio"],
            "bad": fig["errors"], "total": fig["requests"], "met": met,
            "first_breach_s": None if met else first_breach, "breach_seconds": 0 if met else 30}


def healthy(doc: dict[str, Any]) -> dict[str, Any]:
    """The same document with every SLO met and nothing breached."""
    out = copy.deepcopy(doc)
    for s in out["slos"]:
        s.update(met=True, first_breach_s=None, breach_seconds=0)
    out["slo_met"] = True
    out["blast_radius"].update(services=[], cascade=[], entry_failed=0, entry_failed_ratio=0.0)
    return out


def with_playbook(doc: dict[str, Any]) -> dict[str, Any]:
    """Adds a playbook section: one step misses its deadline, one is never reached, one phase undecided.

    Every time of the section counts from the incident start, the fault at 40 s of the run."""
    out = copy.deepcopy(doc)
    start = out["faults"][0]["start_s"]
    out["playbook"] = {
        "name": "leaf-runbook", "trigger": {"alerts": ["entry-errors"], "at_s": None},
        "clock": {"base": "first_fault", "start_run_s": start, "run_end_s": out["duration_s"] - start},
        "incident": {"outcome": "unfinished", "trigger": "entry-errors", "triggered_s": 12.0,
                     "trigger_before_start": False, "finished_s": None,
                     "time_to_detect_s": 12.0, "time_to_acknowledge_s": 30.0, "time_to_mitigate_s": 70.0,
                     "time_to_recover_s": None,
                     "error_budget_burned": [{"slo": "entrypoint:entry-0 error ratio <= 0.01",
                                              "scope": "entrypoint:entry-0", "burned": 2.5}]},
        "steps": [
            {"name": "acknowledge page", "role": "oncall", "action": "page", "target": "", "start_s": 12.0,
             "end_s": 30.0, "deadline_s": 60.0, "met": True, "not_judged": None, "status": "done", "verify": None,
             "verified_at_s": None, "note": ""},
            {"name": "restart the leaf", "role": "oncall", "action": "restart", "target": "svc-011",
             "start_s": 30.0, "end_s": 70.0, "deadline_s": 50.0, "met": False, "not_judged": None, "status": "done",
             "verify": "svc-011 p99 below 100ms for 10s", "verified_at_s": 69.0, "note": "slow restart"},
            {"name": "write the postmortem", "role": "oncall", "action": "wait", "target": None, "start_s": None,
             "end_s": None, "deadline_s": 200.0, "met": None, "not_judged": "run_ended", "status": "not_reached",
             "verify": None, "verified_at_s": None, "note": ""},
        ],
        "deadlines": [
            {"name": "mitigate within 60s", "phase": "mitigate", "deadline_s": 60.0, "actual_s": 70.0, "met": False,
             "not_judged": None},
            {"name": "detect within 30s", "phase": "detect", "deadline_s": 30.0, "actual_s": 12.0, "met": True,
             "not_judged": None},
            {"name": "recover within 5m", "phase": "recover", "deadline_s": 300.0, "actual_s": None, "met": None,
             "not_judged": "run_ended"},
        ],
        "findings": [{"kind": "no_verify", "step": "restart the leaf",
                      "message": "'restart the leaf' changes the system but checks nothing afterwards"}],
    }
    out["gate_failed"] = True
    return out


def with_playbook_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """The same playbook as a schema-1 document wrote it: step times on the run's clock, absolute phase times."""
    out = with_playbook(doc)
    out["schema_version"] = 1
    pb = out["playbook"]
    start = pb.pop("clock")["start_run_s"]
    inc = pb["incident"]
    pb["incident"] = {"start_s": start, "triggered_s": start + 12, "detected_s": start + 12,
                      "acknowledged_s": start + 30, "mitigated_s": start + 70, "recovered_s": None,
                      "trigger": "entry-errors", "aborted": False,
                      **{k: v for k, v in inc.items() if k.startswith("time_to_") or k == "error_budget_burned"}}
    for step in pb["steps"]:
        step.pop("not_judged")
        for key in ("start_s", "end_s", "deadline_s", "verified_at_s"):
            if step[key] is not None:
                step[key] += start
    for d in pb["deadlines"]:
        d.pop("not_judged")
    return out


def with_drill(doc: dict[str, Any], runs: int = 40) -> dict[str, Any]:
    """Adds a drill section: detection required 90% and met, mitigation required 80% and missed."""
    out = with_playbook(doc)
    rng = random.Random(7)
    detect = [round(rng.uniform(5, 25), 3) for _ in range(runs)]
    mitigate = [None if i % 10 == 0 else round(rng.uniform(30, 120), 3) for i in range(runs)]
    p_mit = sum(v is not None and v <= 60 for v in mitigate) / runs
    out["drill"] = {
        "runs": runs, "seeds": list(range(1, runs + 1)),
        "phases": {"detect": {"p50": 15.0, "p90": 23.0, "p99": 25.0, "mean": 15.0, "reached": runs, "values": detect},
                   "mitigate": {"p50": 70.0, "p90": None, "p99": None, "mean": 72.0,
                                "reached": sum(v is not None for v in mitigate), "values": mitigate}},
        "deadlines": [
            {"name": "detect within 30s in 90% of runs", "phase": "detect", "deadline_s": 30.0, "p_met": 1.0,
             "ci95": 0.0, "required": 0.9, "undecided": 0, "met": True},
            {"name": "mitigate within 60s in 80% of runs", "phase": "mitigate", "deadline_s": 60.0, "p_met": p_mit,
             "ci95": 0.1, "required": 0.8, "undecided": 0, "met": p_mit >= 0.8},
        ],
        "steps": [{"name": "acknowledge page", "p_met": 1.0, "p_reached": 1.0, "p50_end_s": 20.0, "p90_end_s": 28.0}],
        "findings": [], "slo_met_share": 0.0,
    }
    out["gate_failed"] = p_mit < 0.8
    return out
