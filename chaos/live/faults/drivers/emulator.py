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
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from typing import Any

from chaos.errors import LiveError
from chaos.live.faults.drivers.base import Action, ContainerProbe, DriverKind, Handle, InjectContext, Presence, no_probe
from chaos.live.stack.emulator_client import ADMIN_TIMEOUT, AdminClient, AdminUnreachable


class EmulatorOp(enum.Enum):
    SET = "set"                # params: admin {container: admin URL}, set {errors|slowdown|hang: value}
    COLD_START = "cold_start"  # params: admin, cold_start {factor, decay_s}
    CALLS = "calls"            # params: admin, callee, policy {timeout_s|retries|breaker|fallback|urls: value}
    ADMISSION = "admission"    # params: admin, limit (requests per second per replica, or None)
    EDGE_ERRORS = "edge_errors"  # params: admin (the caller's replicas), callee, set {errors: ratio}


def combine(settings: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The admin state of several overlapping faults, combined as the simulator combines them."""
    errors = 1.0 - math.prod(1.0 - float(s["errors"]) for s in settings if "errors" in s)
    slowdown = math.prod(float(s["slowdown"]) for s in settings if "slowdown" in s)
    hang = any(bool(s.get("hang")) for s in settings)
    return {"errors": errors, "slowdown": slowdown, "hang": hang}


class EmulatorDriver:
    kind = DriverKind.EMULATOR

    def __init__(self, *, probe: ContainerProbe = no_probe, timeout: float = ADMIN_TIMEOUT) -> None:
        self.probe = probe
        self.timeout = timeout
        self._active: dict[str, dict[str, Mapping[str, Any]]] = {}  # admin URL -> fault id -> settings
        self._edges: dict[tuple[str, str], dict[str, float]] = {}  # (admin URL, callee) -> fault id -> ratio

    def preflight(self, action: Action) -> None:
        callee = action.params.get("callee")
        for container, url in action.params["admin"].items():
            try:
                state = AdminClient(url, self.timeout).state()
            except LiveError as exc:
                raise LiveError(f"{action.label}: the emulator admin API of {container} does not answer: "
                                f"{exc.message}", hint="is the stack up and healthy? (chaoslab stack status)") from None
            if EmulatorOp(action.op) is EmulatorOp.EDGE_ERRORS and callee not in (state.get("calls") or {}):
                raise LiveError(f"{action.label}: {container} does not call {callee}",
                                hint="was the stack generated from this experiment's topology?")

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        op = EmulatorOp(action.op)
        if op in (EmulatorOp.CALLS, EmulatorOp.ADMISSION):
            return self._change_policy(action, ctx)
        handle = action.handle()
        ctx.record(handle)
        for container, url in action.params["admin"].items():
            if op is EmulatorOp.SET:
                self._active.setdefault(url, {})[action.id] = dict(action.params["set"])
                self._post(container, url)
            elif op is EmulatorOp.EDGE_ERRORS:
                callee = str(action.params["callee"])
                self._edges.setdefault((url, callee), {})[action.id] = float(action.params["set"]["errors"])
                self._post_edge(container, url, callee)
            else:
                self._send(container, url, {"cold_start": action.params["cold_start"]})
        return handle

    def revert(self, handle: Handle) -> None:
        op = EmulatorOp(handle["op"])
        left = []
        for container, url in handle["params"]["admin"].items():
            try:
                if op in (EmulatorOp.CALLS, EmulatorOp.ADMISSION):
                    self._restore_policy(handle, container, url)
                elif op is EmulatorOp.SET:
                    self._active.get(url, {}).pop(handle["id"], None)
                    self._post(container, url)
                elif op is EmulatorOp.EDGE_ERRORS:
                    callee = str(handle["params"]["callee"])
                    self._edges.get((url, callee), {}).pop(handle["id"], None)
                    self._post_edge(container, url, callee)
                else:
                    self._send(container, url, {"cold_start": None})  # null ends the cold start, nothing else
            except LiveError as exc:
                left.append(f"{container}: {exc.message}")
        if left:
            raise LiveError(f"{handle['label']}: could not undo on {len(left)} replica(s): " + "; ".join(left))

    # --- playbook changes: a call's policy, an admission limit -------------------------------

    def _change_policy(self, action: Action, ctx: InjectContext) -> Handle:
        """Journal what each replica has now, then change it; the revert puts the old value back."""
        op = EmulatorOp(action.op)
        callee = str(action.params.get("callee", ""))
        previous: dict[str, Any] = {}
        for container, url in action.params["admin"].items():
            state = AdminClient(url, self.timeout).state()
            if op is EmulatorOp.CALLS:
                current = (state.get("calls") or {}).get(callee)
                if current is None:
                    raise LiveError(f"{action.label}: {container} does not call {callee}")
                previous[container] = {k: v for k, v in current.items() if k in action.params["policy"]}
            else:
                previous[container] = (state.get("admission") or {}).get("limit")
        handle = action.handle(previous=previous)
        ctx.record(handle)
        for url in action.params["admin"].values():
            client = AdminClient(url, self.timeout)
            if op is EmulatorOp.CALLS:
                client.set_call(callee, action.params["policy"])
            else:
                client.set_admission(action.params["limit"])
        return handle

    def _restore_policy(self, handle: Handle, container: str, url: str) -> None:
        if container not in handle.get("previous", {}):
            return  # journaled before this replica was looked at: nothing was changed on it
        client = AdminClient(url, self.timeout)
        before = handle["previous"][container]
        try:
            if EmulatorOp(handle["op"]) is EmulatorOp.CALLS:
                client.set_call(handle["params"]["callee"], before)
            else:
                client.set_admission(before)
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

    def undo_hint(self, handle: Handle) -> list[str]:
        op = EmulatorOp(handle["op"])
        previous = handle.get("previous", {})
        if op is EmulatorOp.CALLS:
            return [f"curl -sS -X POST -d '{json.dumps(previous[c])}' {url}/calls/{handle['params']['callee']}"
                    for c, url in handle["params"]["admin"].items() if c in previous]
        if op is EmulatorOp.ADMISSION:
            return [f"curl -sS -X POST -d '{json.dumps({'limit': previous[c]})}' {url}/admission"
                    for c, url in handle["params"]["admin"].items() if c in previous]
        if op is EmulatorOp.EDGE_ERRORS:
            return [f"curl -sS -X DELETE {url}/calls/{handle['params']['callee']}/faults"
                    for url in handle["params"]["admin"].values()]
        return [f"curl -sS -X DELETE {url}/faults" for url in handle["params"]["admin"].values()]

    def _post(self, container: str, url: str) -> None:
        settings = list(self._active.get(url, {}).values())
        if settings:
            self._send(container, url, combine(settings))
            return
        self._active.pop(url, None)
        self._send(container, url, None)

    def _send(self, container: str, url: str, body: Mapping[str, Any] | None) -> None:
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
                client.set_call_faults(callee, {"errors": combine([{"errors": r} for r in ratios])["errors"]})
            else:
                self._edges.pop((url, callee), None)
                client.clear_call_faults(callee)
        except AdminUnreachable:
            if self.probe(container) in (Presence.STOPPED, Presence.ABSENT):
                return  # down: it starts with no edge fault, and gets the current ones when it starts again
            raise
