"""The simulator is pure: no wall clock, no Docker, no HTTP, no Locust (and so no gevent patching).

Each check runs in a fresh interpreter, so what the test process already imported
cannot hide an import, and nothing patched there leaks into other tests.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import chaos

PACKAGE = Path(chaos.__file__).parent
# The simulation and everything it hands its results to.
PURE = sorted([*PACKAGE.joinpath("sim").glob("*.py"), *PACKAGE.joinpath("analysis").glob("*.py"),
               PACKAGE / "run.py", PACKAGE / "result.py"])
FORBIDDEN = ("docker", "requests", "locust", "gevent")
CLOCKS = ("time", "datetime")


def python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_simulator_imports_no_docker_http_or_locust() -> None:
    out = python(
        "import sys, json\n"
        "import chaos.sim, chaos.sim.simulation, chaos.sim.replications, chaos.analysis, chaos.result\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n")
    assert json.loads(out) == []


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # anywhere: a lazy import inside a function counts too
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_simulator_module_imports_a_clock() -> None:
    # CPython imports 'time' itself while starting up, so sys.modules cannot show whether
    # the simulator imports it; the sources can.
    assert len(PURE) > 8
    offenders = {p.name: sorted(imported_modules(p) & set(CLOCKS + FORBIDDEN)) for p in PURE}
    assert {k: v for k, v in offenders.items() if v} == {}


WALL_CLOCK_TRAP = """
import datetime, sys, time
import networkx, simpy, yaml  # third-party imports first: only chaoslab is on trial

def trap(*args, **kwargs):
    raise RuntimeError("the simulator read the wall clock")

for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
             "process_time", "process_time_ns", "sleep", "localtime", "gmtime", "ctime", "asctime"):
    setattr(time, name, trap)

class Trapped(datetime.datetime):
    now = utcnow = today = classmethod(trap)

datetime.datetime = Trapped
datetime.date = type("TrappedDate", (datetime.date,), {"today": classmethod(trap)})

from chaos.model.files import load_experiment
from chaos.result import to_json
from chaos.sim.replications import simulate_replications

result = simulate_replications(load_experiment(sys.argv[1]), replications=2)
doc = result.to_dict()
del doc["audit"]
print(len(to_json(doc)))
"""


def test_simulation_and_analysis_never_read_the_wall_clock(tmp_path: Path) -> None:
    # Every clock function of 'time' and 'datetime' raises; a run with faults, SLOs,
    # alerts, two replications and the result document must not notice.
    spec = tmp_path / "exp.yaml"
    spec.write_text("""
name: clockless
duration: 60s
warmup: 5s
load: {profile: spike, rate: 100, peak: 300, at: 20s, for: 10s}
topology:
  name: t
  entrypoints: {web: {to: a, timeout: 1s, retries: {max: 2, backoff: {base: 10ms}}}}
  services:
    a:
      workers: 8
      service_time: {dist: exponential, mean: 5ms}
      calls: [{to: b, timeout: 200ms, circuit_breaker: {min_calls: 5}}]
    b: {workers: 4, service_time: {dist: lognormal, median: 10ms, p99: 80ms}}
faults:
  - {kind: slowdown, target: b, factor: 5, at: 25s, duration: 10s}
  - {kind: crash, target: a, at: 40s, duration: 5s, cold_start: {factor: 2, decay: 3s}}
slos: [{entrypoint: web, error_ratio: 0.01, latency: {p99: 300ms}}]
alerts: [{name: errs, entrypoint: web, metric: error_ratio, threshold: 0.05, window: 10s, every: 2s}]
""", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", WALL_CLOCK_TRAP, str(spec)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 1000  # a full result document was produced
