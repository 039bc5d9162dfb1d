"""Service times fitted from a live run, and the per-hop overhead the simulator does not have.

Method (for chaoslab's generated stacks, whose emulators report ``own_time_hist``):

- Only *quiet* seconds count: after warm-up, outside every fault window and the
  ``SETTLE_S`` seconds after it, so neither a fault nor its aftermath is fitted.
- A service's **service time** is its own work: the emulators time each request's
  service-time sleep (no queueing, no calls), so a service with calls needs nothing
  subtracted. Its distribution is fitted as a lognormal by its quantiles: the median and
  the p99 of the merged own-time histogram (interpolated within 12%-wide buckets).
- A service with **operations** gets each operation's own service time the same way, from the
  own-time histograms its emulators keep per operation (``/admin/metrics``' ``operations``, the
  ``http_route="/op/<name>"`` series of ``/metrics``): a read and a write of one service are
  fitted apart, each to its own requests. The service's own fit, over all its operations'
  requests, stays the default for operations the run did not reach.
- The **per-hop overhead** of a service is what its callers saw beyond what it measured
  itself: the mean caller-side latency (``service:S`` in result.json, successes) minus the
  mean server-side latency (the emulators' ``server`` histograms). It is the price of
  the hop: a new TCP connection to Toxiproxy, the proxy's forwarding, the callee's HTTP
  handling; for an entrypoint's target also the load generator and Docker's port proxy.
  The simulator has no network, so the calibrated service time carries it.

``chaoslab calibrate`` writes lognormal(median + hop, p99 + hop): a simulation of the live
stack. ``chaoslab compare`` keeps each declared distribution and moves its mean and p99 by
the hop plus whatever the emulator's sleeps overran the declared mean (:func:`shifted`).

Limits: a lognormal is assumed (a bimodal service is not one); the overhead is a mean,
taken at the run's own load (it grows on a saturated machine); a service with no
successful request in the quiet seconds cannot be fitted; a user's own stack has no
own-time histograms, so only services whose mapped metrics are chaoslab's emulator's can be.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.errors import InputError
from chaos.live.gameday.measure import hist_mean
from chaos.run import merge_hists, percentile_from_hist

SETTLE_S = 5.0     # seconds after a fault ends that still do not count as quiet
Z = {"p90": 1.2815516, "p95": 1.6448536, "p99": 2.3263479}
LIVE_FILE = "live.json"


@dataclass(frozen=True)
class Fit:
    service: str
    samples: int                 # own-time samples over the quiet seconds
    median_s: float | None
    p99_s: float | None
    own_mean_s: float | None
    declared_mean_s: float | None
    hop_s: float | None          # mean caller-side minus mean server-side latency
    operation: str | None = None  # the fit of one operation of the service (None: of the service)
    operations: tuple[Fit, ...] = ()  # a service's: the fit of each operation it declares

    @property
    def label(self) -> str:
        return self.service if self.operation is None else f"{self.service}.{self.operation}"

    def service_time(self) -> dict[str, Any] | None:
        """The calibrated service_time for a topology file (None: nothing to fit)."""
        if self.median_s is None or self.p99_s is None:
            return None
        hop = max(0.0, self.hop_s or 0.0)
        median, p99 = self.median_s + hop, self.p99_s + hop
        if p99 <= median * 1.001:
            return {"dist": "constant", "value": _duration(median)}
        return {"dist": "lognormal", "median": _duration(median), "p99": _duration(p99)}

    def describe(self) -> str:
        if self.median_s is None:
            return f"{self.label}: no successful request in the quiet seconds; service_time left as it was"
        hop = "n/a" if self.hop_s is None else f"{self.hop_s * 1000:+.2f} ms"
        p99 = self.p99_s or self.median_s
        return (f"{self.label}: own time median {self.median_s * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms "
                f"over {self.samples} requests; per-hop overhead {hop}")


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.3f}ms"


def quiet_seconds(faults: list[dict[str, Any]], warmup_s: float, seconds: int) -> list[int]:
    """Measured seconds outside every fault window and the settling time after it."""
    first = math.ceil(warmup_s - 1e-9)
    out = []
    for k in range(first, seconds):
        busy = any(k + 1 > f["start_s"] and k < (math.inf if f["end_s"] is None else f["end_s"]) + SETTLE_S
                   for f in faults)
        if not busy:
            out.append(k)
    return out


def read_live(run_dir: Path) -> dict[str, Any]:
    from chaos.model.inputs import FILE_NOT_FOUND, RESULT_FILE_LIMIT, input_problem, read_input

    path = run_dir / LIVE_FILE
    if input_problem(path, RESULT_FILE_LIMIT) == FILE_NOT_FOUND:
        raise InputError(f"{path}: no such file", hint="calibration needs a run of chaoslab run (it writes "
                                                       f"{LIVE_FILE} beside result.json)")
    try:
        return dict(json.loads(read_input(path, str(path), RESULT_FILE_LIMIT)))  # a FIFO is refused unread
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def _hists(raw: list[dict[str, int]], seconds: list[int]) -> dict[int, int]:
    return merge_hists([{int(k): int(v) for k, v in raw[s].items()} for s in seconds if s < len(raw)])


def caller_mean(doc: dict[str, Any], service: str, seconds: list[int]) -> float | None:
    """Mean caller-side latency of successes over ``seconds``, from result.json's series (seconds)."""
    cols = doc["series"]["scopes"].get(f"service:{service}")
    if cols is None:
        return None
    ok, means = cols["ok"], cols["mean_ms"]
    weight = sum(ok[s] for s in seconds if s < len(ok) and means[s] is not None)
    if not weight:
        return None
    return sum(ok[s] * means[s] for s in seconds if s < len(ok) and means[s] is not None) / weight / 1000.0


