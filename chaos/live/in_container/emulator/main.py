"""``python3 -m chaos.live.in_container.emulator --stack FILE --service NAME [--replica N]``:
run one replica until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from chaos.core.errors import ChaosError
from chaos.live.in_container import stackspec

from .app import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m chaos.live.in_container.emulator",
        description="Emulate one replica of one service of a chaoslab stack (workers, queue, calls, faults).")
    parser.add_argument("--stack", default=stackspec.DEFAULT_PATH,
                        help=f"the stack spec (default: {stackspec.DEFAULT_PATH})")
    parser.add_argument("--service", required=True, help="the service to emulate (a key under 'services')")
    parser.add_argument("--replica", type=int, default=1, help="which replica, from 1 (default: 1)")
    parser.add_argument("--host", default="0.0.0.0", help="listen address (default: 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="listen port, 0 for any free one (default: 8080)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of every random draw (default: derived from service and replica)")
    parser.add_argument("--traces", type=Path, default=None, metavar="DIR",
                        help="append this replica's spans to DIR/<service>-<replica>.jsonl as OTLP JSON lines")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"),
                        help="debug, info, warning or error (default: $LOG_LEVEL or info)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT: 0 on a clean stop, 2 for a bad spec or flag, 3 if it cannot listen."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        spec = stackspec.load(args.stack)
        emulator = Emulator(spec, args.service, args.replica, seed=args.seed, traces=args.traces)
        return asyncio.run(_serve(emulator, args.host, args.port))
    except ChaosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


async def _serve(emulator: Emulator, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await emulator.start(host, port)
    try:
        await stop.wait()
    finally:
        await emulator.close()
    logging.getLogger(__name__).info("emulator %s stopped", emulator.name)
    return 0
