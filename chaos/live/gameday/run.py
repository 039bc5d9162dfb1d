"""A game day: an experiment run for real against a live stack, producing the same Result as a simulation.

    handle = open_stack(...)                     # generated, the user's own, or a running one
    runner = FaultRunner(...); runner.start()    # preflight every fault, journal, signal handlers
    load = LoadGenerator(plan); t0 = load.wait_started()
    clock.begin(t0); scraper.start()             # second 0 of everything is the load's second 0
    loop: faults due -> timers due -> operator -> scrapes and load records -> close complete seconds
          (Series, alerts and playbook via the Responder, abort conditions)
    finally: stop the load, stop scraping, runner.stop() (every fault and playbook change undone)
    Run(engine="live") -> analyze -> Result       # the simulator's analysis, unchanged

The wall clock lives here, in the loop; measurement (``measure``), alerts and analysis
are the pure functions the simulator uses. A second is closed once scrape k+1 and the
load's record of second k are in, or a few seconds later without them (counted as gaps).
"""

from __future__ import annotations

import heapq
import json
import math
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from chaos.analysis import windows
from chaos.document import EntryLoad, LiveSection, LoadNote, RequestKindLoad, Stopped
from chaos.errors import ChaosError, InputError, LiveError, RevertError
from chaos.incident_states import MarkerKind
from chaos.live.faults.actions import Action, DriverKind, Handle
from chaos.live.faults.drivers.base import InjectContext
from chaos.live.faults.runner import DEFAULT_ABORT, AbortRule, FaultRunner, Phase
from chaos.live.gameday import prometheus as prom
from chaos.live.gameday.actions import LiveStack, check_playbook, perform
from chaos.live.gameday.clock import RunClock, Scheduler
from chaos.live.gameday.executor import LiveExecutor, Operator, attach
from chaos.live.gameday.measure import Assembler, EntryRef, LoadSecond, ReplicaRef
from chaos.live.gameday.prometheus_alerts import (
    FiringFeed,
    LoadedAlert,
    check_loaded,
    read_firing,
    wanted_alerts,
)
from chaos.live.gameday.scrape import Scrape, Scraper, Target, TargetKind
from chaos.live.gameday.stacks import StackHandle
from chaos.live.load.plan import LoadPlan, RequestPlan, origin
from chaos.live.stack.compose import LeftoverNetwork
from chaos.live.stack.scrape_choice import simulation_mismatch, team_step
from chaos.live.stack.state import StackState
from chaos.live_states import RunMode
from chaos.measurement import Source
from chaos.metrics.mapping import MetricMapping
from chaos.model.experiment import Experiment
from chaos.model.live_limits import live_problems, refuse
from chaos.model.parsing import where_of
from chaos.model.playbook import Playbook
from chaos.model.scope import Scope, ScopeKind
from chaos.model.topology import Service
from chaos.report.requests import status_words
from chaos.result import Result
from chaos.run import Engine, EvaluatedAlerts, Marker, Run

POLL_S = 0.1          # the loop wakes at least this often (operator input, faults due)
GRACE_S = 3.0         # a second is closed this long after its end even if some data never came
PROGRESS_EVERY_S = 5
# A run whose requests mostly come back as client errors (a 404, a 401: the requests do not fit
# the stack) measures nothing: over this many seconds, with at least CLIENT_MIN finished, more
# than CLIENT_SHARE of them client errors stops it.
CLIENT_WINDOW_S = 3
CLIENT_MIN = 10
CLIENT_SHARE = 0.5


class ClientErrors(LiveError):
    """The load's requests mostly failed with client errors: the run stopped, measuring nothing useful."""


@dataclass(frozen=True)
class RunOptions:
    out: Path
    stack_dir: Path | None = None
    keep_stack: bool = False
    load_workers: int = 0
    mode: RunMode = RunMode.UNATTENDED
    allow_remote: bool = False
    abort: tuple[AbortRule, ...] = DEFAULT_ABORT
    automated: frozenset[str] = frozenset()
    seed: int | None = None
    source: str = ""                        # the experiment's file, for the stack's header
    force: bool = False                      # start even if the preflight finds the stack not clean
    traces: bool = False                     # emulators write OTLP JSON spans; copied to OUT/traces at the end
    scrape_interval: int | None = None       # the generated stack's Prometheus scrapes this often (None: as it does)
    stdin: TextIO | None = None              # the operator's input on a game day (default: sys.stdin)
    prompt_out: TextIO | None = None         # where prompts go (default: sys.stdout)


@dataclass
class GameDayResult:
    """The run's Result, what the live side adds to it, and an error to raise once it is written."""

    result: Result
    calibration: dict[str, Any]
    error: BaseException | None = None
    notes: list[str] = field(default_factory=list)


class SpikeDriver:
    """Load spikes live in the load generator's plan (``plan_experiment`` folds them into the rates);
    the runner still journals them, so their windows are recorded. Nothing to do or undo here."""

    kind = DriverKind.LOAD

    def preflight(self, action: Action) -> None:
        """Nothing to check: the plan already has the spike."""

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        handle = action.handle()
        ctx.record(handle)
        return handle

    def revert(self, handle: Handle) -> None:
        """The plan ends the spike at its time."""

    def undo_hint(self, handle: Handle) -> list[str]:
        return ["nothing: the load generator's plan ends the spike, and it stops with the run"]


