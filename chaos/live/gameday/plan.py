"""``chaoslab run --dry-run``: what a game day would do, checked and printed, with nothing touched."""

from __future__ import annotations

from typing import Any

from chaos.live.gameday.actions import LIVE_ACTIONS
from chaos.live.gameday.executor import is_automated
from chaos.live.gameday.prometheus_alerts import wanted_alerts
from chaos.live_states import RunMode
from chaos.model.experiment import Experiment
from chaos.model.playbook import ActionKind, Playbook, describe

ACTION_WORDS: dict[ActionKind, str] = {
    ActionKind.PAGE: "nothing changes; the step lasts until the paged role responds",
    ActionKind.WAIT: "nothing changes; the step only takes its time",
    ActionKind.REMOVE_FAULT: "the FaultRunner reverts the fault's journaled handle now (or cancels it if not started)",
    ActionKind.RESTART: "docker restart of the replicas, wait until healthy, faults and policies put back",
    ActionKind.SCALE: "callers re-pointed at the first N replicas, the others stopped (or started again)",
    ActionKind.SET_CALL: "emulator admin POST /admin/calls/{callee} on every replica of the caller",
    ActionKind.SHED_LOAD: "emulator admin POST /admin/admission on the entry service (limit split over its replicas)",
    ActionKind.ROLLBACK: "every call policy back to the baseline topology's, limits lifted, named faults removed",
    ActionKind.FAILOVER: "callers' calls re-pointed at the other service's replicas",
}


def describe_run(experiment: Experiment, playbook: Playbook | None, options: Any) -> str:
    from chaos.live.faults.drivers.routes import plan_all
    from chaos.live.gameday.run import load_urls, load_words, validate
    from chaos.live.gameday.stacks import planned_state, scrape_words, user_state
    from chaos.live.load import plan_experiment
    from chaos.live.stack.state import STATE_FILE, read_state

    if experiment.live is not None:
        state = user_state(experiment, allow_remote=options.allow_remote, resolve=False)
        where = f"your own Compose project '{state.name}' ({state.compose_file}); left running"
    elif options.stack_dir is not None and (options.stack_dir / STATE_FILE).is_file():
        state = read_state(options.stack_dir)
        where = f"the running stack in {options.stack_dir}; left running"
    else:
        state = planned_state(experiment, options.out / "stack", options.scrape_interval)
        fate = "kept afterwards" if options.keep_stack else "taken down afterwards"
        where = (f"generated from topology '{experiment.topology.name}' in {options.stack_dir or options.out / 'stack'}"
                 f" ({len(state.replicas)} emulator container(s), {len(state.proxies)} proxies); {fate}")
    validate(experiment, playbook, state)
    lines = [f"{experiment.name}: live run of {experiment.duration:g}s (warm-up {experiment.warmup:g}s), seed "
             f"{experiment.seed if options.seed is None else options.seed} -- dry run, nothing is touched",
             f"Stack:    {where}", f"Scrape:   Prometheus: {scrape_words(experiment, state, options.scrape_interval)}"]
    plan = plan_experiment(experiment, load_urls(experiment, state))
    processes = "one Locust process" if not options.load_workers else f"Locust master + {options.load_workers} workers"
    lines.append(f"Load:     {load_words(plan)} over {plan.duration_s:g}s ({processes})")
    for entry in plan.entrypoints:
        rate = entry.expected(0, plan.duration_s) / plan.duration_s
        spread = f" ({entry.load_balancing.value})" if len(entry.urls) > 1 else ""
        pace = (f"{rate:.1f} req/s on average" if plan.users is None
                else f"{entry.share:.0%} of the users' requests, at most {rate:.1f} req/s")
        lines.append(f"          {entry.name} -> {', '.join(entry.urls)}{spread}: {pace}")
        total = sum(r.weight for r in entry.requests)
        for r in entry.requests:
            success = ", ".join(map(str, r.success)) or "2xx"
            what = f"{r.method} {r.target or '(the URL)'}"
            named = "" if r.name == what else f"{r.name}: "
            lines.append(f"            {r.weight / total:6.1%} {named}{what}"
                         f"{' with a body' if r.body is not None else ''}; success: {success}")
    if experiment.live is not None:
        lines += _route_lines(experiment)
    lines.append(f"Faults:   journaled in {options.out}/faults.jsonl before each is applied; all reverted at the end")
    for fault, action in zip(experiment.fault_list, plan_all(experiment, state, with_load=True), strict=True):
        until = "the end" if fault.duration is None else f"{fault.at + fault.duration:g}s"
        lines.append(f"          {fault.at:g}s to {until}: {action.describe()}")
    rules = ", ".join(r.name for r in experiment.alert_rules) or "none"
    lines.append(f"Alerts:   {rules} (evaluated each second on the measured series)")
    files = ", ".join(dict.fromkeys(a.name for a in wanted_alerts(experiment)))
    if files:
        prometheus = experiment.live.prometheus if experiment.live is not None else None
        from chaos.live.stack.mapped_scrape import evaluation_gap

        if prometheus is not None:
            where = (f"evaluated by the Prometheus at {prometheus.url}, which must have them loaded (checked before "
                     f"any fault); their firing read back from it")
        elif experiment.live is None and evaluation_gap(experiment) is None:
            where = ("evaluated by the generated stack's Prometheus on the emulators' series under the experiment's "
                     "metric names, when the stack is brought up from this experiment; their firing read back from it")
        else:
            where = "evaluated by chaoslab with Prometheus's semantics on the measured series"
        lines.append(f"          rule files: {files} ({where})")
    abort = "; ".join(r.describe() for r in options.abort) or "none (--no-abort)"
    lines.append(f"Abort:    {abort}")
    if playbook is not None:
        game_day = options.mode is RunMode.GAME_DAY
        trigger = ", ".join(playbook.trigger.alerts) or f"at {playbook.trigger.at:g}s"
        lines.append(f"Playbook: '{playbook.name}' triggered by {trigger}; "
                     f"{'game day: people confirm their steps on the terminal' if game_day else 'unattended'}")
        for i, step in enumerate(playbook.steps, 1):
            kind, target = describe(step.act)
            assert type(step.act) in LIVE_ACTIONS
            who = ("automated" if is_automated(step.role, options.automated)
                   else "prompted" if game_day else "sampled delay")
            lines.append(f"          {i}. {step.name} [{step.role}, {who}]: {kind.value} {target}".rstrip()
                         + f" -- {ACTION_WORDS[kind]}")
    return "\n".join(lines)


def _route_lines(experiment: Experiment) -> list[str]:
    """A team's stack: each declared operation (a description of what the stack does by itself), and
    whether its Prometheus reads it by route or it stays unmeasured, and why."""
    from chaos.model.live_limits import operation_unmeasured

    live = experiment.live
    assert live is not None
    lines: list[str] = []
    for service in experiment.topology.services:
        for op in service.operations:
            why = operation_unmeasured(live, service.name, op.name)
            route = live.service_target(service.name).route_map.get(op.name)
            how = (f"read through your Prometheus by its {live.prometheus.preset.route_label} label"
                   if why is None and live.prometheus is not None else f"unmeasured: {why}")
            at = f" {route.route}" if route is not None else ""
            lines.append(f"{'Routes:' if not lines else '':10}{service.name}.{op.name}{at}: {how}")
    return lines
