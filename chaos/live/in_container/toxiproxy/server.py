"""The Toxiproxy-compatible server: the object, a background runner for tests, ``main``.

``main`` takes the official server's flags (``-host``, ``-port``, ``-config``,
``-seed``; ``--host`` etc. work too), so scripts written for ``toxiproxy-server``
work unchanged::

    python -m chaos.live.in_container.toxiproxy --host 0.0.0.0 --port 8474 --config proxies.json

``serve_in_thread`` runs a server on its own event loop in a background thread and
yields its URL, for tests and for tools that are not asyncio programs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos.core.errors import LiveError
from chaos.live.in_container.http import serve_connection

from .address import bound_address, format_address, open_listener, split_host_port
from .api import Api, parse_populate
from .model import API_VERSION, DEFAULT_API_PORT
from .protocol import ApiError
from .proxy import Proxy, ProxyCollection

_log = logging.getLogger(__name__)

# Go's net/http defaults, which the official server keeps.
MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20
READ_TIMEOUT_S = 15.0
IDLE_TIMEOUT_S = 60.0


class ToxiproxyServer:
    """The HTTP API and its proxies, on the running event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_API_PORT, *, seed: int | None = None) -> None:
        self._listen = format_address(host, port)
        # One generator, seeded once, draws every toxicity roll and jitter:
        # the same seed and the same traffic give the same decisions.
        self.proxies = ProxyCollection(random.Random(seed))
        self._api = Api(self.proxies, API_VERSION)
        self._http: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.address = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    async def start(self, config: Path | None = None, *, config_errors_fatal: bool = True) -> str:
        """Populate from ``config`` (if given), then serve the API; returns the bound address.

        As the official server, proxies from the config file exist before the API
        answers. A bad config raises ``LiveError``, or with ``config_errors_fatal``
        false is logged and the server starts without it (the official behaviour).
        """
        try:
            sock = await open_listener(self._listen)
        except ApiError as exc:
            raise LiveError(
                f"cannot start the Toxiproxy API on {self._listen}: {exc.message}",
                hint="is another Toxiproxy already listening there? choose another --port",
            ) from None
        self.address = bound_address(sock)
        if config is not None:
            try:
                await self._populate(config, fatal=config_errors_fatal)
            except LiveError:
                sock.close()
                raise
        self._http = await asyncio.start_server(self._serve_client, sock=sock, limit=MAX_HEADER_BYTES)
        _log.info("Toxiproxy-compatible API listening on %s (API version %s)", self.address, API_VERSION)
        return self.address

    async def _populate(self, path: Path, *, fatal: bool) -> None:
        try:
            proxies = await self.load_config(path)
        except (OSError, ApiError) as exc:
            reason = exc.message if isinstance(exc, ApiError) else (exc.strerror or str(exc))
            if fatal:
                raise LiveError(
                    f"cannot populate Toxiproxy from {path}: {reason}",
                    hint="the file must be a JSON list of proxies with name, listen and upstream",
                ) from None
            _log.error("failed to populate proxies from %s: %s", path, reason)
            return
        _log.info("populated %d proxies from %s", len(proxies), path)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            await serve_connection(reader, writer, self._api.handle, max_body_bytes=MAX_BODY_BYTES,
                                   read_timeout_s=READ_TIMEOUT_S, idle_timeout_s=IDLE_TIMEOUT_S)
        finally:
            self._clients.discard(writer)

    async def load_config(self, path: Path) -> list[Proxy]:
        """Populate from a JSON file, as the official ``-config`` flag does."""
        specs = parse_populate(path.read_bytes())
        return [await self.proxies.add_or_replace(spec) for spec in specs]

    async def close(self) -> None:
        """Stop listening, close API connections and every proxy with its connections."""
        if self._http is not None:
            self._http.close()
            self._http = None
        for writer in list(self._clients):
            writer.transport.abort()
        self.proxies.stop_all()
        await asyncio.sleep(0)  # let aborted transports run their connection_lost


@dataclass(frozen=True)
class RunningServer:
    """Where a background server answers."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{format_address(self.host, self.port)}"


class _LoopThread:
    """An event loop in a daemon thread that runs one server from start to close."""

    def __init__(self, server: ToxiproxyServer, config: Path | None) -> None:
        self._server = server
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="toxiproxy-server", daemon=True)

    def start(self, timeout: float) -> RunningServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise LiveError(f"the Toxiproxy server did not start within {timeout} s")
        if self._failure is not None:
            self._thread.join(timeout)
            raise self._failure
        address = split_host_port(self._server.address)
        return RunningServer(address.host, int(address.port))

    def stop(self, timeout: float) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise LiveError(f"the Toxiproxy server thread did not stop within {timeout} s")
        if self._failure is not None:
            raise self._failure

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread, not lost
            self._failure = exc
        self._ready.set()
        if self._failure is None:
            self._loop.run_forever()
        self._shutdown()

    async def _start(self) -> None:
        await self._server.start(self._config)

    def _shutdown(self) -> None:
        try:
            self._loop.run_until_complete(self._server.close())
            _cancel_remaining_tasks(self._loop)
        except BaseException as exc:  # noqa: BLE001 - re-raised by stop() in the caller's thread
            self._failure = self._failure or exc
        finally:
            self._loop.close()


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


@contextlib.contextmanager
def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int | None = None,
    config: Path | None = None,
    timeout: float = 5.0,
) -> Iterator[RunningServer]:
    """Run a server in a background thread for the duration of the ``with`` block.

    Port 0 picks a free port; the yielded value says which. Stopping closes every
    proxy and connection; a failure to stop is raised, not swallowed.
    """
    runner = _LoopThread(ToxiproxyServer(host, port, seed=seed), config)
    running = runner.start(timeout)
    try:
        yield running
    finally:
        runner.stop(timeout)


# Command line.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaoslab toxiproxy serve",
        description="Run chaoslab's Toxiproxy-compatible server (same HTTP API and toxics as Toxiproxy 2.x).",
    )
    parser.add_argument("--host", "-host", default="127.0.0.1", help="API listen host (default: 127.0.0.1)")
    parser.add_argument("--port", "-port", type=int, default=DEFAULT_API_PORT, help="API port (default: 8474)")
    parser.add_argument("--config", "-config", type=Path, help="JSON file of proxies to populate at start")
    parser.add_argument("--seed", "-seed", type=int, help="seed for toxicity and jitter (default: random)")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "info"),
        help="debug, info, warning or error (default: $LOG_LEVEL or info)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; 0 on a clean stop, 3 when the API cannot listen."""
    args = _parser().parse_args(argv)
    if not isinstance(logging.getLevelName(args.log_level.upper()), int):  # from $LOG_LEVEL: one line, exit 2
        print(f"error: unknown log level '{args.log_level}' (debug, info, warning or error)", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return asyncio.run(_serve(args))
    except LiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


async def _serve(args: argparse.Namespace) -> int:
    server = ToxiproxyServer(args.host, args.port, seed=args.seed)
    await server.start(args.config, config_errors_fatal=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()
    _log.info("stopped")
    return 0
