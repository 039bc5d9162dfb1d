"""Draft a topology from a Compose file: who calls whom, from ``depends_on`` and URLs in the environment.

``chaoslab topology from-compose docker-compose.yml`` prints a topology a user then
edits: the call graph is read from the file (``depends_on``, ``links``, and environment
values that name another service as a URL host, such as ``DB_URL=postgres://db:5432/x``),
the replicas from ``deploy.replicas`` or ``scale``. What a Compose file cannot say
(service times, workers, timeouts, retries) gets a placeholder marked ``TODO``.
Services that publish ports and that nobody calls become entrypoints.

A call that would close a loop (A calls B calls A) is left out with a comment, since a
topology refuses calls that always loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import InputError, Location

_URL_HOST = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/\s]*@)?([A-Za-z0-9._-]+)")
PLACEHOLDER_TIME = "{dist: lognormal, median: 5ms, p99: 50ms}"


@dataclass
class DraftService:
    name: str
    replicas: int = 1
    calls: dict[str, str] = field(default_factory=dict)  # callee -> why we think so
    dropped: dict[str, str] = field(default_factory=dict)  # callee -> why it was left out
    published: bool = False


def read_compose(path: Path) -> dict[str, Any]:
    import yaml

    from chaos.model.inputs import read_input
    from chaos.model.yamlnodes import compose_text

    text = read_input(path, str(path))  # a FIFO, a device or a huge file is refused unread
    compose_text(text, str(path))  # depth, size and tags checked before PyYAML builds anything
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Location(str(path), mark.line + 1, mark.column + 1) if mark else Location(str(path))
        raise InputError(f"YAML syntax error: {getattr(exc, 'problem', exc)}", where) from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict) or not data["services"]:
        raise InputError("not a Compose file: no 'services' mapping", Location(str(path)))
    return data


def draft(compose: Mapping[str, Any]) -> list[DraftService]:
    """Services in file order, with the calls found for each."""
    specs: Mapping[str, Any] = compose["services"]
    names = list(specs)
    services = {name: DraftService(name, _replicas(specs[name] or {}), published=bool((specs[name] or {})
                                                                                      .get("ports")))
                for name in names}
    for name in names:
        for callee, why in _references(name, specs[name] or {}, names):
            if callee in services[name].calls:
                continue
            if _reaches(services, callee, name):
                services[name].dropped[callee] = f"{why}, left out: {callee} already reaches {name}"
            else:
                services[name].calls[callee] = why
    return list(services.values())


def _replicas(spec: Mapping[str, Any]) -> int:
    deploy = spec.get("deploy") or {}
    value = deploy.get("replicas", spec.get("scale", 1))
    return value if isinstance(value, int) and value >= 1 else 1


def _references(name: str, spec: Mapping[str, Any], names: list[str]) -> Iterable[tuple[str, str]]:
    depends = spec.get("depends_on") or ()
    for callee in (depends if isinstance(depends, (list, dict)) else ()):
        yield str(callee), "depends_on"
    for link in spec.get("links") or ():
        yield str(link).split(":")[0], "links"
    for key, value in _environment(spec.get("environment")):
        for host in _URL_HOST.findall(value):
            if host in names and host != name:
                yield host, f"environment {key}"


def _environment(env: Any) -> Iterable[tuple[str, str]]:
    if isinstance(env, dict):
        return [(str(k), str(v)) for k, v in env.items() if v is not None]
    if isinstance(env, list):
        return [(str(item).partition("=")[0], str(item).partition("=")[2]) for item in env]
    return []


def _reaches(services: Mapping[str, DraftService], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        current = stack.pop()
        if current == goal:
            return True
        if current in seen or current not in services:
            continue
        seen.add(current)
        stack.extend(services[current].calls)
    return False


def entrypoints(services: list[DraftService]) -> list[str]:
    """Services users call: published ones nobody else calls, else any nobody calls, else the first."""
    called = {callee for s in services for callee in s.calls}
    roots = [s.name for s in services if s.name not in called]
    published = [name for name in roots if next(s for s in services if s.name == name).published]
    return published or roots or [services[0].name]


def render(services: list[DraftService], name: str, source: str) -> str:
    entries = entrypoints(services)
    known = {s.name for s in services}
    lines = [
        f"# Drafted by 'chaoslab topology from-compose {source}': the call graph comes from the Compose file;",
        "# every number marked TODO is a placeholder. Measure and set them before trusting a result.",
        f"name: {name}",
        "",
        "entrypoints:",
    ]
    share = 1.0 / len(entries)
    for entry in entries:
        lines.append(f"  {entry}: {{to: {entry}, share: {share:.3g}, timeout: 5s}}")
    lines += ["", "services:"]
    for svc in services:
        lines.append(f"  {svc.name}:")
        lines.append(f"    replicas: {svc.replicas}")
        lines.append("    workers: 8                  # TODO: requests one replica works on at once")
        lines.append(f"    service_time: {PLACEHOLDER_TIME}   # TODO: measure")
        calls = [(c, why) for c, why in svc.calls.items() if c in known]
        lines.append("    calls:" if calls else "    calls: []")
        for callee, why in calls:
            lines.append(f"      - {{to: {callee}, timeout: 1s}}   # from {why}; TODO: timeout, retries")
        for callee, why in svc.dropped.items():
            lines.append(f"      # - {{to: {callee}}}   # {why}")
    return "\n".join(lines) + "\n"


def topology_name(path: Path) -> str:
    base = path.resolve().parent.name.lower() or "stack"
    return re.sub(r"[^a-z0-9_-]+", "-", base).strip("-") or "stack"


def from_compose(path: Path, name: str | None = None) -> str:
    """The draft topology of the Compose file at ``path``, checked to load as a topology."""
    text = render(draft(read_compose(path)), name or topology_name(path), str(path))
    _check(text, path)
    return text


def _check(text: str, path: Path) -> None:
    import yaml

    from chaos.model.parsing import Context, convert
    from chaos.model.topology import Topology

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert node is not None  # render() never writes an empty document
    try:
        convert(node, Topology, Context(f"<draft of {path}>", path.parent), "")
    except InputError as exc:  # a bug here, not the user's: say so
        raise InputError(f"the drafted topology does not load ({exc}); please report this", Location(str(path))) \
            from None
