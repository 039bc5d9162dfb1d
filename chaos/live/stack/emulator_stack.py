"""A topology as a running stack: one Compose file, one Toxiproxy, one emulator container per replica.

``chaoslab stack up TOPOLOGY --dir DIR`` writes, in DIR:

- ``compose.yaml``: a plain Compose file a user can read and run by hand. One Compose
  service per replica (``catalog-1``, ``catalog-2``), so one replica can be crashed or
  paused on its own; a ``toxiproxy`` service with one proxy per edge and callee replica
  (``catalog--cache-1``); every port published on 127.0.0.1 only;
- ``stack.json``: the stack spec every emulator reads (``chaos.live.in_container.stackspec``);
- ``toxiproxy.json``: the proxies, loaded by Toxiproxy before its API answers;
- ``prometheus.yml`` (and ``rules/``): the stack's own Prometheus, which scrapes every emulator
  replica and the Toxiproxy-compatible server every second (job = the service's name) and
  evaluates the experiment's alert rule files; a game day reads its services through it;
- ``state.json``: project, containers, published ports and proxies, for later steps.

Every call between services goes through Toxiproxy (``http://toxiproxy:<port>``), and so
does the load: each entrypoint's target replica has a proxy (``client--gateway-1``)
published on 127.0.0.1. That is what lets network faults hit one edge and not another.

Compose is driven through ``chaos.live.stack.compose`` (never pulls: images are built locally by
``chaos.live.stack.images``). Bringing a stack up waits until every container is healthy, up to a
deadline, and a stack that does not get there is taken down again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chaos
from chaos.errors import DockerError, InputError
from chaos.live.stack.mapped_scrape import LOAD_JOB, Relabel
from chaos.live.stack.mapped_scrape import digest as mapped_digest
from chaos.live.stack.scrape_choice import BY_SIZE, ScrapeChoice
from chaos.live.stack.state import (
    CLIENT,
    STATE_FILE,
    EntryState,
    ProxyState,
    ReplicaState,
    StackKind,
    StackState,
    read_state,
    write_state,
)
from chaos.live_states import ScrapeSource
from chaos.model.live_limits import generated_problems, refuse
from chaos.model.topology import Topology

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment

COMPOSE_FILE = "compose.yaml"
SPEC_FILE = "stack.json"
TOXIPROXY_FILE = "toxiproxy.json"
EMULATOR_PORT = 8080
TOXIPROXY_SERVICE = "toxiproxy"
TOXIPROXY_API_PORT = 8474
PROMETHEUS_SERVICE = "prometheus"
PROMETHEUS_PORT = 9090
PROMETHEUS_FILE = "prometheus.yml"
RULES_DIR = "rules"  # beside compose.yaml: the experiment's rule files, loaded by the stack's Prometheus
SCRAPE_INTERVAL_S = 1  # the finest scrape interval, a small stack's (scrape_interval_for)
# Prometheus's cost grows with the scrapes it makes a second. Measured on the shop stack (25 containers, 8 req/s):
# 8.8% of a core at a 1 s scrape, 4.5% at 2 s, 2.1% at 5 s, about 0.35% of a core per target scraped each second.
# A stack scrapes at the finest of these intervals that keeps it to SCRAPES_PER_S_BUDGET scrapes a second (about 5%
# of one core of the two this machine has, left to the emulators and the load): a trio at 1 s, the shop at 2 s.
SCRAPE_INTERVALS_S = (1, 2, 5)
SCRAPES_PER_S_BUDGET = 14
LOAD_HOST = "chaoslab-load-generator"  # its name inside the stack's Prometheus container (extra_hosts)
PLANNED_PROMETHEUS_IMAGE = "chaoslab/prometheus:planned"
FIRST_PROXY_PORT = 20001
IN_CONTAINER_DIR = "/etc/chaoslab"
TRACES_DIR = "traces"  # beside compose.yaml; where each emulator writes <service>-<replica>.jsonl
IN_CONTAINER_TRACES = "/var/lib/chaoslab/traces"
DEFAULT_STACKS_DIR = Path(".chaoslab") / "stacks"
LABEL = "chaoslab.stack"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _health_probe(port: int, path: str) -> list[str]:
    # busybox's wget where there is one (the locally built base): a Python start per check, in
    # every container every few seconds, took a whole core from a 24-container stack. Images
    # without wget (the official python:slim) fall back to the Python probe.
    url = f"http://127.0.0.1:{port}{path}"
    return ["CMD-SHELL", f"wget -q -O /dev/null {url} 2>/dev/null || python3 -m chaos.live.in_container.probe {url}"]


# A health check is an exec in each container, and a stack may run dozens of them alongside
# the load: every 5 s. ``start_period`` lets a slow first start count for nothing.
HEALTHCHECK_TIMING = {"interval": "5s", "timeout": "3s", "retries": 3, "start_period": "30s"}


# --------------------------------------------------------------------------- the plan (pure)


@dataclass(frozen=True)
class ProxyPlan:
    """One proxy inside the Toxiproxy container."""

    name: str
    caller: str  # a service, or CLIENT
    callee: str
    replica: int
    port: int

    @property
    def upstream(self) -> str:
        return f"{replica_service(self.callee, self.replica)}:{EMULATOR_PORT}"

    @property
    def listen(self) -> str:
        return f"0.0.0.0:{self.port}"

    @property
    def url(self) -> str:
        """How containers on the stack's network reach it."""
        return f"http://{TOXIPROXY_SERVICE}:{self.port}"

    @property
    def published(self) -> bool:
        return self.caller == CLIENT


