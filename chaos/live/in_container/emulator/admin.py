"""The emulator's control routes: health, metrics, faults, call policies, state.

All answer at once (no route here waits on the worker pool or on a hang), so a
driver can always see and change a replica, even while it is hung or saturated.

    GET    /health               {"ok": true, "service", "replica"}
    GET    /metrics              Prometheus text exposition (see ``prometheus``)
    GET    /admin/metrics        cumulative counters as JSON (see ``metrics``): what the game day's scraper reads
    POST   /admin/faults         {"errors", "slowdown", "hang", "cold_start"}: each given key is set
    DELETE /admin/faults         clear every fault
    POST   /admin/calls/{callee} {"timeout_s", "retries", "breaker", "fallback", "cancel_on_timeout", "urls"}:
                                 each given key set on every call to ``callee`` (of every operation, fallbacks too)
    POST   /admin/calls/{callee}/faults  {"errors": ratio}: that share of this replica's attempts to
                                 ``callee`` fail at once with ``injected`` (an edge fault, made by its caller)
    DELETE /admin/calls/{callee}/faults  clear the edge's faults
    POST   /admin/operations/{name}/faults  {"errors": ratio, "delay_s", "jitter_s"}: faults of one declared
                                 operation only (its requests fail, its answers are late); each given key is set
    DELETE /admin/operations/{name}/faults  clear the operation's faults
    POST   /admin/admission      {"limit": requests per second, or null to lift it}
    GET    /admin/state          the faults, each operation's faults, the call policies (each with its edge
                                 faults) and the admission limit
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any, Protocol

from chaos.core.admission import AdmissionBucket
from chaos.core.errors import InputError
from chaos.live.in_container.exposition import CONTENT_TYPE as PROMETHEUS_TEXT
from chaos.live.in_container.http import JSON, Request, Response
from chaos.live.in_container.stackspec import JsonFields, ServiceSpec, policy_update

from .calls import Peer
from .faults import ColdStart, EdgeFaults, Faults, FaultSettings, OperationFaults

FAULT_KEYS = ("errors", "slowdown", "hang", "cold_start")
EDGE_FAULT_KEYS = ("errors",)
OPERATION_FAULT_KEYS = ("errors", "delay_s", "jitter_s")
CALLS_PREFIX = "/admin/calls/"
OPERATIONS_PREFIX = "/admin/operations/"
EDGE_FAULTS_SUFFIX = "/faults"


def json_response(status: int, body: object) -> Response:
    return Response(status, json.dumps(body, separators=(",", ":")).encode(), JSON)


def error_response(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


class Served(Protocol):
    """What the routes read and change on the replica they serve (``app.Emulator``, which owns an Admin:
    a protocol here, so that this module need not import the app that imports it)."""

    service: ServiceSpec
    replica: int
    faults: Faults
    admission: AdmissionBucket
    edges: dict[str, Peer]
    operation_faults: dict[str, OperationFaults]  # by declared operation (none without operations)
    clock: Callable[[], float]

    @property
    def work_paths(self) -> tuple[str, ...]: ...

    def metrics_json(self) -> dict[str, Any]: ...

    def metrics_text(self) -> bytes: ...

    def state_json(self) -> dict[str, Any]: ...


class Admin:
    """Routes other than ``/work`` for one emulator."""

    def __init__(self, emulator: Served) -> None:
        self.emulator = emulator
        self.routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/health"): self.health,
            ("GET", "/metrics"): self.metrics,
            ("GET", "/admin/metrics"): self.metrics_json,
            ("GET", "/admin/state"): self.state,
            ("POST", "/admin/faults"): self.set_faults,
            ("DELETE", "/admin/faults"): self.clear_faults,
            ("POST", "/admin/admission"): self.set_admission,
        }

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith(CALLS_PREFIX):
            return self.calls_route(request, path)
        if path.startswith(OPERATIONS_PREFIX) and path.endswith(EDGE_FAULTS_SUFFIX):
            return self.operation_faults(request, path[len(OPERATIONS_PREFIX): -len(EDGE_FAULTS_SUFFIX)])
        route = self.routes.get((request.method, path))
        if route is not None:
            return route(request)
        if any(p == path for _, p in self.routes):
            allowed = ", ".join(m for m, p in self.routes if p == path)
            return error_response(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} {path}: use {allowed}")
        known = ", ".join(sorted({p for _, p in self.routes} | {*self.emulator.work_paths, CALLS_PREFIX + "{callee}",
                                                                CALLS_PREFIX + "{callee}" + EDGE_FAULTS_SUFFIX,
                                                                OPERATIONS_PREFIX + "{name}" + EDGE_FAULTS_SUFFIX}))
        return error_response(HTTPStatus.NOT_FOUND, f"no route {path} (routes: {known})")

    def health(self, request: Request) -> Response:
        e = self.emulator
        return json_response(HTTPStatus.OK, {"ok": True, "service": e.service.name, "replica": e.replica})

    def metrics(self, request: Request) -> Response:
        return Response(HTTPStatus.OK, self.emulator.metrics_text(), PROMETHEUS_TEXT)

    def metrics_json(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.emulator.metrics_json())

    def state(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.emulator.state_json())

    def set_faults(self, request: Request) -> Response:
        try:
            body = _json_object(request)
            settings = fault_update(self.emulator.faults.settings, body, self.emulator.clock())
        except InputError as exc:
            return error_response(HTTPStatus.BAD_REQUEST, str(exc))
        self.emulator.faults.apply(settings)
        return self.state(request)

    def clear_faults(self, request: Request) -> Response:
        self.emulator.faults.apply(FaultSettings())
        return self.state(request)

    def set_admission(self, request: Request) -> Response:
        try:
            f = JsonFields(_json_object(request), "", "POST /admin/admission")
            limit = f.number("limit", gt=0, nullable=True)
            f.done(("limit",))
        except InputError as exc:
            return error_response(HTTPStatus.BAD_REQUEST, str(exc))
        self.emulator.admission.set(limit, self.emulator.clock())
        return self.state(request)

    def calls_route(self, request: Request, path: str) -> Response:
        """``/admin/calls/{callee}`` (its policy) and ``/admin/calls/{callee}/faults`` (its edge faults)."""
        callee = path[len(CALLS_PREFIX):]
        faults = callee.endswith(EDGE_FAULTS_SUFFIX)
        if faults:
            callee = callee[: -len(EDGE_FAULTS_SUFFIX)]
        allowed = ("POST", "DELETE") if faults else ("POST",)
        if request.method not in allowed:
            return error_response(HTTPStatus.METHOD_NOT_ALLOWED, f"use {' or '.join(allowed)} on {path}")
        edge = self.emulator.edges.get(callee)
        if edge is None:
            known = ", ".join(sorted(self.emulator.edges)) or "none"
            return error_response(HTTPStatus.NOT_FOUND,
                                  f"'{self.emulator.service.name}' does not call '{callee}' (it calls: {known})")
        try:
            if not faults:
                body, source = _json_object(request), f"POST {request.path}"
                edge.update(lambda spec: policy_update(spec, body, source))
            elif request.method == "POST":
                edge.faults = edge_fault_update(edge.faults, _json_object(request), f"POST {request.path}")
            else:
                edge.faults = EdgeFaults()
        except InputError as exc:
            return error_response(HTTPStatus.BAD_REQUEST, str(exc))
        return self.state(request)

    def operation_faults(self, request: Request, name: str) -> Response:
        """``/admin/operations/{name}/faults``: the faults of one declared operation."""
        path = request.path.rstrip("/")
        if request.method not in ("POST", "DELETE"):
            return error_response(HTTPStatus.METHOD_NOT_ALLOWED, f"use POST or DELETE on {path}")
        faults = self.emulator.operation_faults
        if name not in faults:
            known = ", ".join(sorted(faults)) or "none"
            return error_response(HTTPStatus.NOT_FOUND,
                                  f"'{self.emulator.service.name}' has no operation '{name}' (its operations: {known})")
        try:
            faults[name] = (operation_fault_update(faults[name], _json_object(request), f"POST {path}")
                            if request.method == "POST" else OperationFaults())
        except InputError as exc:
            return error_response(HTTPStatus.BAD_REQUEST, str(exc))
        return self.state(request)


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object")
    return body


def fault_update(current: FaultSettings, body: dict[str, Any], now: float) -> FaultSettings:
    """``current`` with each fault named in ``body`` set to its new value (others unchanged)."""
    f = JsonFields(body, "", "POST /admin/faults")
    changes: dict[str, Any] = {}
    if "errors" in body:
        changes["errors"] = f.number("errors", ge=0, le=1)
    if "slowdown" in body:
        changes["slowdown"] = f.number("slowdown", gt=0)
    if "hang" in body:
        changes["hang"] = f.boolean("hang")
    if "cold_start" in body:
        changes["cold_start"] = _cold_start(f.raw("cold_start"), now)
    f.done(FAULT_KEYS)
    return replace(current, **changes)


def edge_fault_update(current: EdgeFaults, body: dict[str, Any], source: str) -> EdgeFaults:
    """``current`` with each edge fault named in ``body`` set to its new value."""
    f = JsonFields(body, "", source)
    changes: dict[str, Any] = {}
    if "errors" in body:
        changes["errors"] = f.number("errors", ge=0, le=1)
    f.done(EDGE_FAULT_KEYS)
    return replace(current, **changes)


def operation_fault_update(current: OperationFaults, body: dict[str, Any], source: str) -> OperationFaults:
    """``current`` with each operation fault named in ``body`` set to its new value."""
    f = JsonFields(body, "", source)
    changes: dict[str, Any] = {}
    if "errors" in body:
        changes["errors"] = f.number("errors", ge=0, le=1)
    for key in ("delay_s", "jitter_s"):
        if key in body:
            changes[key] = f.number(key, ge=0)
    f.done(OPERATION_FAULT_KEYS)
    return replace(current, **changes)


def _cold_start(raw: object, now: float) -> ColdStart | None:
    if raw is None:
        return None
    f = JsonFields(raw, "cold_start", "POST /admin/faults")
    factor = f.number("factor", ge=1)
    decay = f.number("decay_s", gt=0)
    f.done(("factor", "decay_s"))
    assert factor is not None and decay is not None
    return ColdStart(factor, decay, now)
