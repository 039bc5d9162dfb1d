"""Network faults through Toxiproxy: toxics on an edge's proxies, or the proxies disabled.

Every toxic type of the API can be added (latency with jitter, bandwidth, slow_close,
timeout, reset_peer, slicer, limit_data), on either stream, with a toxicity: since every
call opens a new connection, a toxicity of 0.3 hits 30% of the calls. An edge fault applies
to every proxy of the edge (one per callee replica). Toxics are named
``chaoslab-<run>-<fault id>``, so a revert removes exactly what this run added.
"""

from __future__ import annotations

import json

from chaos.errors import ToxiproxyError
from chaos.live.faults.actions import Action, AddToxic, DisableProxies, DriverKind, Handle, ToxicAdded
from chaos.live.faults.drivers.base import ContainerProbe, Holds, InjectContext, Presence, no_probe
from chaos.live.stack.toxiproxy_client import ToxiproxyClient


def toxic_name(run_id: str, fault_id: str) -> str:
    return f"chaoslab-{run_id}-{fault_id}"


class ToxiproxyDriver:
    """Adds and removes toxics, disables and enables proxies, on any Toxiproxy API it is given."""

    kind = DriverKind.TOXIPROXY

    def __init__(self, run_id: str, *, probe: ContainerProbe = no_probe, timeout: float = 5.0) -> None:
        self.run_id = run_id
        self.probe = probe
        self.timeout = timeout
        self._disabled = Holds()

    def client(self, api: str) -> ToxiproxyClient:
        return ToxiproxyClient(api, timeout=self.timeout)

    def preflight(self, action: Action) -> None:
        client = self.client(_params(action).api)
        known = client.proxies()
        missing = [p for p in action.targets if p not in known]
        if missing:
            raise ToxiproxyError(f"{action.label}: Toxiproxy at {client.base_url} has no proxy "
                                 f"{', '.join(missing)}", hint=f"it has: {', '.join(sorted(known)) or 'none'}")

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        params = _params(action)
        client = self.client(params.api)
        if isinstance(params, AddToxic):
            handle = action.handle(ToxicAdded(toxic_name(self.run_id, action.id)))
            ctx.record(handle)
            for proxy in action.targets:
                client.add_toxic(proxy, params.type, stream=params.stream, name=handle.undo_info(ToxicAdded).toxic,
                                 toxicity=params.toxicity, attributes=params.attributes)
            return handle
        handle = action.handle()
        ctx.record(handle)
        for proxy in action.targets:
            if self._disabled.acquire(_key(params.api, proxy), action.id):
                client.disable_proxy(proxy)
        return handle

    def revert(self, handle: Handle) -> None:
        params = _params(handle.action)
        client = self.client(params.api)
        left: list[str] = []
        for proxy in handle.action.targets:
            try:
                if isinstance(params, AddToxic):
                    client.remove_toxic(proxy, handle.undo_info(ToxicAdded).toxic)
                elif self._disabled.release(_key(params.api, proxy), handle.id):
                    client.enable_proxy(proxy)
            except ToxiproxyError as exc:
                if exc.status == 404:
                    continue  # the proxy or the toxic is gone: nothing of this fault is left there
                if exc.status is None and self._server_gone(params):
                    return  # every proxy and toxic died with the server
                left.append(f"{proxy}: {exc.message}")
        if left:
            raise ToxiproxyError(f"{handle.label}: could not undo on {len(left)} proxy(ies): " + "; ".join(left))

    def _server_gone(self, params: AddToxic | DisableProxies) -> bool:
        # A Toxiproxy that was stopped or removed starts again from its config file: clean.
        return bool(params.container) and self.probe(params.container or "") in (Presence.ABSENT, Presence.STOPPED)

    def undo_hint(self, handle: Handle) -> list[str]:
        params = _params(handle.action)
        if isinstance(params, AddToxic):
            toxic = handle.undo_info(ToxicAdded).toxic
            return [f"curl -sS -X DELETE {params.api}/proxies/{proxy}/toxics/{toxic}"
                    for proxy in handle.action.targets]
        body = json.dumps({"enabled": True})
        return [f"curl -sS -X POST -d '{body}' {params.api}/proxies/{proxy}" for proxy in handle.action.targets]


def _params(action: Action) -> AddToxic | DisableProxies:
    if not isinstance(action.params, AddToxic | DisableProxies):
        raise ToxiproxyError(f"{action.label}: {action.driver.value} {action.op.value} is not a Toxiproxy operation")
    return action.params


def _key(api: str, proxy: str) -> str:
    return f"{api} {proxy}"