@dataclass(frozen=True)
class StackPlan:
    """Everything ``stack up`` will create, decided before anything is touched."""

    project: str
    topology: Topology
    runtime_image: str
    toxiproxy_image: str | None  # None: chaoslab's own server from the runtime image
    proxies: tuple[ProxyPlan, ...]
    host_ports: Mapping[str, int]  # on 127.0.0.1: by Compose service ('catalog-1', 'toxiproxy') and proxy name
    source: str = ""  # the file the topology came from, for the header comment
    traces: bool = False  # emulators append their spans to TRACES_DIR (OTLP JSON lines), mounted from the host
    prometheus_image: str = PLANNED_PROMETHEUS_IMAGE
    rule_files: tuple[tuple[str, str], ...] = ()  # (file name under RULES_DIR, its text): Prometheus evaluates them
    # per emulator job: its metric_relabel_configs, which store its series under the experiment's names
    relabels: tuple[tuple[str, tuple[Relabel, ...]], ...] = ()
    evaluation_interval_s: int = SCRAPE_INTERVAL_S  # the experiment's: how often Prometheus evaluates its rules
    # Where a game day's load generator serves its metrics, on the host: the host's address on Docker's default
    # bridge and a port; the stack's Prometheus scrapes it there (None: the load is not scraped)
    load_metrics: tuple[str, int] | None = None
    scrape_interval_s: int = SCRAPE_INTERVAL_S  # the user's or the experiment's, else by the number of targets
    scrape_source: ScrapeSource = ScrapeSource.SIZE  # which of the three (scrape_choice)

    @property
    def replica_services(self) -> tuple[tuple[str, int], ...]:
        return tuple((s.name, i) for s in self.topology.services for i in range(1, s.replicas + 1))

    def container(self, compose_service: str) -> str:
        return f"{self.project}-{compose_service}"

    def proxies_of(self, caller: str, callee: str) -> tuple[ProxyPlan, ...]:
        return tuple(p for p in self.proxies if p.caller == caller and p.callee == callee)


def replica_service(service: str, index: int) -> str:
    return f"{service}-{index}"


def proxy_name(caller: str, callee: str, index: int) -> str:
    return f"{caller}--{callee}-{index}"


def default_project(topology: Topology) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", topology.name.lower()).strip("-_")
    return f"chaoslab-{slug or 'stack'}"


def published_names(topology: Topology) -> list[str]:
    """What gets a port on 127.0.0.1: each replica, the Toxiproxy API, each entrypoint proxy, Prometheus."""
    replicas = [replica_service(s.name, i) for s in topology.services for i in range(1, s.replicas + 1)]
    return ([*replicas, TOXIPROXY_SERVICE] + [p.name for p in _plan_proxies(topology) if p.published]
            + [PROMETHEUS_SERVICE])