def fit_services(live: dict[str, Any], doc: dict[str, Any]) -> dict[str, Fit]:
    bounds = tuple(float(b) for b in live["bounds_s"])
    seconds = len(doc["series"]["t_s"])
    quiet = quiet_seconds(live["faults"], float(live["warmup_s"]), seconds)
    fits = {}
    for name, data in live["services"].items():
        server = _hists(data["server"], quiet)
        served = hist_mean(server, bounds)
        called = caller_mean(doc, name, quiet)
        hop = None if served is None or called is None else called - served
        ops = tuple(_fit(name, op, _hists(raw["own"], quiet), raw["declared"], bounds, hop)
                    for op, raw in (data.get("operations") or {}).items())
        fits[name] = dataclasses.replace(_fit(name, None, _hists(data["own"], quiet), data["declared"], bounds, hop),
                                         operations=ops)
    return fits


def _fit(service: str, operation: str | None, own: dict[int, int], declared: dict[str, Any],
         bounds: tuple[float, ...], hop: float | None) -> Fit:
    """The fit of one own-time histogram (a service's, or one operation's: the hop is the service's)."""
    samples = sum(own.values())
    return Fit(service=service, samples=samples,
               median_s=percentile_from_hist(own, bounds, 0.50) if samples else None,
               p99_s=percentile_from_hist(own, bounds, 0.99) if samples else None,
               own_mean_s=hist_mean(own, bounds), declared_mean_s=declared_mean(declared), hop_s=hop,
               operation=operation)


def declared_mean(spec: dict[str, Any]) -> float | None:
    """Mean of a stack-spec service time (``chaos.live.in_container.stackspec.ServiceTime`` JSON)."""
    dist = spec.get("dist")
    if dist == "constant":
        return float(spec["value"])
    if dist == "exponential":
        return float(spec["mean"])
    if dist == "lognormal":
        median = float(spec["median"])
        tail = next(t for t in Z if t in spec)
        sigma = math.log(float(spec[tail]) / median) / Z[tail]
        return median * math.exp(sigma * sigma / 2)
    return None


def calibrate_run(run_dir: Path, doc: dict[str, Any]) -> dict[str, Fit]:
    """Fits of every service of a live run; InputError when none can be fitted."""
    fits = fit_services(read_live(run_dir), doc)
    if not any(f.samples for f in fits.values()):
        raise InputError(f"{run_dir}: no service reported its own work time, so nothing can be fitted",
                         hint="calibration needs a run on a stack chaoslab generated (its emulators report "
                              "own_time_hist), with load in seconds outside the fault windows")
    return fits


def hop_offsets(live: dict[str, Any], doc: dict[str, Any]) -> dict[str, float]:
    """Milliseconds to add to each service's declared service time so the simulator sees what the live
    callers saw: the hop overhead plus what the emulator's own time overran the declared mean."""
    out = {}
    for fit in (f for service in fit_services(live, doc).values() for f in (service, *service.operations)):
        if fit.hop_s is None:
            continue
        excess = 0.0 if fit.own_mean_s is None or fit.declared_mean_s is None else fit.own_mean_s - fit.declared_mean_s
        out[fit.label] = round((fit.hop_s + excess) * 1000.0, 3)  # 'db', and 'db.find' for an operation
    return out


