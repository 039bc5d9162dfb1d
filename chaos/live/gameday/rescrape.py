"""Change what a running generated stack's Prometheus scrapes, without restarting it.

It lives in gameday/, not stack/, because it asks the stack's Prometheus (gameday/prometheus.py) whether the change
was taken, and stack/ imports nothing of gameday/ (tests/test_layering.py).

Two things of a kept stack can need changing after ``stack up``: how often its Prometheus scrapes
(``chaoslab run --scrape-interval`` on a ``--stack-dir`` stack), and the port the load generator
serves its metrics on, chosen free at ``stack up`` and perhaps taken by another program since
(:func:`free_load_metrics`). Both live in ``prometheus.yml`` beside ``compose.yaml``: the global
``scrape_interval`` and the static target of the ``chaoslab-load`` job.

Prometheus re-reads its configuration on SIGHUP (documented; both the official image and Debian's
package), keeping its data and its rules' state, so the file is rewritten and the container sent
SIGHUP; then its ``/api/v1/targets`` must show the change within :data:`RELOAD_TIMEOUT_S`, or the
change is a :class:`LiveError` (a configuration it refused leaves the old one running, and it says
why in its log). The file is written in place, not replaced: Compose mounts that one file into the
container, and a file moved over it would be a new inode the container never sees.
``state.json`` is written last, once Prometheus scrapes what it says.

Why not file-based service discovery for the load's target: Prometheus re-reads such a file by
itself, but only through a mounted directory (a file mount has the same inode problem), so every
stack brought up before would still need this path; and the scrape interval is no target's.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from chaos.errors import LiveError
from chaos.live.stack.mapped_scrape import LOAD_JOB
from chaos.live.stack.state import StackState, write_state
from chaos.live_states import ScrapeSource

RELOAD_TIMEOUT_S = 15.0


def reconfigure(state: StackState, *, scrape_interval_s: int | None = None, load_metrics: str | None = None,
                allow_remote: bool = False, timeout_s: float = RELOAD_TIMEOUT_S,
                scrape_source: ScrapeSource = ScrapeSource.OPTION) -> StackState:
    """The stack's Prometheus scraping every ``scrape_interval_s`` (chosen by ``scrape_source``) and/or the load
    at ``load_metrics`` (``HOST:PORT``), confirmed by Prometheus; returns the state as written to ``state.json``."""
    from chaos.live.stack.emulator_stack import PROMETHEUS_FILE, PROMETHEUS_SERVICE

    if not state.has_admin or not state.directory or state.prometheus_url is None:
        raise LiveError(f"stack {state.name} has no Prometheus chaoslab generated: nothing to reconfigure")
    directory = Path(state.directory)
    path = directory / PROMETHEUS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LiveError(f"cannot read the stack's Prometheus configuration {path}: {exc}") from None
    new = dataclasses.replace(state, scrape_interval_s=scrape_interval_s or state.scrape_interval_s,
                              scrape_interval_from=state.scrape_interval_from if scrape_interval_s is None
                              else scrape_source,
                              load_metrics=load_metrics or state.load_metrics)
    port = None if load_metrics is None else int(load_metrics.rpartition(":")[2])
    _write_in_place(path, rewritten(text, scrape_interval_s, port, str(path)))
    _reload(f"{state.name}-{PROMETHEUS_SERVICE}", allow_remote)
    _wait_applied(state.prometheus_url, new, load_metrics is not None, timeout_s, path)
    write_state(new, directory)
    return new


def rewritten(text: str, scrape_interval_s: int | None, load_port: int | None, where: str) -> str:
    """``prometheus.yml``'s text scraping every ``scrape_interval_s`` and the load job's target at ``load_port``
    (None: as it was); its comment lines kept."""
    import yaml

    from chaos.live.stack.emulator_stack import LOAD_HOST, _dump

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LiveError(f"cannot read the stack's Prometheus configuration {where}: {exc}") from None
    if not isinstance(config, dict):
        raise LiveError(f"{where} is not a Prometheus configuration")
    if scrape_interval_s is not None:
        config.setdefault("global", {})["scrape_interval"] = f"{scrape_interval_s}s"
    if load_port is not None:
        jobs = [j for j in config.get("scrape_configs") or () if isinstance(j, dict) and j.get("job_name") == LOAD_JOB]
        if not jobs:
            raise LiveError(f"{where} has no '{LOAD_JOB}' job: this stack's Prometheus does not scrape the load")
        jobs[0]["static_configs"] = [{"targets": [f"{LOAD_HOST}:{load_port}"]}]
    head = [line for line in text.splitlines(keepends=True) if line.startswith("#")]
    return "".join(head) + _dump(config)


def _write_in_place(path: Path, text: str) -> None:
    with path.open("r+", encoding="utf-8") as f:  # the same inode: the container's mount of this file sees it
        f.write(text)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def _reload(container: str, allow_remote: bool) -> None:
    from chaos.live.stack.docker_env import connect

    with connect(allow_remote=allow_remote) as engine:
        try:
            engine.client.containers.get(container).kill(signal="SIGHUP")
        except Exception as exc:  # not found, not running: the SDK's errors
            raise LiveError(f"could not tell the stack's Prometheus ({container}) to reload: {exc}",
                            hint="is the stack up? chaoslab stack status --dir DIR") from None


def _wait_applied(url: str, want: StackState, load_moved: bool, timeout_s: float, path: Path) -> None:
    from chaos.live.gameday.prometheus import Prometheus, PrometheusUnusable, _seconds

    server = Prometheus(url)
    port = (want.load_metrics or "").rpartition(":")[2]
    deadline = time.monotonic() + timeout_s
    seen = "no answer"
    while time.monotonic() < deadline:
        try:
            data = server.get("/api/v1/targets", state="active")
        except PrometheusUnusable as exc:
            seen = str(exc)
        else:
            targets = [t for t in (data.get("activeTargets") or []) if isinstance(t, dict)] \
                if isinstance(data, dict) else []
            intervals = {_seconds(str(t.get("scrapeInterval", ""))) for t in targets}
            load = [str(t.get("scrapeUrl", "")) for t in targets
                    if (t.get("labels") or {}).get("job") == LOAD_JOB]
            seen = f"scrape intervals {sorted(i for i in intervals if i is not None)}, load target {load}"
            if intervals == {want.scrape_interval_s} and (not load_moved or any(f":{port}/" in u for u in load)):
                return
        time.sleep(0.25)
    raise LiveError(f"the stack's Prometheus ({url}) did not take the new configuration {path} within "
                    f"{timeout_s:g} s (it shows {seen})",
                    hint="its log says why (docker logs of its container); or bring the stack up again")


def free_load_metrics(state: StackState, *, allow_remote: bool = False) -> tuple[StackState, str | None]:
    """The stack's state with a load metrics port free to listen on now, and what was done to get it (None:
    nothing, the port chosen at ``stack up`` is free).

    A kept stack's port may have been taken since ``stack up`` (Locust would then fail to start with a bind
    error): another free port on the same address is chosen and the stack's Prometheus pointed at it
    (:func:`reconfigure`). Where none can be had, or Prometheus does not take it, a LiveError says what to do."""
    from chaos.live.stack.emulator_stack import _free, load_metrics_address

    if state.load_metrics is None:
        return state, None
    host, _, port = state.load_metrics.rpartition(":")
    if _free(int(port), host):
        return state, None
    again = (f"bring the stack up again (chaoslab stack down --dir {state.directory}, then chaoslab stack up ... "
             f"--dir {state.directory}), or free the port")
    moved = load_metrics_address(host)
    if moved is None:
        raise LiveError(f"the load generator cannot serve its metrics at {state.load_metrics}, chosen at stack up: "
                        f"that port is taken, and no other port on {host} can be bound (is {host} still this "
                        "machine's address on Docker's default bridge?)", hint=again)
    target = f"{moved[0]}:{moved[1]}"
    try:
        new = reconfigure(state, load_metrics=target, allow_remote=allow_remote)
    except LiveError as exc:
        raise LiveError(f"the load generator's metrics port {state.load_metrics}, chosen at stack up, is taken by "
                        f"another program, and the stack's Prometheus could not be pointed at {target}: "
                        f"{exc.message}", hint=again) from None
    return new, (f"the load generator's metrics port {state.load_metrics} (chosen at stack up) is taken by another "
                 f"program: it serves them at {target} instead, and the stack's Prometheus scrapes it there "
                 f"({Path(state.directory).name}/prometheus.yml rewritten and reloaded, state.json updated)")