def plan_stack(topology: Topology, *, project: str | None = None, runtime_image: str,
               toxiproxy_image: str | None = None, host_ports: Sequence[int], source: str = "",
               traces: bool = False, prometheus_image: str = PLANNED_PROMETHEUS_IMAGE,
               rule_files: Sequence[tuple[str, str]] = (),
               relabels: Mapping[str, tuple[Relabel, ...]] | None = None,
               evaluation_interval_s: int = SCRAPE_INTERVAL_S, load_metrics: tuple[str, int] | None = None,
               scrape: ScrapeChoice = BY_SIZE) -> StackPlan:
    """Name every container and proxy, give every proxy a port and every published part one of
    ``host_ports`` (as many as ``published_names``). Raises InputError for names Compose or DNS
    cannot take. ``scrape``: how often its Prometheus scrapes (``scrape_choice``; by the number of targets when it
    names no interval)."""
    refuse(generated_problems(topology))
    name = project or default_project(topology)
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", name):
        raise InputError(f"invalid stack name '{name}'",
                         hint="use lower-case letters, digits, '-' and '_', starting with a letter or digit")
    for service in topology.services:
        if not _NAME.match(service.name):
            raise service.error("name", f"service name '{service.name}' cannot name a container",
                                hint="live stacks need lower-case letters, digits, '.', '-' and '_'")
        if service.name in (TOXIPROXY_SERVICE, PROMETHEUS_SERVICE, LOAD_JOB):
            raise service.error("name", f"'{service.name}' is the name of one of the stack's own services",
                                hint="rename the service")
    proxies = _plan_proxies(topology)
    names = [p.name for p in proxies]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise InputError(f"proxy names clash: {', '.join(clash)} (a service named '{CLIENT}' calls an "
                         "entrypoint's target)", hint=f"rename the service '{CLIENT}'")
    wanted = published_names(topology)
    if len(host_ports) != len(wanted) or len(set(host_ports)) != len(wanted):
        raise ValueError(f"need {len(wanted)} distinct host ports, got {list(host_ports)}")  # a caller's bug
    ports = dict(zip(wanted, host_ports, strict=True))
    targets = (sum(s.replicas for s in topology.services) + (toxiproxy_image is None)
               + (load_metrics is not None))
    return StackPlan(name, topology, runtime_image, toxiproxy_image, proxies, ports, source, traces,
                     prometheus_image, tuple(rule_files), tuple(sorted((relabels or {}).items())),
                     evaluation_interval_s, load_metrics,
                     scrape_interval_for(targets) if scrape.seconds is None else scrape.seconds, scrape.source)


def scrape_interval_for(targets: int) -> int:
    """The stack's scrape interval, in seconds: the finest of SCRAPE_INTERVALS_S at which its Prometheus makes at
    most SCRAPES_PER_S_BUDGET scrapes a second (the measured cost above), the coarsest beyond."""
    for interval in SCRAPE_INTERVALS_S:
        if targets <= SCRAPES_PER_S_BUDGET * interval:
            return interval
    return SCRAPE_INTERVALS_S[-1]


def _plan_proxies(topology: Topology) -> tuple[ProxyPlan, ...]:
    pairs: list[tuple[str, str]] = list(topology.edges)
    for entry in topology.entrypoints:
        if (CLIENT, entry.to) not in pairs:
            pairs.append((CLIENT, entry.to))
    out: list[ProxyPlan] = []
    for caller, callee in pairs:
        for index in range(1, topology.service(callee).replicas + 1):
            out.append(ProxyPlan(proxy_name(caller, callee, index), caller, callee, index,
                                 FIRST_PROXY_PORT + len(out)))
    return tuple(out)


# --------------------------------------------------------------------------- files (pure)


def toxiproxy_config(plan: StackPlan) -> list[dict[str, object]]:
    """The proxies, as Toxiproxy's ``-config`` / ``POST /populate`` take them."""
    return [{"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": True} for p in plan.proxies]


def compose_document(plan: StackPlan) -> dict[str, Any]:
    """The Compose file as data: ``services`` in topology order, then ``toxiproxy``."""
    services: dict[str, Any] = {}
    for service, index in plan.replica_services:
        services[replica_service(service, index)] = _emulator_service(plan, service, index)
    services[TOXIPROXY_SERVICE] = _toxiproxy_service(plan)
    services[PROMETHEUS_SERVICE] = _prometheus_service(plan)
    return {"services": services, "networks": {"default": {"labels": {LABEL: plan.project}}}}


