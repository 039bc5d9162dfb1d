"""The load generator of live game days: an experiment's open-loop load, sent by Locust, counted per second.

    plan = plan_experiment(experiment, {"web": "http://127.0.0.1:8080"})
    with LoadGenerator(plan, run_dir, workers=0) as load:
        start = load.wait_started()        # second 0, on time.monotonic()
        ...                                # load.poll(), load.record(entry, second), load.series(entry)
        summary = load.wait()              # or load.stop()

Modules:

    plan.py        LoadPlan: per-entrypoint rate curves (profile x share x load spikes), client policy, bounds
    generator.py   LoadGenerator: the Locust processes, their per-second records, clean shutdown
    records.py     SecondStats, LoadSummary, LoadStart: what comes back, typed
    tally.py       per-second counting and the master's merge (standard library; both sides)
    answers.py     what an answer means: success, a cause, or a client error (standard library)
    workserver.py  a tiny /work server on loopback for tests, benchmarks and dry runs
    locustfile.py  Locust's side (imports locust: only ever run by Locust, in its own process)
    process.py     arrivals, requests and retries on gevent (Locust process only)
    client.py      one attempt on gevent sockets (Locust process only)

Importing this package imports neither Locust nor gevent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.live.load.generator import LoadGenerator
    from chaos.live.load.plan import EntryPlan, LoadPlan, plan_experiment, plan_load
    from chaos.live.load.records import Counts, LoadStart, LoadSummary, SecondStats

# Names are imported on first use (PEP 562): every Locust process imports plan.py and process.py
# through this package, and the parent's side (generator.py, records.py and the result model under
# them) would cost each of them a few hundred milliseconds of CPU at every load's start.
_HOME = {"LoadGenerator": "generator", "EntryPlan": "plan", "LoadPlan": "plan", "plan_experiment": "plan",
         "plan_load": "plan", "Counts": "records", "LoadStart": "records", "LoadSummary": "records",
         "SecondStats": "records"}
__all__ = ["Counts", "EntryPlan", "LoadGenerator", "LoadPlan", "LoadStart", "LoadSummary", "SecondStats",
           "plan_experiment", "plan_load"]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"chaos.live.load.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