def validate(experiment: Experiment, playbook: Playbook | None, state: StackState) -> None:
    """Everything that cannot be done on this stack, as one InputError, before anything runs: what of the
    topology, its operations and what is scoped to them the stack cannot run (``chaos.model.live_limits``),
    every fault no route can do, every playbook step it cannot carry out."""
    from chaos.live.faults.drivers.routes import check_live

    problems = live_problems(experiment, "a game day", playbook)
    problems += check_live(experiment, state, with_load=True)
    if playbook is not None:
        problems += check_playbook(playbook, experiment, state)
    refuse(problems)


def load_urls(experiment: Experiment, state: StackState) -> dict[str, tuple[str, ...]]:
    """The base URLs the load generator balances each entrypoint's attempts over: one per replica of its
    target, as the stack state lists them (through their ``client--<target>-N`` proxies on a generated stack,
    whose emulators serve ``/work`` or an operation's path: the load plan appends it again)."""
    if experiment.live is not None:  # a user's stack: its URLs as written, the request kinds' paths appended
        return {entry.name: tuple(state.entrypoints[entry.name].urls) for entry in experiment.topology.entrypoints}
    return {entry.name: tuple(origin(url) for url in state.entrypoints[entry.name].urls)
            for entry in experiment.topology.entrypoints}