def _common(plan: StackPlan, compose_service: str, role: str, image: str, command: list[str]) -> dict[str, Any]:
    return {
        "image": image,
        "command": command,
        "container_name": plan.container(compose_service),
        "init": True,             # python as PID 1 would ignore SIGTERM and make 'down' wait
        "pull_policy": "never",   # images are built locally; a pull would hang on a registry
        "labels": {LABEL: plan.project, "chaoslab.role": role},
        "stop_grace_period": "5s",
    }


def _emulator_service(plan: StackPlan, service: str, index: int) -> dict[str, Any]:
    command = ["python3", "-m", "chaos.live.in_container.emulator", "--stack", f"{IN_CONTAINER_DIR}/{SPEC_FILE}",
               "--service", service, "--replica", str(index), "--host", "0.0.0.0", "--port", str(EMULATOR_PORT)]
    volumes = [f"./{SPEC_FILE}:{IN_CONTAINER_DIR}/{SPEC_FILE}:ro"]
    if plan.traces:
        command += ["--traces", IN_CONTAINER_TRACES]
        volumes.append(f"./{TRACES_DIR}:{IN_CONTAINER_TRACES}")
    spec = _common(plan, replica_service(service, index), "emulator", plan.runtime_image, command)
    spec["labels"].update({"chaoslab.service": service, "chaoslab.replica": str(index)})
    spec.update({
        "volumes": volumes,
        "ports": [_publish(plan, replica_service(service, index), EMULATOR_PORT)],
        "healthcheck": {"test": _health_probe(EMULATOR_PORT, "/health"), **HEALTHCHECK_TIMING},
    })
    return spec


def _toxiproxy_service(plan: StackPlan) -> dict[str, Any]:
    config = f"{IN_CONTAINER_DIR}/{TOXIPROXY_FILE}"
    if plan.toxiproxy_image is None:
        image = plan.runtime_image
        command = ["python3", "-m", "chaos.live.in_container.toxiproxy", "--host", "0.0.0.0",
                   "--port", str(TOXIPROXY_API_PORT), "--config", config]
        probe = _health_probe(TOXIPROXY_API_PORT, "/version")
    else:
        # The official image's entrypoint is the server; it has no Python, but ships the CLI.
        image = plan.toxiproxy_image
        command = ["-host=0.0.0.0", f"-port={TOXIPROXY_API_PORT}", f"-config={config}"]
        probe = ["CMD", "/toxiproxy-cli", "list"]
    spec = _common(plan, TOXIPROXY_SERVICE, "toxiproxy", image, command)
    published = [p for p in plan.proxies if p.published]
    spec.update({
        "volumes": [f"./{TOXIPROXY_FILE}:{config}:ro"],
        "ports": ([_publish(plan, TOXIPROXY_SERVICE, TOXIPROXY_API_PORT)]
                  + [_publish(plan, p.name, p.port) for p in published]),
        "healthcheck": {"test": probe, **HEALTHCHECK_TIMING},
    })
    return spec


def _prometheus_service(plan: StackPlan) -> dict[str, Any]:
    config = f"{IN_CONTAINER_DIR}/{PROMETHEUS_FILE}"
    command = [f"--config.file={config}", "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=1d",
               f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}"]
    spec = _common(plan, PROMETHEUS_SERVICE, "prometheus", plan.prometheus_image, command)
    volumes = [f"./{PROMETHEUS_FILE}:{config}:ro"]
    if plan.rule_files:
        volumes.append(f"./{RULES_DIR}:{IN_CONTAINER_DIR}/{RULES_DIR}:ro")
    spec.update({
        # The official image's entry point; Debian's package has the same program there (merged /usr).
        "entrypoint": ["/bin/prometheus"],
        "volumes": volumes,
        "ports": [_publish(plan, PROMETHEUS_SERVICE, PROMETHEUS_PORT)],
        # Both images have busybox's wget (the official one is built on busybox).
        "healthcheck": {"test": ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{PROMETHEUS_PORT}/-/ready"],
                        **HEALTHCHECK_TIMING},
    })
    if plan.load_metrics is not None:  # the load generator runs on the host: its address on the default bridge
        spec["extra_hosts"] = [f"{LOAD_HOST}:{plan.load_metrics[0]}"]
    return spec


