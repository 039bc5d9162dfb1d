"""What a stack holds that chaoslab may have left behind: ``stack status`` and the preflight read it.

:func:`inspect_stack` looks at the stack as it is, on either kind of stack:

- every container (its replicas, and chaoslab's Toxiproxy on a generated stack) must be
  running, healthy if it has a health check, without a CPU quota, on a network, and
  without a ``chaoslab-`` iptables rule in its network namespace; no stand-in of a crashed
  replica may remain;
- Toxiproxy must hold every proxy the stack names, each enabled and without toxics
  (on a user's stack a toxic chaoslab did not add is reported as not its own);
- on a generated stack, every emulator must report no admin fault (its operations' included), and every call policy
  and admission limit must be the stack's baseline: a playbook change (``set_call``,
  ``failover``, ``shed_load``) that outlived its run shows here.

Each thing found is a :class:`Leftover`, with the kind of change it is.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.live.stack.compose import ContainerState, Health, health_of, state_of
from chaos.live.stack.emulator_stack import LABEL, SPEC_FILE
from chaos.live.stack.state import StackState
from chaos.live_states import StackKind

RULE_MARK = "chaoslab-"           # iptables rules and toxics chaoslab adds carry it in their name or comment


class LeftoverKind(enum.Enum):
    CONTAINER = "container"       # absent, stopped, paused, off its network
    HEALTH = "health"             # running, but its own health check says unhealthy (it may lag a repair)
    CPU_LIMIT = "cpu limit"
    IPTABLES = "iptables rule"
    STAND_IN = "stand-in"
    TOXIPROXY = "toxiproxy"       # missing or disabled proxy, toxic, or an API that does not answer
    ADMIN_FAULT = "admin fault"   # an emulator fault still set
    PLAYBOOK = "playbook change"  # a call policy or admission limit that is not the baseline's


@dataclass(frozen=True)
class Leftover:
    kind: LeftoverKind
    subject: str                  # a container, a proxy, ...
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail}"


@dataclass(frozen=True)
class StackReport:
    containers: list[str]         # one line per container: name, state, health, ports
    leftovers: list[Leftover]     # anything that is not as the stack was before chaoslab acted on it

    @property
    def problems(self) -> list[str]:
        return [str(found) for found in self.leftovers]


def inspect_stack(state: StackState, *, allow_remote: bool = False) -> StackReport:
    """Look at every part of the stack for anything a fault or a playbook change could have left behind."""
    from chaos.live.stack.docker_env import connect

    lines: list[str] = []
    found: list[Leftover] = []
    with connect(allow_remote=allow_remote) as engine:
        names = [r.container for r in state.replicas]
        if state.toxiproxy_container:
            names.append(state.toxiproxy_container)
        declared = _declared_quotas(state)
        for name in names:
            lines.append(_container_line(engine, name, state, declared, found))
        stand_ins = engine.client.containers.list(all=True, filters={"label": [f"{LABEL}={state.name}",
                                                                               "chaoslab.role=stand-in"]})
        found += [Leftover(LeftoverKind.STAND_IN, c.name, "stand-in of a crashed replica still there")
                  for c in stand_ins]
    found += _toxiproxy_leftovers(state)
    found += _admin_leftovers(state)
    return StackReport(lines, found)


def _container_line(engine: Any, name: str, state: StackState, declared: Mapping[str, int | None],
                    found: list[Leftover]) -> str:
    from chaos.live.stack.docker_env import import_sdk

    def left(kind: LeftoverKind, detail: str) -> None:
        found.append(Leftover(kind, name, detail))

    try:
        container = engine.client.containers.get(name)
    except import_sdk().errors.NotFound:
        left(LeftoverKind.CONTAINER, "no such container")
        return f"{name}: absent"
    attrs = container.attrs
    status, health = state_of(container.status), health_of(attrs["State"])
    if status is not ContainerState.RUNNING:
        left(LeftoverKind.CONTAINER, status.value)
    elif health not in (Health.HEALTHY, Health.NONE):
        left(LeftoverKind.HEALTH, f"health {health.value}")
    quota = int(attrs["HostConfig"].get("CpuQuota") or 0)
    if quota > 0 and quota != declared.get(name):
        left(LeftoverKind.CPU_LIMIT, f"CPU quota {quota} still set")
    networks = attrs["NetworkSettings"].get("Networks") or {}
    mode = str(attrs["HostConfig"].get("NetworkMode") or "")
    if state.kind is StackKind.EMULATOR and f"{state.name}_default" not in networks:
        left(LeftoverKind.CONTAINER, f"not on network {state.name}_default")
    elif state.kind is StackKind.USER and not networks and mode not in ("host", "none") \
            and not mode.startswith("container:"):
        left(LeftoverKind.CONTAINER, "on no network (disconnected)")
    if status in (ContainerState.RUNNING, ContainerState.PAUSED):
        found.extend(Leftover(LeftoverKind.IPTABLES, name, f"iptables rule left: {rule}")
                     for rule in _chaoslab_rules(int(attrs["State"]["Pid"])))
    ports = ", ".join(f"{b[0]['HostIp']}:{b[0]['HostPort']}->{k}" for k, b in
                      (attrs["NetworkSettings"].get("Ports") or {}).items() if b)
    return f"{name}: {status.value}, health {health.value}; {ports}"


def _declared_quotas(state: StackState) -> dict[str, int | None]:
    """A user's own CPU quotas (``cpu_quota`` in its Compose file), which are not chaoslab's to report."""
    if state.kind is not StackKind.USER:
        return {}
    from chaos.errors import ChaosError
    from chaos.live.stack.compose_file import read_stack

    try:
        services = read_stack(Path(state.compose_file)).service_map
    except (ChaosError, OSError):
        return {}
    return {r.container: services[r.compose_service].cpu_quota for r in state.replicas
            if r.compose_service in services}


def _chaoslab_rules(pid: int) -> list[str]:
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("nsenter") is None or shutil.which("iptables") is None:
        return []  # cannot look; the driver that adds rules needs root and these tools too
    listed = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables", "-w", "5", "-S"], capture_output=True,
                            text=True, timeout=10, check=False, stdin=subprocess.DEVNULL)
    return [line for line in listed.stdout.splitlines() if RULE_MARK in line]


def _toxiproxy_leftovers(state: StackState) -> list[Leftover]:
    from chaos.errors import ToxiproxyError
    from chaos.live.stack.toxiproxy_client import ToxiproxyClient

    if state.toxiproxy_api is None:
        return []
    kind = LeftoverKind.TOXIPROXY
    try:
        proxies = ToxiproxyClient(state.toxiproxy_api).proxies()
    except ToxiproxyError as exc:
        return [Leftover(kind, "toxiproxy", exc.message)]
    found = [Leftover(kind, "toxiproxy", f"proxy {p.name} is missing") for p in state.proxies if p.name not in proxies]
    for proxy in proxies.values():
        if not proxy.enabled:
            found.append(Leftover(kind, "toxiproxy", f"proxy {proxy.name} is disabled"))
        for toxic in proxy.toxics:
            whose = "" if toxic.name.startswith(RULE_MARK) or state.kind is StackKind.EMULATOR else \
                " (not added by chaoslab)"
            found.append(Leftover(kind, "toxiproxy", f"proxy {proxy.name} has toxic {toxic.name} "
                                                      f"({toxic.type.value}){whose}"))
    return found


def _admin_leftovers(state: StackState) -> list[Leftover]:
    from chaos.errors import LiveError
    from chaos.live.stack.emulator_client import AdminClient

    found = []
    clean = {"errors": 0.0, "slowdown": 1.0, "hang": False}
    baseline = _baseline_policies(state)
    for replica in state.replicas:
        if replica.admin_url is None:
            continue
        try:
            admin = AdminClient(replica.admin_url).state()
        except LiveError as exc:
            found.append(Leftover(LeftoverKind.ADMIN_FAULT, replica.container, exc.message))
            continue
        faults = admin.get("faults") or {}
        left = {k: faults.get(k) for k in clean if faults.get(k) != clean[k]}
        cold = faults.get("cold_start")
        if cold and cold.get("current_factor", 1.0) > 1.01:  # a cold start that has decayed is over
            left["cold_start"] = cold
        if left:
            found.append(Leftover(LeftoverKind.ADMIN_FAULT, replica.container, f"admin faults still set: {left}"))
        for operation, op in (admin.get("operations") or {}).items():
            set_ = {k: v for k, v in (op.get("faults") or {}).items() if v}
            if set_:
                found.append(Leftover(LeftoverKind.ADMIN_FAULT, replica.container,
                                      f"operation fault still set on {replica.service}.{operation}: {set_}"))
        for callee, call in (admin.get("calls") or {}).items():
            errors = (call.get("faults") or {}).get("errors", 0.0)
            if errors:
                found.append(Leftover(LeftoverKind.ADMIN_FAULT, replica.container,
                                      f"edge fault still set on its calls to {callee}: errors {errors}"))
            want = baseline.get((replica.service, callee))
            if want is not None:
                changed = {k: call.get(k) for k in want if call.get(k) != want[k]}
                if changed:
                    found.append(Leftover(LeftoverKind.PLAYBOOK, replica.container, f"its calls to {callee} "
                                          f"are not the stack's policy: {_changes(changed, want)}"))
        limit = (admin.get("admission") or {}).get("limit")
        if limit is not None:
            found.append(Leftover(LeftoverKind.PLAYBOOK, replica.container, f"admission limit {limit:g}/s still set"))
    return found


def _baseline_policies(state: StackState) -> Mapping[tuple[str, str], Mapping[str, Any]]:
    """Each (caller, callee)'s call policy as the stack was generated, when its spec can be read."""
    from chaos.errors import ChaosError
    from chaos.live.in_container.stackspec import load

    path = Path(state.directory) / SPEC_FILE if state.directory else None
    if path is None or not path.is_file():
        return {}
    try:
        spec = load(path)
    except (ChaosError, OSError, ValueError):
        return {}
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for s in spec.services:
        for c in s.all_calls:  # the emulator's state shows the first call to each callee
            out.setdefault((s.name, c.to), c.policy_json())
    return out


def _changes(changed: Mapping[str, Any], want: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {changed[k]!r} (baseline {want[k]!r})" for k in changed)