class GameDay:
    """One live run of one experiment (and playbook) on one stack."""

    def __init__(self, experiment: Experiment, playbook: Playbook | None, handle: StackHandle,
                 options: RunOptions, bounds: tuple[float, ...], say: Callable[[str], None] = print,
                 loaded_alerts: tuple[LoadedAlert, ...] = ()) -> None:
        self.experiment = experiment
        self.playbook = playbook
        self.handle = handle
        self.state = handle.state
        self.options = options
        self.bounds = bounds
        self.say = say
        self.seed = experiment.seed if options.seed is None else options.seed
        self.seconds = math.ceil(experiment.duration - 1e-9)
        self.clock = RunClock()
        self.scheduler = Scheduler()
        self.run_id = uuid.uuid4().hex[:8]
        self.notes: list[str] = []
        self.markers: list[Marker] = []
        self.prometheus = read_plan(experiment, handle.state, load_scraped(handle.state, options))
        self.assembler = self._assembler()
        self.scrapes: dict[int, Scrape] = {}
        self.health: dict[str, bool] = {}
        self.closed = 0
        self.baselined = False
        self.stopped = Stopped.COMPLETED
        # Per entrypoint and closed second: finished entry requests, client errors, and their statuses.
        self.client: dict[str, list[tuple[int, int, dict[str, int]]]] = {
            e.name: [] for e in experiment.topology.entrypoints}
        self.responder: Any = None
        self.executor: LiveExecutor | None = None
        self.operator: Operator | None = None
        self.plan: LoadPlan | None = None  # the load's plan, once made
        self.t0_unix: float | None = None  # the load's second 0 on the wall clock (Prometheus's time axis)
        self.ended_monotonic = 0.0  # when the run stopped measuring (time.monotonic()), before the load is stopped
        self.resolution_s: int | None = None  # the step the stack's Prometheus was read at
        self.loaded_alerts = loaded_alerts  # the experiment's alerts as its Prometheus holds them (preflight)
        self.evaluated_alerts: EvaluatedAlerts | None = None  # their firing, read back from it after the run

    # ------------------------------------------------------------------ set-up

    def _assembler(self) -> Assembler:
        topo = self.experiment.topology
        callers = {s.name: [c.name for c in topo.services if any(x.to == s.name for x in c.all_calls)]
                   for s in topo.services}
        replicas = [ReplicaRef(r.container, r.service) for r in self.state.replicas if r.metrics_url]
        entries = [EntryRef(e.name, e.to) for e in topo.entrypoints]
        measured = self.prometheus.measured if self.prometheus is not None else ()
        operations = {s.name: [o.name for o in s.operations] for s in topo.services}
        return Assembler([s.name for s in topo.services], callers, replicas, entries, self.bounds,
                         math.ceil(self.experiment.warmup - 1e-9), prometheus=measured, operations=operations,
                         prometheus_operations=self.prometheus.operations if self.prometheus is not None else (),
                         prometheus_entrypoints=() if self.prometheus is None
                         else self.prometheus.measured_entrypoints,
                         replica_operations=self.experiment.live is None)

    def _targets(self) -> list[Target]:
        out = []
        for r in self.state.replicas:
            if r.metrics_url:
                out.append(Target(r.container, r.metrics_url, TargetKind.METRICS))
            elif r.health_url:
                out.append(Target(f"{r.container}#health", r.health_url, TargetKind.HEALTH))
        return out

    def _drivers(self) -> dict[DriverKind, Any]:
        from chaos.live.faults.runner import default_drivers

        drivers: dict[DriverKind, Any] = dict(default_drivers(self.state, self.run_id,
                                                              allow_remote=self.options.allow_remote))
        drivers[DriverKind.LOAD] = SpikeDriver()
        return drivers

    # ------------------------------------------------------------------ the run

    def run(self) -> GameDayResult:
        from chaos.live.load import LoadGenerator, plan_experiment

        out = self.options.out
        out.mkdir(parents=True, exist_ok=True)
        runner = FaultRunner(self.experiment, self.state, out, drivers=self._drivers(), clock=self.clock,
                             abort=self.options.abort, with_load=True, run_id=self.run_id,
                             on_event=lambda t, text: self.say(f"{t:8.2f}s  {text}"))
        self.runner = runner
        served = {}
        if load_scraped(self.state, self.options):  # the stack's Prometheus scrapes the load (chaos.live.load.metrics)
            # served a scrape longer after the end, so that the last counts are in Prometheus
            served = {"metrics_listen": self.state.load_metrics,
                      "metrics_linger_s": self.state.scrape_interval_s + 1.0}
        plan = self.plan = plan_experiment(self.experiment, load_urls(self.experiment, self.state), seed=self.seed,
                                           **served)
        self.live = LiveStack(runner, self.state, self.experiment, self.handle.spec, redirect=self.assembler.redirect)
        error: BaseException | None = None
        runner.start()
        self.say(f"fault journal: {out}/faults.jsonl (after a crash: chaoslab recover {out})")
        if self.prometheus is not None and self.experiment.live is None:  # the generated stack's own scrape
            for finding in scrape_findings(self.experiment, self.state.scrape_interval_s):
                self.say(f"warning: {finding}")
                self.notes.append(finding)
        blind = [scope.name for scope, source in self.assembler.sources().items() if not source.measured]
        if blind:  # said before any fault, so nobody waits for a cascade that cannot be seen
            words = (f"unmeasured: {', '.join(blind)} (no metrics of their own or of their callers): "
                     f"shown as unmeasured, never as healthy")
            self.say(words)
            self.notes.append(words)
        load = None
        scraper = None
        try:
            load = LoadGenerator(plan, out / "load", workers=self.options.load_workers)
            load.start()
            start = load.wait_started()
            self.clock.begin(start.t0_monotonic)
            self.t0_unix = time.time() - (time.monotonic() - start.t0_monotonic)
            scraper = Scraper(self._targets(), start.t0_monotonic, self.seconds + 1)
            scraper.start()
            self.responder = self._responder()
            self.say(f"{0.0:8.2f}s  load started: {load_words(plan)} over "
                     f"{self.seconds}s ({self.options.mode.value.replace('_', ' ')})")
            self._loop(load, scraper)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (the runner raises it in this thread)
            error, self.stopped = exc, Stopped.INTERRUPTED
            self.say(f"{self.clock.now():8.2f}s  interrupted: stopping the load, reverting every fault ...")
        except ClientErrors as exc:
            error, self.stopped = exc, Stopped.CLIENT_ERRORS
            self.say(f"{self.clock.now():8.2f}s  stopped: {exc}")
        except ChaosError as exc:
            error, self.stopped = exc, Stopped.FAILED
        finally:
            self.ended_monotonic = time.monotonic()
            summary = None
            if load is not None:
                summary = load.stop()
            if scraper is not None:
                scraper.stop()
            try:
                runner.stop()
            except RevertError as exc:
                error = exc
            except KeyboardInterrupt as exc:  # a signal that arrived while reverting
                error = error or exc
        if error is not None and self.assembler.seconds == 0:
            raise error  # nothing was measured: there is no result to write, only the error
        if self.t0_unix is not None and (self.assembler.prometheus or self.assembler.prometheus_operations
                                         or self.assembler.prometheus_entrypoints):
            try:
                self._read_prometheus()
            except ChaosError as exc:  # not read: those services are what the run itself measured, or unmeasured
                self.notes.append(f"not read from Prometheus: {exc.message}")
                self.assembler.prometheus = frozenset()
                self.assembler.prometheus_operations = frozenset()
                self.assembler.prometheus_entrypoints = frozenset()
                error = error or exc
        if runner.abort_reason is not None:
            self.stopped = Stopped.ABORTED
        if summary is not None and summary.behind:
            self.notes.append("the load generator fell behind its target rate (late or dropped arrivals): "
                              "the stack was offered less load than planned")
        if scraper is not None and (scraper.skipped or self.assembler.gaps):
            self.notes.append(f"{self.assembler.gaps} replica-second(s) without metrics, "
                              f"{scraper.skipped} scrape(s) skipped")
        result = self._result(summary)
        return GameDayResult(result, self._calibration(), error, self.notes)

    def _read_prometheus(self) -> None:
        """Replace the series of the services the stack's Prometheus measures by what it holds, per step.

        Read once the run is over (its last step scraped): during the run those services' series are
        zeros, so an abort condition or a responder watching them sees nothing until then.
        """
        plan = self.prometheus
        assert plan is not None and self.t0_unix is not None
        server = prom.Prometheus(plan.url)
        step = resolution(plan, server)
        rules = wanted_alerts(self.experiment) if self.loaded_alerts else ()
        # the last step's closing scrape and Prometheus's ingestion of it; with rules, also the evaluation
        # that reads that scrape. Counted from the end of the measured run, not from now: stopping the load
        # (its linger of a scrape interval and more), the scraper and the faults took part of that time already.
        evaluation = max((a.interval_s for a in self.loaded_alerts), default=0.0)
        ready = self.ended_monotonic + step + 1.0 + (evaluation if rules else 0.0)
        time.sleep(max(0.0, ready - time.monotonic()))
        # Prometheus counts a failover's calls at the callee they were written for; the run's own scrapes
        # count them where they went (Assembler.redirect): those services keep the direct measurement.
        moved = {s for pair, reached in self.assembler.routes.items() for s in (pair[1], reached)}
        reads = tuple(r for r in plan.reads
                      if r.kind is ScopeKind.ENTRYPOINT or r.operation is not None or r.service not in moved)
        if moved & set(plan.measured):
            kept = sorted(moved & set(plan.measured))
            self.assembler.prometheus = frozenset(r.service for r in reads
                                                  if r.kind is ScopeKind.SERVICE and r.operation is None)
            self.notes.append(f"measured by the run's own scrapes, not Prometheus (a failover moved their calls): "
                              f"{', '.join(kept)}")
        seconds = self.assembler.seconds
        for scope, counts in prom.read(server, reads, self.t0_unix, seconds, step, self.bounds).items():
            self.assembler.measured_by_prometheus(scope, counts)
        self.resolution_s = step
        mismatch = simulation_mismatch(self.experiment, step)
        if mismatch is not None:
            self.say(f"note: {mismatch}")
            self.notes.append(mismatch)
        entries = [r.service for r in reads if r.kind is ScopeKind.ENTRYPOINT]
        names = ", ".join(r.name for r in reads if r.kind is ScopeKind.SERVICE) + (
            f" and entrypoint(s) {', '.join(entries)}" if entries else "")
        self.say(f"prometheus: read {names} from {server.url} at a {step}s step")
        if rules:
            try:
                self.evaluated_alerts = read_firing(server, self.loaded_alerts, self.t0_unix, float(seconds))
            except prom.PrometheusUnusable as exc:
                raise LiveError(f"Prometheus at {server.url} gave no ALERTS samples after the run: {exc}",
                                hint="query ALERTS in its /graph page; the alerts' firing times are unknown") from None
            fired = sum(1 for s in self.evaluated_alerts.samples if s.at_s)
            self.say(f"prometheus: read the firing of {len(rules)} alert rule(s) back from {server.url} "
                     f"({fired} instance(s) fired)")

    def _responder(self) -> Any:
        if self.playbook is None:
            return None
        from chaos.analysis.prometheus_rules import rule_alerts
        from chaos.core.streams import stream
        from chaos.responder import Responder

        operator = None
        if self.options.mode is RunMode.GAME_DAY:
            operator = Operator(self.options.stdin or sys.stdin, self.options.prompt_out or sys.stdout, self.clock)
        self.operator = operator
        executor = LiveExecutor(self.clock, self.scheduler, lambda: self.assembler.series, self.bounds,
                                lambda step, action: perform(self.live, step, action), operator=operator,
                                automated=self.options.automated, incident_start=self._incident_start,
                                say=self.say)
        # The same random stream as the simulator's responder, so an unattended game day samples the
        # same human delays as the simulation of the same experiment and seed.
        # An alert on an unmeasured service would watch zeros nobody counted: it is not evaluated (the
        # analysis does the same, and judges its expectation unmeasured).
        sources = self.assembler.sources()
        rules = tuple(r for r in self.experiment.alert_rules if sources.get(r.scope, Source.UNRECORDED).measured)
        # Where the stack's Prometheus evaluates the rule files, it says when they fire (its answer, each
        # second); chaoslab's evaluation would watch series that are read from it only after the run.
        files = (FiringFeed(self.prometheus.url, self.loaded_alerts)
                 if self.loaded_alerts and self.prometheus is not None
                 else rule_alerts(self.experiment, self.bounds))
        responder = Responder(executor, self.playbook, rules, stream(self.seed, "playbook", self.playbook.name), files)
        attach(executor, responder)
        self.executor = executor
        return responder

    def _incident_start(self) -> float | None:
        starts = [w.start_s for w in self.runner.windows]
        return min(starts) if starts else None

    def _loop(self, load: Any, scraper: Scraper) -> None:
        operator = self.operator
        while self.closed < self.seconds:
            self.runner.tick()
            if self.runner.phase is Phase.STOPPED:
                return  # aborted (faults reverted by the runner)
            now = self.clock.now()
            self.scheduler.run_due(now)
            if operator is not None:
                operator.poll()
            for scrape in scraper.take():
                self.scrapes[scrape.index] = scrape
            self._close_ready(load, now)
            if self.runner.phase is Phase.STOPPED:
                return
            self._sleep()

    def _sleep(self) -> None:
        now = self.clock.now()
        wake = now + POLL_S
        for due in (self.scheduler.next_due(), self.runner.next_due()):
            if due is not None:
                wake = min(wake, due)
        self.clock.sleep_until(max(now, wake))

    def _close_ready(self, load: Any, now: float) -> None:
        if not self.baselined:
            first = self.scrapes.pop(0, None)
            if first is None and now < GRACE_S:
                return
            self.assembler.baseline(first.values if first is not None else {})
            self.baselined = True
        while self.closed < self.seconds:
            k = self.closed
            late = now > k + 1 + GRACE_S + (2.0 if self.options.load_workers else 0.0)
            records = {e.name: load.record(e.name, k) for e in self.experiment.topology.entrypoints}
            if not late and ((k + 1) not in self.scrapes or any(r is None for r in records.values())):
                return
            scrape = self.scrapes.pop(k + 1, None)
            self._close(k, {} if scrape is None else scrape.values, records)
            if self.runner.phase is Phase.STOPPED:
                return

    def _close(self, k: int, values: dict[str, Any], records: dict[str, Any]) -> None:
        self.assembler.add_second(values, {name: None if r is None else _load_second(r)
                                           for name, r in records.items()})
        self._health(k, values)
        self.closed = k + 1
        for name, r in records.items():
            finished = 0 if r is None else r.ok + r.failed + r.client_errors
            self.client[name].append((finished, 0 if r is None else r.client_errors,
                                      {} if r is None else dict(r.client_statuses)))
        self._check_client_errors(k)
        if self.responder is not None:
            self.responder.on_second(k)
        self.runner.observe(float(k + 1), self.assembler.figures(k))
        if (k + 1) % PROGRESS_EVERY_S == 0:
            self.say(f"{k + 1:8.2f}s  {self._progress(k)}")

    def _health(self, k: int, values: dict[str, Any]) -> None:
        """A user's stack: replicas whose health URL stopped (or started again) answering, as markers."""
        for name, up in values.items():
            if not name.endswith("#health") or not isinstance(up, bool):
                continue
            container = name[: -len("#health")]
            if self.health.get(container, True) != up:
                self.markers.append(Marker(float(k + 1), MarkerKind.HEALTHY if up else MarkerKind.UNHEALTHY, container))
            self.health[container] = up

    def _client_window(self, name: str, seconds: int) -> tuple[int, int, dict[str, int]]:
        """Finished requests, client errors and their statuses over the last ``seconds`` closed seconds."""
        finished = errors = 0
        statuses: dict[str, int] = {}
        for done, bad, by in self.client[name][-seconds:]:
            finished += done
            errors += bad
            for status, n in by.items():
                statuses[status] = statuses.get(status, 0) + n
        return finished, errors, statuses

    def _check_client_errors(self, k: int) -> None:
        for name in self.client:
            finished, errors, statuses = self._client_window(name, CLIENT_WINDOW_S)
            if finished < CLIENT_MIN or errors <= CLIENT_SHARE * finished:
                continue
            faults = ("before any fault was applied" if not self.runner.windows
                      else "every fault it applied is reverted")
            raise ClientErrors(
                f"entrypoint {name}: {errors} of the {finished} requests that finished in seconds "
                f"{max(0, k + 1 - CLIENT_WINDOW_S)}-{k + 1} were client errors ({status_words(statuses)}), "
                f"so the run measures nothing; it stopped {faults}",
                hint="the requests do not fit this stack: check the entrypoint's URL and its requests (path, "
                     "method, headers, body, success codes) in the experiment's live: section")

    def _progress(self, k: int) -> str:
        parts = []
        for entry in self.experiment.topology.entrypoints:
            s = self.assembler.series[Scope.entrypoint(entry.name)]
            lo = max(0, k + 1 - PROGRESS_EVERY_S)
            req = sum(s.requests[lo:k + 1])
            ratio = windows.error_ratio(s, lo, k + 1)
            p99 = s.p99_ms[k]
            _, errors, statuses = self._client_window(entry.name, PROGRESS_EVERY_S)
            client = f", {errors} client error(s) ({status_words(statuses)})" if errors else ""
            parts.append(f"{entry.name}: {req / PROGRESS_EVERY_S:.0f} req/s, {ratio or 0:.1%} "
                         f"failed, p99 {'-' if p99 is None else f'{p99:.0f} ms'}{client}")
        return "; ".join(parts)

    # ------------------------------------------------------------------ the record

    def _latency_unmeasured(self) -> frozenset[Scope]:
        """The services read through Prometheus with no latency histogram (HAProxy's exporter has averages only)."""
        if self.prometheus is None:
            return frozenset()
        read = self.assembler.prometheus
        return frozenset(Scope.service(r.service) for r in self.prometheus.reads
                         if r.latency is None and r.service in read)

    def _result(self, summary: Any) -> Result:
        from chaos.analysis import analyze

        seconds = self.assembler.seconds
        completed = seconds >= self.seconds
        steps = [] if self.executor is None else self.executor.markers
        markers = sorted(self.runner.markers + self.markers + steps, key=lambda m: m.t_s)
        run = Run(engine=Engine.LIVE, experiment=self.experiment, seed=self.seed,
                  duration_s=self.experiment.duration if completed else float(seconds),
                  warmup_s=self.experiment.warmup, bounds=self.bounds, series=self.assembler.series,
                  totals=self.assembler.totals(), faults=self.runner.windows, markers=markers,
                  incident=None if self.responder is None else self.responder.record,
                  meta={"stack": self.state.name}, sources=self.assembler.sources(),
                  evaluated_alerts=self.evaluated_alerts, latency_unmeasured=self._latency_unmeasured())
        analysis = analyze(run)
        analysis.notes.extend(self.notes)
        result = Result(run, analysis, live=self._live_section(summary))
        if self.playbook is not None:
            from chaos.analysis.incident import analyze_incident, incident_section

            result.playbook = incident_section(self.playbook, run,
                                               analyze_incident(self.playbook, run, analysis.blast.services))
            if not result.playbook.deadlines_met:
                result.gate_failed = True
        if self.stopped is not Stopped.COMPLETED:
            result.gate_failed = True  # an interrupted or aborted run is no pass
        return result

    def _live_section(self, summary: Any) -> LiveSection:
        load = None if summary is None else LoadNote(reason=summary.reason, behind=summary.behind,
                                                     warnings=tuple(summary.warnings),
                                                     entrypoints=self._load_entrypoints(summary))
        return LiveSection(stack=self.state.name, stack_kind=self.state.kind, run_id=self.run_id,
                           mode=self.options.mode, stopped=self.stopped, abort_reason=self.runner.abort_reason,
                           seconds_measured=self.assembler.seconds, load_workers=self.options.load_workers,
                           load=load, metric_gaps=self.assembler.gaps, notes=tuple(self.notes),
                           resolution_s=self.resolution_s)

    def _load_entrypoints(self, summary: Any) -> dict[str, EntryLoad]:
        """Per entrypoint: the client errors by status, and each request kind's share and outcomes."""
        out: dict[str, EntryLoad] = {}
        for entry in () if self.plan is None else self.plan.entrypoints:
            totals = summary.totals.get(entry.name)
            kinds = summary.kinds.get(entry.name, {})
            weight = sum(r.weight for r in entry.requests)
            out[entry.name] = EntryLoad(
                requests=0 if totals is None else totals.requests,
                client_errors=0 if totals is None else totals.client_errors,
                client_statuses={} if totals is None else dict(sorted(totals.client_statuses.items())),
                kinds=tuple(_kind_load(r, r.weight / weight, kinds.get(r.name)) for r in entry.requests))
        return out

    def _calibration(self) -> dict[str, Any]:
        """What ``chaoslab calibrate`` needs and result.json does not hold: per-second own-time and
        server-latency histograms of every service, and where the topology came from."""
        from chaos.live.stack.stackspec_build import service_time

        topo = self.experiment.topology
        source = where_of(self.experiment.baseline).location.file
        return {
            "version": 1, "bounds_s": list(self.bounds), "warmup_s": self.experiment.warmup,
            "experiment_file": self.options.source, "topology_file": source,
            "faults": [{"label": w.label, "start_s": w.start_s, "end_s": w.end_s} for w in self.runner.windows],
            "services": {s.name: {"declared": service_time(s.service_time).to_json(),
                                  "own": [_wire(h) for h in self.assembler.own[s.name]],
                                  "server": [_wire(h) for h in self.assembler.server[s.name]],
                                  **self._operations_calibration(s)}
                         for s in topo.services},
        }

    def _operations_calibration(self, service: Service) -> dict[str, Any]:
        """Each declared operation's own-time histograms per second, and its declared service time, so that
        calibration fits every operation's own time (nothing for a service without operations)."""
        from chaos.live.stack.stackspec_build import service_time

        if not service.operations:
            return {}
        return {"operations": {op.name: {"declared": service_time(op.service_time or service.service_time).to_json(),
                                         "own": [_wire(h) for h in self.assembler.op_own.get((service.name, op.name),
                                                                                            [])]}
                               for op in service.ops}}


