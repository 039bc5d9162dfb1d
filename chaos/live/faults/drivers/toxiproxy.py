"""Network faults through Toxiproxy: toxics on an edge's proxies, or the proxies disabled.

Every toxic type of the API can be added (latency with jitter, bandwidth, slow_close,
timeout, reset_peer, slicer, limit_data), on either stream, with a toxicity: since every
call opens a new connection, a toxicity of 0.3 hits 30% of the calls. An edge fault applies
to every proxy of the edge (one per callee replica). Toxics are named
``chaoslab-<run>-<fault id>``, so a revert removes exactly what this run added.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from chaos.errors import ToxiproxyError
from chaos.live.faults.drivers.base import (
    Action,
    ContainerProbe,
    DriverKind,
    Handle,
    Holds,
    InjectContext,
    Presence,
    no_probe,
)
from chaos.live.in_container.toxiproxy.model import Stream, ToxicType
from chaos.live.stack.toxiproxy_client import ToxiproxyClient


class ToxiproxyOp(enum.Enum):
    ADD_TOXIC = "add_toxic"  # params: api, type, stream, toxicity, attributes
    DISABLE = "disable"      # params: api


def toxic_params(api: str, toxic: ToxicType, *, stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0,
                 attributes: Mapping[str, int] | None = None, container: str | None = None) -> dict[str, Any]:
    return {"api": api, "type": toxic.value, "stream": stream.value, "toxicity": toxicity,
            "attributes": dict(attributes or {}), "container": container}


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
        client = self.client(action.params["api"])
        known = client.proxies()
        missing = [p for p in action.targets if p not in known]
        if missing:
            raise ToxiproxyError(f"{action.label}: Toxiproxy at {client.base_url} has no proxy "
                                 f"{', '.join(missing)}", hint=f"it has: {', '.join(sorted(known)) or 'none'}")

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        op = ToxiproxyOp(action.op)
        params = action.params
        client = self.client(params["api"])
        if op is ToxiproxyOp.ADD_TOXIC:
            handle = action.handle(toxic=toxic_name(self.run_id, action.id))
            ctx.record(handle)
            for proxy in action.targets:
                client.add_toxic(proxy, ToxicType(params["type"]), stream=Stream(params["stream"]),
                                 name=handle["toxic"], toxicity=float(params["toxicity"]),
                                 attributes=params["attributes"])
            return handle
        handle = action.handle()
        ctx.record(handle)
        for proxy in action.targets:
            if self._disabled.acquire(_key(params["api"], proxy), action.id):
                client.disable_proxy(proxy)
        return handle

    def revert(self, handle: Handle) -> None:
        op = ToxiproxyOp(handle["op"])
        api = handle["params"]["api"]
        client = self.client(api)
        left: list[str] = []
        for proxy in handle["targets"]:
            try:
                if op is ToxiproxyOp.ADD_TOXIC:
                    client.remove_toxic(proxy, handle["toxic"])
                elif self._disabled.release(_key(api, proxy), handle["id"]):
                    client.enable_proxy(proxy)
            except ToxiproxyError as exc:
                if exc.status == 404:
                    continue  # the proxy or the toxic is gone: nothing of this fault is left there
                if exc.status is None and self._server_gone(handle):
                    return  # every proxy and toxic died with the server
                left.append(f"{proxy}: {exc.message}")
        if left:
            raise ToxiproxyError(f"{handle['label']}: could not undo on {len(left)} proxy(ies): " + "; ".join(left))

    def _server_gone(self, handle: Handle) -> bool:
        # A Toxiproxy that was stopped or removed starts again from its config file: clean.
        container = handle["params"].get("container")
        return bool(container) and self.probe(container) in (Presence.ABSENT, Presence.STOPPED)

    def undo_hint(self, handle: Handle) -> list[str]:
        api = handle["params"]["api"]
        if ToxiproxyOp(handle["op"]) is ToxiproxyOp.ADD_TOXIC:
            return [f"curl -sS -X DELETE {api}/proxies/{proxy}/toxics/{handle['toxic']}" for proxy in handle["targets"]]
        body = json.dumps({"enabled": True})
        return [f"curl -sS -X POST -d '{body}' {api}/proxies/{proxy}" for proxy in handle["targets"]]


def _key(api: str, proxy: str) -> str:
    return f"{api} {proxy}"