def prometheus_config(plan: StackPlan) -> dict[str, Any]:
    """``prometheus.yml``: every emulator replica under its service's job, and chaoslab's Toxiproxy-compatible
    server, scraped every ``plan.scrape_interval_s``, each emulator job renaming its series to the experiment's
    metric names where ``plan.relabels`` says so (``chaos.live.stack.mapped_scrape``); the experiment's rule files
    evaluated at its evaluation_interval.

    The load generator runs on the host, outside the stack's network: where ``plan.load_metrics`` is set it is
    one more job (LOAD_JOB), scraped at the host's address on Docker's default bridge while a game day runs
    (``chaos.live.load.metrics``); between runs that target is down. The official Toxiproxy image serves
    ``/metrics`` only with ``-proxy-metrics``, which its older versions refuse: it is not scraped."""
    every = f"{plan.scrape_interval_s}s"
    jobs: list[dict[str, Any]] = []
    for service in plan.topology.services:
        targets = [f"{replica_service(service.name, i)}:{EMULATOR_PORT}" for i in range(1, service.replicas + 1)]
        jobs.append({"job_name": service.name, "static_configs": [{"targets": targets}]})
        relabel = dict(plan.relabels).get(service.name)
        if relabel:  # the experiment's metric names (chaos.live.stack.mapped_scrape)
            jobs[-1]["metric_relabel_configs"] = [r.config() for r in relabel]
    if plan.load_metrics is not None:
        jobs.append({"job_name": LOAD_JOB, "static_configs": [{"targets": [f"{LOAD_HOST}:{plan.load_metrics[1]}"]}]})
        relabel = dict(plan.relabels).get(LOAD_JOB)
        if relabel:
            jobs[-1]["metric_relabel_configs"] = [r.config() for r in relabel]
    if plan.toxiproxy_image is None:
        jobs.append({"job_name": TOXIPROXY_SERVICE,
                     "static_configs": [{"targets": [f"{TOXIPROXY_SERVICE}:{TOXIPROXY_API_PORT}"]}]})
    config: dict[str, Any] = {"global": {"scrape_interval": every, "scrape_timeout": "900ms",
                                         "evaluation_interval": f"{plan.evaluation_interval_s}s"}}
    if plan.rule_files:
        config["rule_files"] = [f"{IN_CONTAINER_DIR}/{RULES_DIR}/{name}" for name, _ in plan.rule_files]
    config["scrape_configs"] = jobs
    return config


def render_prometheus_config(plan: StackPlan) -> str:
    head = (f"# Generated by chaoslab {chaos.__version__}: the stack's Prometheus. Each service's replicas are one\n"
            "# job named after the service; every target is scraped at global.scrape_interval (the finer, the\n"
            "# more of a core Prometheus takes: chosen by the number of targets, or stack up --scrape-interval;\n"
            "# chaoslab run may change it or the load generator's port in place and reload it: state.json has\n"
            "# what it scrapes). Open it on the host at the URL 'chaoslab stack status' prints.\n")
    return head + _dump(prometheus_config(plan))


def evaluation_interval_of(experiment: Experiment | None) -> int:
    """How often the stack's Prometheus evaluates the experiment's rules: the experiment's evaluation_interval
    (its rules' own Prometheus evaluates them that often), whole seconds; each scrape for a topology alone."""
    return max(1, round(SCRAPE_INTERVAL_S if experiment is None else experiment.evaluation_interval))


def rule_files_of(experiment: Experiment | None) -> tuple[tuple[str, str], ...]:
    """The experiment's rule files and SLO specs as Prometheus rule files (an SLO spec as the groups generated
    for it, a PrometheusRule as its groups), named ``NN-<stem>.yaml`` in the order the experiment lists them."""
    from chaos.promql.rulefiles import to_yaml

    refs = () if experiment is None else (*experiment.prometheus_rules, *experiment.slo_specs)
    return tuple((f"{i:02d}-{Path(ref.file).stem}.yaml", to_yaml(ref.rules.all_groups))
                 for i, ref in enumerate(refs, 1))


def _publish(plan: StackPlan, name: str, port: int) -> str:
    # A fixed host port: with an ephemeral one ("127.0.0.1::8080") Docker picks a new port
    # each time a container starts again, and a crashed replica would move away from the URL
    # every later step reads in state.json.
    return f"127.0.0.1:{plan.host_ports[name]}:{port}"


