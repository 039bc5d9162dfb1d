"""Service faults through chaoslab's emulator admin API: errors, slowdown, hang, cold start; edge errors,
made by the caller; and the changes a playbook makes live (a call's policy, an admission limit), journaled
and undone the same way.

``POST /admin/faults`` sets the current value of each key it names, so faults that overlap
on one service are combined here the way the simulator combines them (independent error
ratios: 1 - prod(1 - r); slowdown factors multiply; hung while any hang lasts), and every
change posts the combined state. When the last fault on a replica ends, ``DELETE
/admin/faults`` clears it. A replica that is down (crashed) is skipped: a restarted
emulator starts clean, and the runner posts the faults still in effect to it again
(:meth:`EmulatorDriver.reassert`).

An ``errors`` fault on an edge is set on every replica of the caller (``POST
/admin/calls/{callee}/faults``): the caller fails that share of its attempts at once with
``injected`` and counts them in its ``calls[callee]`` view, as the simulator does.
Overlapping ones on one edge combine as service errors do.

A latency or errors fault on one operation of a service is set on every replica of the
service (``POST /admin/operations/{name}/faults``): that operation's requests fail at once
with ``injected`` or its answers are late, and no other path is touched. Overlapping ones on
one operation combine as the simulator combines them (error ratios as above, delays and
jitters add up); the last one to end clears the operation's faults.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.errors import LiveError
from chaos.live.faults.actions import (
    Action,
    CallPolicy,
    DriverKind,
    FailCalls,
    FaultOperation,
    Handle,
    LimitReplaced,
    OperationFaults,
    PolicyReplaced,
    ServiceFaults,
    SetAdmission,
    SetCallPolicy,
    SetFaults,
    StartCold,
)
from chaos.live.faults.codec import CodecError, Keep, from_json, to_json
from chaos.live.faults.drivers.base import ContainerProbe, InjectContext, Presence, no_probe
from chaos.live.stack.emulator_client import ADMIN_TIMEOUT, AdminClient, AdminUnreachable

EmulatorParams = SetFaults | StartCold | SetCallPolicy | SetAdmission | FailCalls | FaultOperation


@dataclass(frozen=True)
class InEffect:
    """The faults in effect on one replica, as ``POST /admin/faults`` sets them."""

    errors: float = 0.0
    slowdown: float = 1.0
    hang: bool = False


def combine(settings: Sequence[ServiceFaults]) -> InEffect:
    """The admin state of several overlapping faults, combined as the simulator combines them."""
    errors = 1.0 - math.prod(1.0 - s.errors for s in settings if not isinstance(s.errors, Keep))
    slowdown = math.prod(s.slowdown for s in settings if not isinstance(s.slowdown, Keep))
    hang = any(s.hang is True for s in settings)
    return InEffect(errors, slowdown, hang)


def combine_operation(faults: Sequence[OperationFaults]) -> OperationFaults:
    """Several overlapping faults on one operation, as the simulator sums them: errors independent, delays added."""
    return OperationFaults(1.0 - math.prod(1.0 - f.errors for f in faults), sum(f.delay_s for f in faults),
                           sum(f.jitter_s for f in faults))


class EmulatorDriver:
    kind = DriverKind.EMULATOR

    def __init__(self, *, probe: ContainerProbe = no_probe, timeout: float = ADMIN_TIMEOUT) -> None:
        self.probe = probe
        self.timeout = timeout
        self._active: dict[str, dict[str, ServiceFaults]] = {}  # admin URL -> fault id -> its faults
        self._edges: dict[tuple[str, str], dict[str, float]] = {}  # (admin URL, callee) -> fault id -> ratio
        # (admin URL, operation) -> fault id -> its faults
        self._operations: dict[tuple[str, str], dict[str, OperationFaults]] = {}

    def preflight(self, action: Action) -> None:
        params = _params(action)
        for container, url in params.admin.items():
            try:
                state = AdminClient(url, self.timeout).state()
            except LiveError as exc:
                raise LiveError(f"{action.label}: the emulator admin API of {container} does not answer: "
                                f"{exc.message}", hint="is the stack up and healthy? (chaoslab stack status)") from None
            if isinstance(params, FailCalls) and params.callee not in (state.get("calls") or {}):
                raise LiveError(f"{action.label}: {container} does not call {params.callee}",
                                hint="was the stack generated from this experiment's topology?")
            if isinstance(params, FaultOperation) and params.operation not in (state.get("operations") or {}):
                raise LiveError(f"{action.label}: {container} has no operation {params.operation}",
                                hint="was the stack generated from this experiment's topology?")

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        params = _params(action)
        if isinstance(params, SetCallPolicy | SetAdmission):
            return self._change_policy(action, params, ctx)
        handle = action.handle()
        ctx.record(handle)
        for container, url in params.admin.items():
            if isinstance(params, SetFaults):
                self._active.setdefault(url, {})[action.id] = params.faults
                self._post(container, url)
            elif isinstance(params, FailCalls):
                self._edges.setdefault((url, params.callee), {})[action.id] = params.faults.errors
                self._post_edge(container, url, params.callee)
            elif isinstance(params, FaultOperation):
                self._operations.setdefault((url, params.operation), {})[action.id] = params.faults
                self._post_operation(container, url, params.operation)
            else:
                self._send(container, url, {"cold_start": to_json(params.cold_start)})
        return handle

    def revert(self, handle: Handle) -> None:
        params = _params(handle.action)
        left = []
        for container, url in params.admin.items():
            try:
                if isinstance(params, SetCallPolicy | SetAdmission):
                    self._restore_policy(handle, params, container, url)
                elif isinstance(params, SetFaults):
                    self._active.get(url, {}).pop(handle.id, None)
                    self._post(container, url)
                elif isinstance(params, FailCalls):
                    self._edges.get((url, params.callee), {}).pop(handle.id, None)
                    self._post_edge(container, url, params.callee)
                elif isinstance(params, FaultOperation):
                    self._operations.get((url, params.operation), {}).pop(handle.id, None)
                    self._post_operation(container, url, params.operation)
                else:
                    self._send(container, url, {"cold_start": None})  # null ends the cold start, nothing else
            except LiveError as exc:
                left.append(f"{container}: {exc.message}")
        if left:
            raise LiveError(f"{handle.label}: could not undo on {len(left)} replica(s): " + "; ".join(left))

    # --- playbook changes: a call's policy, an admission limit -------------------------------

    def _change_policy(self, action: Action, params: SetCallPolicy | SetAdmission, ctx: InjectContext) -> Handle:
        """Journal what each replica has now, then change it; the revert puts the old value back."""
        policies: dict[str, CallPolicy] = {}
        limits: dict[str, float | None] = {}
        for container, url in params.admin.items():
            state = AdminClient(url, self.timeout).state()
            if isinstance(params, SetCallPolicy):
                current = (state.get("calls") or {}).get(params.callee)
                if current is None:
                    raise LiveError(f"{action.label}: {container} does not call {params.callee}")
                policies[container] = _policy_now(current, params.policy.keys(), action.label, container)
            else:
                limits[container] = (state.get("admission") or {}).get("limit")
        handle = action.handle(PolicyReplaced(policies) if isinstance(params, SetCallPolicy) else LimitReplaced(limits))
        ctx.record(handle)
        for url in params.admin.values():
            client = AdminClient(url, self.timeout)
            if isinstance(params, SetCallPolicy):
                client.set_call(params.callee, params.policy.json())
            else:
                client.set_admission(params.limit)
        return handle

    def _restore_policy(self, handle: Handle, params: SetCallPolicy | SetAdmission, container: str, url: str) -> None:
        client = AdminClient(url, self.timeout)
        try:
            if isinstance(params, SetCallPolicy):
                policies = handle.undo_info(PolicyReplaced).previous
                if container in policies:  # else journaled before this replica was looked at: nothing changed on it
                    client.set_call(params.callee, policies[container].json())
            else:
                limits = handle.undo_info(LimitReplaced).previous
                if container in limits:
                    client.set_admission(limits[container])
        except AdminUnreachable:
            # A replica that is down lost the change with its process: it starts with the stack's policy.
            if self.probe(container) in (Presence.STOPPED, Presence.ABSENT):
                return
            raise

    def reassert(self, containers: Mapping[str, str]) -> None:
        """Post the faults in effect to replicas that just started again (``{container: admin URL}``)."""
        for container, url in containers.items():
            if self._active.get(url):
                self._post(container, url)
            for (edge_url, callee), ratios in list(self._edges.items()):
                if edge_url == url and ratios:
                    self._post_edge(container, url, callee)
            for (op_url, operation), faults in list(self._operations.items()):
                if op_url == url and faults:
                    self._post_operation(container, url, operation)

    def undo_hint(self, handle: Handle) -> list[str]:
        params = _params(handle.action)
        admin = params.admin
        if isinstance(params, SetCallPolicy):
            policies = handle.undo_info(PolicyReplaced).previous
            return [f"curl -sS -X POST -d '{json.dumps(policies[c].json())}' {url}/calls/{params.callee}"
                    for c, url in admin.items() if c in policies]
        if isinstance(params, SetAdmission):
            limits = handle.undo_info(LimitReplaced).previous
            return [f"curl -sS -X POST -d '{json.dumps({'limit': limits[c]})}' {url}/admission"
                    for c, url in admin.items() if c in limits]
        if isinstance(params, FailCalls):
            return [f"curl -sS -X DELETE {url}/calls/{params.callee}/faults" for url in admin.values()]
        if isinstance(params, FaultOperation):
            return [f"curl -sS -X DELETE {url}/operations/{params.operation}/faults" for url in admin.values()]
        return [f"curl -sS -X DELETE {url}/faults" for url in admin.values()]

    def _post(self, container: str, url: str) -> None:
        settings = list(self._active.get(url, {}).values())
        if settings:
            self._send(container, url, to_json(combine(settings)))
            return
        self._active.pop(url, None)
        self._send(container, url, None)

    def _send(self, container: str, url: str, body: Mapping[str, object] | None) -> None:
        client = AdminClient(url, self.timeout)
        try:
            client.set_faults(body) if body is not None else client.clear_faults()
        except AdminUnreachable:
            # A replica that is down has no faults; it gets the current ones when it starts again.
            if self.probe(container) in (Presence.STOPPED, Presence.ABSENT):
                return
            raise

    def _post_edge(self, container: str, url: str, callee: str) -> None:
        """The edge's faults in effect on this caller replica, combined; cleared when none is left."""
        ratios = list(self._edges.get((url, callee), {}).values())
        client = AdminClient(url, self.timeout)
        try:
            if ratios:
                client.set_call_faults(callee, {"errors": combine([ServiceFaults(errors=r) for r in ratios]).errors})
            else:
                self._edges.pop((url, callee), None)
                client.clear_call_faults(callee)
        except AdminUnreachable:
            if self.probe(container) in (Presence.STOPPED, Presence.ABSENT):
                return  # down: it starts with no edge fault, and gets the current ones when it starts again
            raise

    def _post_operation(self, container: str, url: str, operation: str) -> None:
        """The operation's faults in effect on this replica, combined; cleared when none is left."""
        faults = list(self._operations.get((url, operation), {}).values())
        client = AdminClient(url, self.timeout)
        try:
            if faults:
                client.set_operation_faults(operation, to_json(combine_operation(faults)))
            else:
                self._operations.pop((url, operation), None)
                client.clear_operation_faults(operation)
        except AdminUnreachable:
            if self.probe(container) in (Presence.STOPPED, Presence.ABSENT):
                return  # down: it starts with none, and gets the current ones when it starts again
            raise


def _params(action: Action) -> EmulatorParams:
    if not isinstance(action.params, SetFaults | StartCold | SetCallPolicy | SetAdmission | FailCalls
                      | FaultOperation):
        raise LiveError(f"{action.label}: {action.driver.value} {action.op.value} is not an emulator operation")
    return action.params


def _policy_now(current: Mapping[str, object], keys: frozenset[str], label: str, container: str) -> CallPolicy:
    """The keys a change is about to set, as the replica has them now (from its ``/admin/state``)."""
    try:
        return from_json(CallPolicy, {key: value for key, value in current.items() if key in keys})
    except CodecError as exc:
        raise LiveError(f"{label}: {container} reports a call policy chaoslab cannot read: {exc}") from None