def load_words(plan: LoadPlan) -> str:
    """What the load is: so many planned arrivals (open loop), or so many users (closed loop)."""
    if plan.users is None:
        return f"{plan.expected():.0f} entry requests planned, open loop,"
    think = plan.users.think.to_json()
    what = ", ".join(f"{k} {v:g}s" for k, v in think.items() if k != "dist")
    return f"{plan.users.users} users in a closed loop (think time {think['dist']}, {what}; each waits for its answer)"


def _kind_load(request: RequestPlan, planned_share: float, counts: Any) -> RequestKindLoad:
    return RequestKindLoad(
        name=request.name, method=request.method, target=request.target, success=tuple(request.success),
        weight=request.weight, planned_share=planned_share, requests=0 if counts is None else counts.requests,
        ok=0 if counts is None else counts.ok, failed=0 if counts is None else counts.failed,
        client_errors=0 if counts is None else counts.client_errors,
        client_statuses={} if counts is None else dict(sorted(counts.client_statuses.items())))


def _wire(hist: dict[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(hist.items())}


def _load_second(rec: Any) -> LoadSecond:
    return LoadSecond(rec.requests, rec.attempts, rec.retries, rec.ok, dict(rec.errors), dict(rec.hist),
                      rec.attempt_ok, dict(rec.attempt_errors), dict(rec.attempt_hist))


def run_game_day(experiment: Experiment, playbook: Playbook | None, options: RunOptions,
                 say: Callable[[str], None] = print) -> GameDayResult:
    """Check, bring the stack up (or find it), run, take it down unless asked to keep it."""
    from chaos.live.gameday.stacks import open_stack, planned_state, user_state
    from chaos.live.stack.emulator_stack import COMPOSE_FILE
    from chaos.live.stack.state import STATE_FILE, read_state
    from chaos.run import experiment_bounds

    bounds = experiment_bounds(experiment)
    if experiment.live is not None:
        check_state = user_state(experiment, allow_remote=options.allow_remote, resolve=False)
    elif options.stack_dir is not None and (options.stack_dir / STATE_FILE).is_file():
        check_state = read_state(options.stack_dir)
    else:
        check_state = planned_state(experiment, options.out / "stack")
    validate(experiment, playbook, check_state)
    handle = open_stack(experiment, bounds, out=options.out, stack_dir=options.stack_dir,
                        allow_remote=options.allow_remote, source=options.source, say=say, traces=options.traces,
                        scrape_interval=options.scrape_interval)
    outcome: GameDayResult | None = None
    try:
        moved = _free_load_metrics(handle, options, say)
        loaded = _preflight(experiment, handle, options, say)
        game = GameDay(experiment, playbook, handle, options, bounds, say, loaded)
        game.notes.extend(moved)
        outcome = game.run()
        return outcome
    finally:
        if handle.owned and not options.keep_stack:
            try:
                handle.down()
                say("stack: taken down")
            except LeftoverNetwork as exc:
                say(f"stack: taken down; warning: {exc}")
            except ChaosError as exc:
                if outcome is None or outcome.error is not None:
                    say(f"stack: could not be taken down: {exc}")  # the run's own error matters more
                else:
                    outcome.error = exc
        elif handle.owned and handle.directory is not None:
            say(f"stack: kept in {handle.directory} ({handle.directory / COMPOSE_FILE}); take it down with: "
                f"chaoslab stack down --dir {handle.directory}")
        if options.traces and handle.directory is not None:
            say(collect_traces(handle.directory, options.out))


def _free_load_metrics(handle: StackHandle, options: RunOptions, say: Callable[[str], None]) -> list[str]:
    """Before the preflight and the load: the load's metrics port, chosen at stack up, free now (a kept stack's may
    have been taken since, and Locust would not start); else another one, and the stack's Prometheus told."""
    if not load_scraped(handle.state, options):
        return []
    from chaos.live.gameday.rescrape import free_load_metrics

    handle.state, done = free_load_metrics(handle.state, allow_remote=options.allow_remote)
    if done is None:
        return []
    say(f"stack: {done}")
    return [done]


def collect_traces(stack_dir: Path, out: Path) -> str:
    """Merge the emulators' span files into ``OUT/traces/spans.jsonl``, in time order (after the stack stopped,
    so their last spans are in).

    Each replica appends a line of spans a second to its own file; a trace's spans are spread over the files
    of the replicas it passed. A reader that holds traces open for a window of time (``from-traces``) needs
    them near one another, so the lines of all files are merged by their first span's start, streaming.
    """
    from chaos.live.stack.emulator_stack import TRACES_DIR

    files = sorted((stack_dir / TRACES_DIR).glob("*.jsonl"))
    target = out / TRACES_DIR / "spans.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    handles = [path.open(encoding="utf-8") for path in files]
    try:
        with target.open("w", encoding="utf-8") as merged:
            for _, line in heapq.merge(*(((_first_start(line), line) for line in h) for h in handles),
                                       key=lambda pair: pair[0]):
                merged.write(line if line.endswith("\n") else line + "\n")
    finally:
        for h in handles:
            h.close()
    return (f"traces: the spans of {len(files)} replica(s), as OTLP JSON lines, in {target} (read them with: "
            f"chaoslab topology from-traces {target})")


def _first_start(line: str) -> int:
    """The earliest span start of one OTLP JSON line the emulator wrote (0 for a line that holds none)."""
    starts = [int(span["startTimeUnixNano"]) for rs in json.loads(line)["resourceSpans"]
              for ss in rs["scopeSpans"] for span in ss["spans"]]
    return min(starts, default=0)


def _preflight(experiment: Experiment, handle: StackHandle, options: RunOptions,
               say: Callable[[str], None]) -> tuple[LoadedAlert, ...]:
    """Refuse to start on a stack that is unhealthy or still holds what chaoslab left on it (unless forced).

    Returns the experiment's alert rules as the stack's Prometheus holds them (none without one)."""
    from chaos.live.faults.preflight import preflight, require_clean, stack_status_command
    from chaos.live.load.plan import probe_urls

    # a team's Prometheus is read before its stack is looked up
    scraped = experiment.live is None and load_scraped(handle.state, options)
    plan = read_plan(experiment, handle.state if experiment.live is None else None, scraped)
    loaded: tuple[LoadedAlert, ...] = ()
    if plan is not None:  # a source that answers nothing is no silent gap
        server = prom.Prometheus(plan.url)
        _check_prometheus(server, plan)
        say(f"preflight: Prometheus at {server.url} holds series for "
            f"{', '.join(r.name for r in plan.reads if r.kind is ScopeKind.SERVICE)} "
            f"(read at a {resolution(plan, server)}s step)"
            + (f"; it scrapes the load generator at {handle.state.load_metrics} for the entrypoints"
               if plan.measured_entrypoints else ""))
        # A team's Prometheus, not chaoslab, evaluates the rules: they must be there. So does a generated
        # stack's, where it stores the emulators' series under the experiment's metric names; where it cannot,
        # chaoslab evaluates them on what it measured (docs/live.md, "The generated stack's Prometheus").
        gap = None if experiment.live is not None else _generated_gap(experiment, handle.state, scraped)
        if wanted_alerts(experiment) and gap is None:
            loaded = check_loaded(server, experiment)
            say(f"preflight: Prometheus at {server.url} evaluates the experiment's {len(loaded)} alert rule(s) "
                f"({', '.join(a.name for a in loaded)}): their firing is read back from it")
        elif wanted_alerts(experiment):
            say(f"preflight: chaoslab evaluates the experiment's alert rules itself: {gap}")
    # What the load will request of each entrypoint; a stack this run brought up has no earlier run's faults.
    entries = probe_urls(experiment, load_urls(experiment, handle.state))
    found = preflight(handle.state, run_dirs=(options.out,), allow_remote=options.allow_remote,
                      journals=not handle.owned, entry_urls=entries)
    if found.clean:
        say("preflight: every replica healthy, every entrypoint answering, nothing left applied")
        return loaded
    if not options.force:
        require_clean(found, status_command=stack_status_command(handle.state, options.source or None))
    say(f"preflight: starting anyway (--force) on a stack that is not clean: {'; '.join(found.lines())}")
    return loaded


def _generated_gap(experiment: Experiment, state: StackState, scraped: bool) -> str | None:
    """Why a generated stack's Prometheus cannot evaluate the experiment's rules (None: it evaluates them)."""
    from chaos.live.stack.mapped_scrape import evaluation_gap

    if state.metric_names is None:
        return ("the stack's Prometheus keeps the emulators' metric names (bring the stack up from the experiment: "
                "chaoslab stack up EXPERIMENT)")
    return evaluation_gap(experiment, scraped)


def scrape_findings(experiment: Experiment, scrape_s: int) -> list[str]:
    """What in the experiment's rule files the stack's scrape interval makes mean less than it says: a ``for``
    shorter than one scrape (the condition holds over no new sample), a range shorter than two scrapes (``rate``
    and ``increase`` need two samples in it, so the rule sees nothing between them)."""
    from chaos.promql.syntax import MatrixSelector

    out = []
    for ref in (*experiment.prometheus_rules, *experiment.slo_specs):
        for group in ref.rules.all_groups:
            for rule in group.alerting_rules:
                where = f"rule '{rule.name}' ({ref.file}:{rule.location.line})"
                if 0 < rule.for_ < scrape_s:
                    out.append(f"{where}: for: {rule.for_:g}s is shorter than the stack's {scrape_s} s scrape "
                               "interval: it holds over no new sample")
                short = sorted({m.range / 1000 for m in _nodes(rule.expr, MatrixSelector)
                                if m.range / 1000 < 2 * scrape_s})
                if short:
                    out.append(f"{where}: a [{short[0]:g}s] range holds fewer than two of the stack's {scrape_s} s "
                               "scrapes: rate() and increase() see nothing in it")
    return out


def _nodes(expr: object, kind: type) -> list[Any]:
    """Every node of type ``kind`` in a PromQL syntax tree (frozen dataclasses)."""
    import dataclasses

    if isinstance(expr, kind):
        return [expr]
    if not dataclasses.is_dataclass(expr) or isinstance(expr, type):
        return []
    found = []
    for f in dataclasses.fields(expr):
        value = getattr(expr, f.name)
        for item in value if isinstance(value, tuple) else (value,):
            found += _nodes(item, kind)
    return found


def load_scraped(state: StackState, options: RunOptions) -> bool:
    """Does the generated stack's Prometheus scrape this run's load? Only a single load process serves its
    metrics (workers would each need an address of their own), on the address the stack planned for it."""
    return state.load_metrics is not None and state.has_admin and options.load_workers == 0


def read_plan(experiment: Experiment, state: StackState | None, load_scraped: bool = False) -> prom.ReadPlan | None:
    """The Prometheus a game day reads its services from: the team's (``live: prometheus:``), or the one a
    generated stack runs (with ``load_scraped``, the entrypoints and their targets too: it scrapes the load);
    None when there is neither (a team's stack without one, an older generated stack)."""
    live = experiment.live
    if live is not None:
        return None if live.prometheus is None else prom.target_plan(live, experiment.topology,
                                                                   team_step(experiment)[0])
    if state is None or state.prometheus_url is None:
        return None
    plan = prom.generated_stack_plan(state.prometheus_url, experiment.topology, state.scrape_interval_s,
                                     _stack_mapping(experiment, state), load_scraped)
    return plan if plan.reads else None


def _stack_mapping(experiment: Experiment, state: StackState) -> MetricMapping | None:
    """The mapping under whose names the generated stack's Prometheus stores its series (None: the emulators')."""
    from chaos.live.stack.mapped_scrape import digest, renamed_mapping, stack_relabels

    if state.metric_names is None:
        return None
    if digest(stack_relabels(experiment)) != state.metric_names:
        raise InputError(f"the stack's Prometheus stores its series under another metric mapping than the "
                         f"experiment's metrics: section ({experiment.metrics.preset.value})",
                         hint="bring the stack up from this experiment: chaoslab stack up EXPERIMENT --dir DIR")
    return renamed_mapping(experiment.metrics, experiment.topology)


def _check_prometheus(server: prom.Prometheus, plan: prom.ReadPlan) -> None:
    """prom.check, retried while a stack just brought up has not been scraped yet (up to its deadline)."""
    deadline = time.monotonic() + plan.first_scrape_s
    while True:
        try:
            prom.check(server, plan.reads)
            return
        except LiveError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def resolution(plan: prom.ReadPlan, server: prom.Prometheus) -> int:
    """The step Prometheus is read at: the mapping's scrape interval, else the one Prometheus reports."""
    if plan.scrape_interval is not None:
        return plan.scrape_interval
    try:
        found = server.scrape_interval()
    except prom.PrometheusUnusable as exc:
        raise LiveError(f"Prometheus at {server.url} does not list its targets: {exc}",
                        hint="give live: prometheus: scrape_interval") from None
    return found or 1