def render_compose(plan: StackPlan) -> str:
    """The Compose file as text, with comments saying what each part is for."""
    doc = compose_document(plan)
    topo = plan.topology
    lines = [
        f"# Generated by chaoslab {chaos.__version__} from topology '{topo.name}'"
        + (f" ({plan.source})" if plan.source else "") + ".",
        "# One service per replica, all calls (and the load) through the 'toxiproxy' service;",
        "# ports are published on 127.0.0.1 only. Run it by hand from this directory with",
        f"#   docker compose -p {plan.project} -f {COMPOSE_FILE} up -d      (or docker-compose, v1)",
        "# or with chaoslab: chaoslab stack up / stack status / stack down --dir <this directory>.",
        "",
        "services:",
    ]
    for service, index in plan.replica_services:
        svc = topo.service(service)
        calls = ", ".join(c.to for c in svc.calls) or "nothing"
        lines.append(f"  # {service}: replica {index} of {svc.replicas}; calls {calls}")
        name = replica_service(service, index)
        lines.append(_indent(_dump({name: doc["services"][name]})))
    lines.append(f"  # Toxiproxy: {len(plan.proxies)} proxies, one per edge and callee replica "
                 "(see toxiproxy.json)")
    lines.append(_indent(_dump({TOXIPROXY_SERVICE: doc["services"][TOXIPROXY_SERVICE]})))
    lines.append(f"  # Prometheus: scrapes every replica and the proxies (how often, and what: {PROMETHEUS_FILE})")
    lines.append(_indent(_dump({PROMETHEUS_SERVICE: doc["services"][PROMETHEUS_SERVICE]})))
    lines.append("")
    lines.append(_dump({"networks": doc["networks"]}).rstrip())
    return "\n".join(lines) + "\n"


def _dump(data: Any) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def short_lists_inline(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
        flow = all(isinstance(i, (str, int, float)) for i in items) and sum(len(str(i)) + 2 for i in items) < 160
        return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)

    Dumper.add_representer(list, short_lists_inline)
    return str(yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=200))


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.rstrip().splitlines())


def stack_state(plan: StackPlan, directory: Path) -> StackState:
    """What later steps need to find the stack's parts: containers, host URLs, proxies."""
    def url(name: str) -> str:
        return f"http://127.0.0.1:{plan.host_ports[name]}"

    replicas = []
    for service, index in plan.replica_services:
        compose_service = replica_service(service, index)
        base = url(compose_service)
        replicas.append(ReplicaState(service, index, compose_service, plan.container(compose_service), base,
                                     f"{base}/health", f"{base}/admin/metrics"))
    proxies = tuple(ProxyState(p.name, p.caller, p.callee, p.replica, p.listen, p.upstream,
                               plan.host_ports.get(p.name)) for p in plan.proxies)
    from chaos.live.in_container.stackspec import operation_path
    from chaos.live.stack.stackspec_build import operation_name

    def path(e: Any) -> str:  # /work, or the path of the operation the entrypoint names
        return operation_path(operation_name(plan.topology, e.to, e.operation))

    entries = {e.name: EntryState(e.to, tuple(f"{url(p.name)}{path(e)}" for p in plan.proxies_of(CLIENT, e.to)))
               for e in plan.topology.entrypoints}
    return StackState(
        kind=StackKind.EMULATOR, name=plan.project, topology=plan.topology.name,
        compose_file=str((directory / COMPOSE_FILE).resolve()), directory=str(directory.resolve()),
        toxiproxy_api=url(TOXIPROXY_SERVICE), toxiproxy_container=plan.container(TOXIPROXY_SERVICE),
        compose_services={s.name: tuple(replica_service(s.name, i) for i in range(1, s.replicas + 1))
                          for s in plan.topology.services},
        replicas=tuple(replicas), proxies=proxies, entrypoints=entries,
        images={"runtime": plan.runtime_image, "toxiproxy": plan.toxiproxy_image or plan.runtime_image,
                "prometheus": plan.prometheus_image},
        prometheus_url=url(PROMETHEUS_SERVICE),
        metric_names=mapped_digest(dict(plan.relabels)) if any(r for _, r in plan.relabels) else None,
        load_metrics=None if plan.load_metrics is None else f"{plan.load_metrics[0]}:{plan.load_metrics[1]}",
        scrape_interval_s=plan.scrape_interval_s,
        scrape_interval_from=plan.scrape_source,
    )


