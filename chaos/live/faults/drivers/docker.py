"""Container faults through the Docker engine.

- ``kill``: SIGKILL some running replicas (a crash: in-flight requests fail at once); the
  revert starts them again and waits until they are healthy, then starts them cold if asked.
  Meanwhile a stand-in container holds each victim's names and refuses connections
  (see ``DockerDriver._stand_in`` for why);
- ``stop`` / ``start``; ``pause`` / ``unpause`` (a hang of a user's container: it accepts
  connections and answers nothing); ``restart`` (a cold start of a user's service; nothing to
  revert);
- ``cpu``: a CPU quota of 1/factor of what the container had (a slowdown);
- ``disconnect``: the container leaves its networks (a partition) and rejoins with the same
  aliases, so the other containers find it again by name;
- ``drop``: an iptables rule in the container's network namespace that drops packets,
  all or a random share (``-m statistic``), on its way in, or out to some containers only.
  It is entered with nsenter from the host, so the container needs no iptables of its own.

Every change is checked against the container's state first, so reverting twice, or
reverting a container that is gone, is harmless. Overlapping faults on one container
(two hangs, two throttles) are counted: the last revert undoes the change.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.errors import DockerError, EngineUnavailable
from chaos.live.faults.actions import (
    Action,
    Chain,
    CpuLimit,
    Disconnect,
    Disconnected,
    DriverKind,
    Drop,
    Dropped,
    Handle,
    Kill,
    Killed,
    Membership,
    Pause,
    Restart,
    Stop,
    Stopped,
    Throttle,
    Throttled,
)
from chaos.live.faults.codec import to_json
from chaos.live.faults.drivers.base import Holds, InjectContext, Presence
from chaos.live.in_container.probe import healthy
from chaos.live.stack.compose import ContainerState, Health, health_of, state_of
from chaos.live.stack.docker_env import Engine, connect, import_sdk
from chaos.live.stack.emulator_client import AdminClient

CPU_PERIOD = 100_000  # microseconds: Docker's default CFS period
HEALTHY_TIMEOUT = 60.0
COMMAND_TIMEOUT = 10.0


DockerParams = Kill | Stop | Pause | Restart | Throttle | Disconnect | Drop


@dataclass
class _Throttling:
    """A container's CPU quota while faults throttle it: what it had, and each fault's factor."""

    original: CpuLimit
    factors: dict[str, float] = field(default_factory=dict)


class DockerDriver:
    """Acts on containers by name. Connects to the engine on first use (local only unless allowed)."""

    kind = DriverKind.DOCKER

    def __init__(self, run_id: str, *, engine: Engine | None = None, allow_remote: bool = False,
                 healthy_timeout: float = HEALTHY_TIMEOUT) -> None:
        self.run_id = run_id
        self._engine = engine
        self._owned = False
        self.allow_remote = allow_remote
        self.healthy_timeout = healthy_timeout
        self._holds = Holds()
        self._cpu: dict[str, _Throttling] = {}  # container -> its throttling

    # --- engine -----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = connect(allow_remote=self.allow_remote)
            self._owned = True
        return self._engine

    def close(self) -> None:
        if self._owned and self._engine is not None:
            self._engine.close()
            self._engine = None

    def container(self, name: str) -> Any:
        """The container, freshly inspected; None when it does not exist."""
        errors = import_sdk().errors
        try:
            return self.engine.client.containers.get(name)
        except errors.NotFound:
            return None
        except errors.DockerException as exc:
            raise DockerError(f"cannot inspect container {name}: {exc}") from exc

    def presence(self, name: str) -> Presence:
        """Where a container stands (for the other drivers' revert path)."""
        try:
            found = self.container(name)
        except (EngineUnavailable, DockerError):
            return Presence.UNKNOWN
        if found is None:
            return Presence.ABSENT
        presences = {ContainerState.RUNNING: Presence.RUNNING, ContainerState.PAUSED: Presence.PAUSED}
        return presences.get(state_of(found.status), Presence.STOPPED)

    # --- protocol ---------------------------------------------------------------------------

    def preflight(self, action: Action) -> None:
        params = _params(action)
        names = list(action.targets) + list(params.destinations if isinstance(params, Drop) else ())
        missing = [n for n in names if self.container(n) is None]
        if missing:
            raise DockerError(f"{action.label}: no container named {', '.join(missing)}",
                              hint="is the stack up? (chaoslab stack status)")
        if isinstance(params, Drop):
            _require_netns_tools()
        if isinstance(params, Throttle):
            for name in action.targets:
                if self.container(name).attrs["HostConfig"].get("NanoCpus"):
                    raise DockerError(f"{action.label}: {name} has a --cpus limit, which Docker will not combine "
                                      "with the CPU quota chaoslab sets", hint="set cpu_quota/cpu_period instead")

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        match _params(action):
            case Kill() as kill:
                return self._kill(action, kill, ctx)
            case Stop():
                return self._stop(action, ctx)
            case Pause():
                return self._pause(action, ctx)
            case Restart():
                return self._restart(action, ctx)
            case Throttle(factor=factor):
                return self._throttle(action, factor, ctx)
            case Disconnect():
                return self._disconnect(action, ctx)
            case Drop() as drop:
                return self._drop(action, drop, ctx)

    def revert(self, handle: Handle) -> None:
        undo = self._undo(handle)
        left = []
        for name in handle.touched:
            try:
                undo(name)
            except (DockerError, EngineUnavailable) as exc:
                left.append(f"{name}: {exc.message}")
        if left:
            raise DockerError(f"{handle.label}: could not undo on {len(left)} container(s): " + "; ".join(left))

    def _undo(self, handle: Handle) -> Callable[[str], None]:
        """What undoes ``handle`` on one of the containers it touched."""
        match _params(handle.action):
            case Kill() as kill:
                killed = handle.undo_info(Killed)
                return lambda name: self._start_again(name, kill, killed.stand_ins)
            case Stop():
                return lambda name: self._start_again(name, None, ())
            case Pause():
                return lambda name: self._unpause(name, handle.id)
            case Restart():
                return lambda name: None
            case Throttle():
                original = handle.undo_info(Throttled).original
                return lambda name: self._unthrottle(name, handle.id, original)
            case Disconnect():
                networks = handle.undo_info(Disconnected).networks
                return lambda name: self._reconnect(name, handle.id, networks.get(name, ()))
            case Drop():
                rules = handle.undo_info(Dropped).rules
                return lambda name: self._undrop(name, rules[name])

    def undo_hint(self, handle: Handle) -> list[str]:
        params = _params(handle.action)
        names = handle.touched
        if isinstance(params, Throttle):
            original = handle.undo_info(Throttled).original
            return [_cpu_command(name, original.get(name, CpuLimit(0, 0))) for name in names]
        if isinstance(params, Disconnect):
            networks = handle.undo_info(Disconnected).networks
            return [f"docker network connect {' '.join(f'--alias {a}' for a in net.aliases)} {net.name} {name}"
                    for name in names for net in networks.get(name, ())]
        if isinstance(params, Drop):
            rules = handle.undo_info(Dropped).rules
            return [f"nsenter -t $(docker inspect -f '{{{{.State.Pid}}}}' {name}) -n iptables -D "
                    + " ".join(rules[name]) for name in names if name in rules]
        verb = "unpause" if isinstance(params, Pause) else "start" if isinstance(params, Kill | Stop) else None
        killed = handle.undo.stand_ins if isinstance(handle.undo, Killed) else ()
        stand_ins = [f"docker rm -f {name}" for name in killed]
        return ([f"docker {verb} {name}" for name in names] if verb else []) + stand_ins

    # --- kill / stop / start ----------------------------------------------------------------

    def _running(self, names: tuple[str, ...]) -> list[str]:
        return [n for n in names
                if (c := self.container(n)) is not None and state_of(c.status) is ContainerState.RUNNING]

    def _kill(self, action: Action, kill: Kill, ctx: InjectContext) -> Handle:
        running = self._running(action.targets)
        victims = tuple(running if kill.count is None else running[:kill.count])
        image = kill.stand_in_image
        handle = action.handle(Killed(victims, tuple(stand_in_name(v) for v in victims) if image else ()))
        ctx.record(handle)
        for name in victims:
            if image:
                self._stand_in(name, image)
            self._call(name, "kill", lambda c: c.kill())
        for name in victims:
            # 'kill' returns once the signal is sent; the crash is in effect (and the victim's
            # name gone from the network's DNS) only once the container has stopped.
            self._call(name, "wait", lambda c: c.wait(timeout=COMMAND_TIMEOUT, condition="not-running"))
        return handle

    def _stand_in(self, name: str, image: str) -> None:
        """A container that takes the victim's names on its networks while it is down, and listens on nothing.

        Docker forgets the name of a stopped container, and a lookup of an unknown name goes
        to the host's DNS servers; where those do not answer (CI machines, offline hosts) a
        caller's connection waits about 10 s on DNS instead of being refused at once as a
        crash refuses it. With a stand-in the name still resolves and the port refuses: the
        callers see the crash (``crashed``), not a slow network (``timeout``).
        """
        self._remove(stand_in_name(name))
        victim = self._must(name)
        labels = victim.attrs["Config"].get("Labels") or {}
        networks = victim.attrs["NetworkSettings"]["Networks"] or {}
        api = self.engine.client.api
        endpoints = {net: api.create_endpoint_config(aliases=[a for a in (cfg.get("Aliases") or ())
                                                              if a != victim.id[:12]])
                     for net, cfg in networks.items()}
        first = next(iter(endpoints), None)
        stand_in_labels = {"chaoslab.role": "stand-in", "chaoslab.stand-in-for": name}
        project = labels.get("com.docker.compose.project")
        if project:  # so that 'compose down --remove-orphans' removes one a killed harness left behind
            stand_in_labels.update({"com.docker.compose.project": project, "com.docker.compose.oneoff": "False",
                                    "com.docker.compose.service": f"{labels.get('com.docker.compose.service')}-down"})
        if "chaoslab.stack" in labels:
            stand_in_labels["chaoslab.stack"] = labels["chaoslab.stack"]
        errors = import_sdk().errors
        try:
            created = api.create_container(
                image, ["python3", "-c", "import signal; signal.pause()"], name=stand_in_name(name),
                labels=stand_in_labels, host_config=api.create_host_config(init=True, network_mode=first),
                networking_config=api.create_networking_config({first: endpoints[first]}) if first else None)
            for net in list(endpoints)[1:]:
                api.connect_container_to_network(created["Id"], net, aliases=endpoints[net].get("Aliases"))
            api.start(created["Id"])
        except errors.DockerException as exc:
            raise DockerError(f"cannot start a stand-in for {name}: {exc}") from exc

    def _remove(self, name: str) -> None:
        if self.container(name) is not None:
            self._call(name, "rm", lambda c: c.remove(force=True))

    def _stop(self, action: Action, ctx: InjectContext) -> Handle:
        victims = tuple(self._running(action.targets))
        handle = action.handle(Stopped(victims))
        ctx.record(handle)
        for name in victims:
            self._call(name, "stop", lambda c: c.stop(timeout=5))
        return handle

    def _start_again(self, name: str, kill: Kill | None, stand_ins: tuple[str, ...]) -> None:
        found = self.container(name)
        if found is not None and state_of(found.status) is not ContainerState.RUNNING:
            self._call(name, "start", lambda c: c.start())
        if stand_in_name(name) in stand_ins:
            self._remove(stand_in_name(name))  # the name now resolves to the replica again
        if found is None:
            return  # removed (the stack was taken down): nothing left to restart
        self.wait_healthy(name, kill.health.get(name) if kill is not None else None)
        admin = kill.admin.get(name) if kill is not None else None
        if kill is not None and kill.cold_start is not None and admin:
            AdminClient(admin).set_faults({"cold_start": to_json(kill.cold_start)})

    def wait_healthy(self, name: str, health_url: str | None = None) -> None:
        """Until the container answers ``health_url`` with 200 (or, without one, until its Docker
        health check passes), or the deadline. The URL is asked directly because Docker's own
        check runs only every few seconds, and the fault schedule waits for this."""
        deadline = time.monotonic() + self.healthy_timeout
        while True:
            found = self.container(name)
            if found is None:
                raise DockerError(f"{name} disappeared while starting")
            state, health = state_of(found.status), health_of(found.attrs["State"])
            if state in (ContainerState.EXITED, ContainerState.DEAD):
                raise DockerError(f"{name} exited with code {found.attrs['State'].get('ExitCode')} after a restart",
                                  hint=f"see: docker logs {name}")
            if state is ContainerState.RUNNING and (
                    healthy(health_url) if health_url else health in (Health.NONE, Health.HEALTHY)):
                return
            if time.monotonic() >= deadline:
                raise DockerError(f"{name} is not healthy {self.healthy_timeout:g}s after a restart "
                                  f"(state {state.value}, health {health.value})", hint=f"see: docker logs {name}")
            time.sleep(0.05)

    def _restart(self, action: Action, ctx: InjectContext) -> Handle:
        handle = action.handle()
        ctx.record(handle)
        for name in action.targets:
            self._call(name, "restart", lambda c: c.restart(timeout=5))
        return handle

    # --- pause ------------------------------------------------------------------------------

    def _pause(self, action: Action, ctx: InjectContext) -> Handle:
        handle = action.handle()
        ctx.record(handle)
        for name in action.targets:
            if self._holds.acquire(f"pause {name}", action.id):
                found = self.container(name)
                if found is not None and state_of(found.status) is ContainerState.RUNNING:
                    self._call(name, "pause", lambda c: c.pause())
        return handle

    def _unpause(self, name: str, holder: str) -> None:
        if not self._holds.release(f"pause {name}", holder):
            return
        found = self.container(name)
        if found is not None and state_of(found.status) is ContainerState.PAUSED:
            self._call(name, "unpause", lambda c: c.unpause())

    # --- cpu --------------------------------------------------------------------------------

    def _throttle(self, action: Action, factor: float, ctx: InjectContext) -> Handle:
        originals: dict[str, CpuLimit] = {}
        for name in action.targets:
            throttling = self._cpu.get(name)
            if throttling is None:
                host = self._must(name).attrs["HostConfig"]
                throttling = _Throttling(CpuLimit(int(host.get("CpuQuota") or 0), int(host.get("CpuPeriod") or 0)))
                self._cpu[name] = throttling
            originals[name] = throttling.original
        handle = action.handle(Throttled(originals))
        ctx.record(handle)
        for name in action.targets:
            self._cpu[name].factors[action.id] = factor
            self._apply_cpu(name)
        return handle

    def _apply_cpu(self, name: str) -> None:
        throttling = self._cpu[name]
        original = throttling.original
        if not throttling.factors:
            del self._cpu[name]
            self._set_cpu(name, original)
            return
        # What the container could use before (its quota, or every CPU of the host), over the factors.
        had = original.cpu_quota / original.cpu_period if original.cpu_quota > 0 else (os.cpu_count() or 1)
        quota = max(1000, int(CPU_PERIOD * had / math.prod(throttling.factors.values())))
        self._call(name, "update", lambda c: c.update(cpu_quota=quota, cpu_period=CPU_PERIOD))

    def _set_cpu(self, name: str, original: CpuLimit) -> None:
        quota = original.cpu_quota if original.cpu_quota > 0 else -1  # -1: no limit
        period = original.cpu_period or CPU_PERIOD
        self._call(name, "update", lambda c: c.update(cpu_quota=quota, cpu_period=period))

    def _unthrottle(self, name: str, holder: str, original: Mapping[str, CpuLimit]) -> None:
        if self.container(name) is None:
            return
        throttling = self._cpu.get(name)
        if throttling is None:  # a fresh process (recover): restore what the journal says it was
            self._set_cpu(name, original[name])
            return
        throttling.factors.pop(holder, None)
        self._apply_cpu(name)

    # --- networks ---------------------------------------------------------------------------

    def _disconnect(self, action: Action, ctx: InjectContext) -> Handle:
        networks: dict[str, tuple[Membership, ...]] = {}
        for name in action.targets:
            settings = self._must(name).attrs["NetworkSettings"]["Networks"] or {}
            networks[name] = tuple(Membership(net, tuple(cfg.get("Aliases") or ())) for net, cfg in settings.items())
        handle = action.handle(Disconnected(networks))
        ctx.record(handle)
        for name in action.targets:
            if self._holds.acquire(f"net {name}", action.id):
                for net in networks[name]:
                    self._network(net.name).disconnect(name)
        return handle

    def _reconnect(self, name: str, holder: str, networks: tuple[Membership, ...]) -> None:
        if not self._holds.release(f"net {name}", holder):
            return
        found = self.container(name)
        if found is None:
            return
        joined = found.attrs["NetworkSettings"]["Networks"] or {}
        for net in networks:
            if net.name not in joined:
                self._network(net.name).connect(name, aliases=list(net.aliases) or None)

    def _network(self, name: str) -> Any:
        errors = import_sdk().errors
        try:
            return self.engine.client.networks.get(name)
        except errors.DockerException as exc:
            raise DockerError(f"cannot find network {name}: {exc}") from exc

    # --- packet drop in the network namespace -----------------------------------------------

    def _drop(self, action: Action, drop: Drop, ctx: InjectContext) -> Handle:
        destinations = [ip for dest in drop.destinations for ip in self._addresses(dest)]
        if drop.destinations and not destinations:
            raise DockerError(f"{action.label}: {', '.join(drop.destinations)} has no address: a rule would drop "
                              "nothing", hint="is it running? (chaoslab stack status)")
        rules = {name: _drop_rule(drop.chain, drop.probability, destinations, f"chaoslab-{self.run_id}-{action.id}",
                                  drop.ports)
                 for name in action.targets}
        handle = action.handle(Dropped(rules))
        ctx.record(handle)
        for name in action.targets:
            _iptables(self._pid(name), ["-I", *rules[name]])
        return handle

    def _undrop(self, name: str, rule: tuple[str, ...]) -> None:
        found = self.container(name)
        if found is None or state_of(found.status) not in (ContainerState.RUNNING, ContainerState.PAUSED):
            return  # a stopped container's network namespace, and its rules, are gone
        pid = int(found.attrs["State"]["Pid"])
        while _iptables(pid, ["-C", *rule], check=False) == 0:
            _iptables(pid, ["-D", *rule])

    def _addresses(self, name: str) -> list[str]:
        networks = self._must(name).attrs["NetworkSettings"]["Networks"] or {}
        return [cfg["IPAddress"] for cfg in networks.values() if cfg.get("IPAddress")]

    def _pid(self, name: str) -> int:
        found = self._must(name)
        pid = int(found.attrs["State"].get("Pid") or 0)
        if not pid:
            raise DockerError(f"{name} is not running: it has no network namespace to drop packets in")
        return pid

    # --- helpers ----------------------------------------------------------------------------

    def _must(self, name: str) -> Any:
        found = self.container(name)
        if found is None:
            raise DockerError(f"no container named {name}", hint="is the stack up? (chaoslab stack status)")
        return found

    def _call(self, name: str, what: str, fn: Callable[[Any], Any]) -> None:
        errors = import_sdk().errors
        try:
            fn(self._must(name))
        except errors.DockerException as exc:
            raise DockerError(f"docker {what} {name} failed: {exc}") from exc


def stand_in_name(container: str) -> str:
    return f"{container}-down"


def _params(action: Action) -> DockerParams:
    if not isinstance(action.params, Kill | Stop | Pause | Restart | Throttle | Disconnect | Drop):
        raise DockerError(f"{action.label}: {action.driver.value} {action.op.value} is not a Docker operation")
    return action.params


def _drop_rule(chain: Chain, probability: float, destinations: list[str], comment: str,
               ports: tuple[int, ...] = ()) -> tuple[str, ...]:
    rule = [chain.value]
    if destinations:
        rule += ["-d", ",".join(destinations)]
    if ports:
        rule += ["-p", "tcp", "-m", "multiport", "--dports", ",".join(str(p) for p in ports)]
    if probability < 1.0:
        rule += ["-m", "statistic", "--mode", "random", "--probability", f"{probability:.6f}"]
    return (*rule, "-m", "comment", "--comment", comment, "-j", "DROP")


def _require_netns_tools() -> None:
    missing = [tool for tool in ("nsenter", "iptables") if shutil.which(tool) is None]
    if missing:
        raise EngineUnavailable(f"packet loss inside a container needs {' and '.join(missing)} on this host",
                                hint="apt-get install util-linux iptables")
    if os.geteuid() != 0:
        raise EngineUnavailable("packet loss inside a container needs root (nsenter into its network namespace)")


def _iptables(pid: int, args: list[str], *, check: bool = True) -> int:
    argv = ["nsenter", "-t", str(pid), "-n", "iptables", "-w", "5", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerError(f"`{' '.join(argv)}` failed: {exc}") from exc
    if check and done.returncode != 0:
        raise DockerError(f"`{' '.join(argv)}` failed with exit code {done.returncode}: {done.stderr.strip()}")
    return done.returncode


def _cpu_command(name: str, original: CpuLimit) -> str:
    quota = original.cpu_quota
    period = original.cpu_period or CPU_PERIOD
    return f"docker update --cpu-quota {quota if quota > 0 else -1} --cpu-period {period} {name}"