def lognormal_for(mean_s: float, p99_s: float) -> tuple[float, float] | None:
    """(median, p99) of the lognormal with this mean and p99; None when no lognormal has them."""
    ratio = math.log(p99_s / mean_s) if mean_s > 0 and p99_s > 0 else -1.0
    disc = Z["p99"] ** 2 - 2 * ratio
    if ratio <= 0 or disc < 0:
        return None
    sigma = Z["p99"] - math.sqrt(disc)
    return mean_s * math.exp(-sigma * sigma / 2), p99_s


def shifted(experiment: Any, offsets_ms: dict[str, float]) -> Any:
    """The experiment with each service's service time moved by its offset (and each operation's with a
    service time of its own, by ``SERVICE.OPERATION``'s): mean and p99 both shifted, the shape kept as a
    lognormal of that mean and p99 (a constant stays a constant)."""
    from pathlib import Path as _Path

    import yaml

    from chaos.model.distributions import Constant
    from chaos.model.overrides import set_path
    from chaos.model.parsing import Context, RawValue

    # a service's, and each operation's that declares a service time of its own ('db.find'); the others
    # take their service's, shifted with it
    places = [(service.name, service.service_time, ["topology", "services", service.name, "service_time"])
              for service in experiment.topology.services]
    places += [(f"{service.name}.{op.name}", op.service_time,
                ["topology", "services", service.name, "operations", op.name, "service_time"])
               for service in experiment.topology.services for op in service.operations if op.service_time]
    out = experiment
    for label, dist, path in places:
        offset = offsets_ms.get(label)
        if not offset:
            continue
        o = offset / 1000.0
        if isinstance(dist, Constant):
            text = f"{{dist: constant, value: {max(0.0, dist.value + o)!r}}}"
        else:
            fit = lognormal_for(max(1e-6, dist.mean + o), max(1e-6, dist.quantile(0.99) + o))
            if fit is None:
                continue
            text = f"{{dist: lognormal, median: {fit[0]!r}, p99: {fit[1]!r}}}"
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        assert node is not None  # the text is a non-empty mapping
        value = RawValue(node, Context("calibration", _Path.cwd()))
        out = set_path(out, path, value)
    return out


def at_step(experiment: Any, step: int | None) -> Any:
    """The experiment scraping every ``step`` seconds in a simulation (a live run's Prometheus step), where it
    writes no ``metrics: scrape_interval`` of its own: so that compare's simulation evaluates the rule files on
    samples as far apart as the live run's. One it writes is kept (a live run on a generated stack scraped at it)."""
    from pathlib import Path as _Path

    import yaml

    from chaos.model.overrides import set_path
    from chaos.model.parsing import Context, RawValue

    if step is None or experiment.metrics.scrape_interval is not None or step == experiment.metrics.scrape_interval_s:
        return experiment
    node = yaml.compose(f"{step}s", Loader=yaml.SafeLoader)
    assert node is not None  # a scalar
    return set_path(experiment, ["metrics", "scrape_interval"], RawValue(node, Context("live resolution", _Path.cwd())))


def topology_yaml(run_dir: Path, fits: dict[str, Fit]) -> str:
    """The run's topology file with every fitted service_time replaced, as YAML text."""
    import yaml

    live = read_live(run_dir)
    source = live.get("topology_file") or ""
    experiment_file = live.get("experiment_file") or ""
    if source and Path(source).is_file() and Path(source).resolve() != Path(experiment_file).resolve():
        data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    elif experiment_file and Path(experiment_file).is_file():
        data = (yaml.safe_load(Path(experiment_file).read_text(encoding="utf-8")) or {}).get("topology")
        source = experiment_file
    else:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise InputError(f"cannot find the topology the run in {run_dir} used (looked for {source or 'nothing'})",
                         hint="calibrate on the machine and checkout the run was made from")
    for name, fit in fits.items():
        service = data["services"].get(name)
        if not isinstance(service, dict):
            continue
        st = fit.service_time()
        if st is not None:
            service["service_time"] = st
        declared = service.get("operations")
        for op in fit.operations:
            st = op.service_time()
            if st is not None and isinstance(declared, dict) and op.operation in declared:
                declared[op.operation] = {**(declared[op.operation] or {}), "service_time": st}
    header = [f"# Calibrated by chaoslab calibrate from the live run in {run_dir} (topology {source}).",
              "# Each service_time: lognormal fitted to the emulators' own work time (median, p99) over the",
              "# measured seconds outside fault windows, plus the per-hop overhead its callers saw; an operation's",
              "# to its own requests, its service's to all of them:"]
    header += [f"#   {f.describe()}" for fit in fits.values() for f in (fit, *fit.operations)]
    return "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