def allocate_ports(count: int, *, low: int = 20000, high: int = 32768, rng: random.Random | None = None) -> list[int]:
    """``count`` ports free on 127.0.0.1 right now, below the kernel's ephemeral range (32768 and
    up by default), so outgoing connections do not take them before Docker binds them.

    Starts at a random place so that stacks brought up at the same time rarely try the same ports.
    """
    rng = rng or random.Random()
    span = high - low
    start = rng.randrange(span)
    found: list[int] = []
    for offset in range(span):
        port = low + (start + offset) % span
        if _free(port):
            found.append(port)
            if len(found) == count:
                return found
    raise DockerError(f"fewer than {count} free ports on 127.0.0.1 between {low} and {high}")


def bridge_gateway(engine: Any) -> str | None:
    """The host's address on the engine's default bridge (``docker0``), or None if it has none.

    A container on the stack's own network reaches it through the host (Docker's ``host-gateway`` is this
    address); no other machine does: it is a private address of a local bridge. Docker 20.10 lists no
    ``Gateway`` for a default bridge it created itself (a fresh machine's first daemon: the IPAM config
    holds the subnet alone), so the bridge interface's own address is read then; an engine elsewhere (its
    interface not on this host) has none here."""
    try:
        network = engine.client.networks.get("bridge").attrs
        config = network["IPAM"]["Config"] or []
        gateways = [c["Gateway"] for c in config if c.get("Gateway") and ":" not in c["Gateway"]]
        interface = (network.get("Options") or {}).get("com.docker.network.bridge.name")
    except Exception:  # no default bridge (--bridge=none), or an SDK answer of another shape
        return None
    if gateways:
        return str(gateways[0])
    return interface_address(interface) if isinstance(interface, str) and interface else None


_SIOCGIFADDR = 0x8915  # Linux's ioctl that answers an interface's IPv4 address (netdevice(7))


def interface_address(name: str) -> str | None:
    """The IPv4 address of this host's network interface ``name``, or None where it has none (or no such
    interface, or not Linux)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX host
        return None
    request = struct.pack("256s", name.encode()[:15])  # struct ifreq: the name, then the answer's sockaddr_in
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


def load_metrics_address(host: str | None, rng: random.Random | None = None) -> tuple[str, int] | None:
    """Where the load generator will serve its metrics: ``host`` and a port free there now (None without one).

    Never 0.0.0.0: the listener must be reachable from the stack's containers and from nothing else."""
    if host is None:
        return None
    rng = rng or random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32768)
        if _free(port, host):
            return host, port
    return None


def _free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- I/O


@dataclass(frozen=True)
class UpResult:
    state: StackState
    directory: Path
    timings: Mapping[str, float] = field(default_factory=dict)  # images_s, up_s, healthy_s, total_s


def write_files(plan: StackPlan, directory: Path, bounds: Sequence[float] | None = None) -> StackState:
    """Write compose.yaml, stack.json, toxiproxy.json and state.json into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    if plan.traces:  # a fresh directory of spans: none of an earlier stack's in this one
        shutil.rmtree(directory / TRACES_DIR, ignore_errors=True)
        (directory / TRACES_DIR).mkdir()
    _write_text(directory / SPEC_FILE, stack_spec_json(plan, bounds))
    _write_text(directory / TOXIPROXY_FILE, json.dumps(toxiproxy_config(plan), indent=2) + "\n")
    _write_text(directory / PROMETHEUS_FILE, render_prometheus_config(plan))
    shutil.rmtree(directory / RULES_DIR, ignore_errors=True)  # an earlier experiment's rules are not this one's
    if plan.rule_files:
        (directory / RULES_DIR).mkdir()
        for name, text in plan.rule_files:
            _write_text(directory / RULES_DIR / name, text)
    _write_text(directory / COMPOSE_FILE, render_compose(plan))
    state = stack_state(plan, directory)
    write_state(state, directory)
    return state


def stack_spec_json(plan: StackPlan, bounds: Sequence[float] | None) -> str:
    """``stack.json``: each call reaches callee replica N through the proxy planned for it."""
    from chaos.live.stack.stackspec_build import build
    from chaos.run import latency_bounds

    proxies = {(p.caller, p.callee, p.replica): p for p in plan.proxies}

    def urls_for(caller: str, callee: str, replica: int) -> tuple[str, str]:
        proxy = proxies[(caller, callee, replica)]
        return proxy.url, proxy.name

    spec = build(plan.topology, tuple(bounds) if bounds is not None else latency_bounds(), urls_for)
    return spec.to_json()


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def up(topology: Topology, directory: Path, *, project: str | None = None, toxiproxy_image: str | None = None,
       bounds: Sequence[float] | None = None, source: str = "", ready_timeout: float = 90.0,
       allow_remote: bool = False, environ: Mapping[str, str] | None = None, traces: bool = False,
       prometheus_image: str | None = None, rule_files: Sequence[tuple[str, str]] = (),
       relabels: Mapping[str, tuple[Relabel, ...]] | None = None,
       evaluation_interval_s: int = SCRAPE_INTERVAL_S, scrape: ScrapeChoice = BY_SIZE) -> UpResult:
    """Build images if needed, write the files, ``compose up``, and wait until every container is healthy.

    A stack that does not become healthy within ``ready_timeout`` is taken down again; the
    error names the failing containers with the tail of their logs. ``scrape``: how often its Prometheus
    scrapes, and why (``scrape_choice``; by the number of targets, ``scrape_interval_for``, when it names none).
    """
    from chaos.live.stack.compose import open_project
    from chaos.live.stack.docker_env import connect
    from chaos.live.stack.images import ensure_images
    from chaos.live.stack.images import prometheus_image as choose_prometheus

    started = time.monotonic()
    env = dict(os.environ if environ is None else environ)
    with connect(environ=env, allow_remote=allow_remote) as engine:
        runtime = ensure_images(engine=engine).runtime
        prometheus = choose_prometheus(prometheus_image, engine=engine)
        load_metrics = load_metrics_address(bridge_gateway(engine))
    timings = {"images_s": time.monotonic() - started}
    # A project per stack directory: two stacks of one topology (a kept one and a run's own)
    # must not share container and network names.
    if project is None:
        digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:6]
        project = f"{default_project(topology)}-{digest}"
    plan = plan_stack(topology, project=project, runtime_image=runtime, toxiproxy_image=toxiproxy_image,
                      host_ports=allocate_ports(len(published_names(topology))), source=source, traces=traces,
                      prometheus_image=prometheus, rule_files=rule_files, relabels=relabels,
                      evaluation_interval_s=evaluation_interval_s, load_metrics=load_metrics, scrape=scrape)
    state = write_files(plan, directory, bounds)
    compose = open_project(plan.project, directory / COMPOSE_FILE, environ=env, allow_remote=allow_remote)
    mark = time.monotonic()
    try:
        compose.up()
        timings["up_s"] = time.monotonic() - mark
        compose.wait_ready(timeout=ready_timeout)
        timings["healthy_s"] = time.monotonic() - mark
    except BaseException:
        compose.down(stop_timeout=2)
        raise
    timings["total_s"] = time.monotonic() - started
    return UpResult(state, directory, timings)


def down(directory: Path, *, allow_remote: bool = False, environ: Mapping[str, str] | None = None) -> StackState:
    """Stop and remove the stack's containers and network. The files stay, so ``up`` can run again."""
    from chaos.live.stack.compose import open_project
    from chaos.live.stack.docker_env import docker_host_from_env, require_local

    state = read_state(directory)
    require_local(docker_host_from_env(environ), allow_remote=allow_remote)
    compose = open_project(state.name, state.compose_file, environ=environ, allow_remote=allow_remote)
    compose.down(stop_timeout=5)
    return state


def find_stack_dir(directory: Path | None, base: Path = DEFAULT_STACKS_DIR) -> Path:
    """The stack directory given, or the only one under ``.chaoslab/stacks``."""
    if directory is not None:
        return directory
    found = sorted(p.parent for p in base.glob(f"*/{STATE_FILE}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"no stack under {base}", hint="pass --dir, or bring one up with chaoslab stack up")
    raise InputError(f"several stacks under {base}: {', '.join(str(p) for p in found)}", hint="pass --dir")
