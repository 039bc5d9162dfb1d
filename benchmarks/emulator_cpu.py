"""CPU time the emulator spends per request, in process: a front emulator calling a leaf, both on this
process's event loop, driven by a closed loop of requests from the same loop.

What it prints is process CPU time (``time.process_time``) per entry request, client included: two
server exchanges, two client fetches and the emulators' bookkeeping. Unlike a rate, CPU time hardly
depends on what else the machine runs, so two versions of the emulator can be compared on a busy
machine: run this file with each one's ``chaos`` first on ``PYTHONPATH``. Each of ``--rounds`` rounds
sends ``--requests`` requests (at most ``--concurrency`` at once, loopback only, every request
bounded by a timeout); the median round and the spread are printed.

On a machine so busy that even CPU times scatter, ``--opcodes`` counts the Python bytecodes executed
per request instead (through ``sys.settrace``; about a hundred times slower, so few requests): a figure
that does not depend on the machine at all, and covers what a change to chaoslab's Python code adds
(not the C parts of asyncio and the sockets, which it does not change).

    python benchmarks/emulator_cpu.py
    python benchmarks/emulator_cpu.py --attributes   # requests carry two attributes, the leaf's time by value
    python benchmarks/emulator_cpu.py --opcodes --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from types import FrameType
from typing import Any

from chaos.live.in_container import stackspec
from chaos.live.in_container.emulator.app import Emulator
from chaos.live.in_container.http import Target, fetch

ZERO = {"dist": "constant", "value": 0.0}
HEADER = "cache_hit,size=small"


def spec(leaf_port: int, attributes: bool) -> stackspec.StackSpec:
    leaf: dict[str, Any] = {"workers": 64, "service_time": ZERO}
    data: dict[str, Any] = {"version": 1, "latency_bounds_s": [0.001, 0.01, 0.1, 1.0], "services": {
        "leaf": leaf,
        "front": {"workers": 64, "service_time": ZERO,
                  "calls": [{"to": "leaf", "urls": [f"http://127.0.0.1:{leaf_port}"], "timeout_s": 5}]}}}
    if attributes:
        leaf["service_time_by"] = {"attribute": "size", "values": {"small": ZERO, "large": ZERO}}
        data["attributes"] = {"cache_hit": 0.9, "size": {"small": 0.7, "large": 0.3}}
    return stackspec.from_dict(data, source="benchmark")


async def one_round(target: Target, requests: int, concurrency: int, headers: dict[str, str] | None) -> float:
    """CPU seconds per request over one round of ``requests``."""
    gate = asyncio.Semaphore(concurrency)
    failed = 0

    async def one() -> None:
        nonlocal failed
        async with gate, asyncio.timeout(10):
            if (await fetch(target, "/work", headers)).status != 200:
                failed += 1

    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    cpu = time.process_time() - started
    if failed:
        raise SystemExit(f"{failed} of {requests} requests failed: the figures would not compare")
    return cpu / requests


async def main_async(args: argparse.Namespace) -> list[float]:
    # The leaf's port must be in the front's spec: start the leaf on a spec with a placeholder, then the front.
    leaf = Emulator(spec(1, args.attributes), "leaf")
    leaf_port = await leaf.start("127.0.0.1", 0)
    front = Emulator(spec(leaf_port, args.attributes), "front")
    port = await front.start("127.0.0.1", 0)
    headers = {stackspec.ATTRIBUTES_HEADER: HEADER} if args.attributes else None
    target = Target("127.0.0.1", port)
    try:
        await one_round(target, min(500, args.requests), args.concurrency, headers)  # warm up
        rounds = []
        for _ in range(args.rounds):
            gc.collect()
            rounds.append(await one_round(target, args.requests, args.concurrency, headers))
        return rounds
    finally:
        await front.close()
        await leaf.close()


class OpcodeCounter:
    """Counts the bytecodes executed in Python frames while installed (``sys.settrace``)."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> OpcodeCounter:
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)

    def _call(self, frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        return self._local

    def _local(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "opcode":
            self.count += 1
        return self._local


def opcodes_per_request(args: argparse.Namespace) -> float:
    """Bytecodes per request: the difference between runs of N and 2N requests, so that starting the
    emulators and warming up cancel out."""
    counts = []
    for n in (args.requests, 2 * args.requests):
        run = argparse.Namespace(**{**vars(args), "requests": n, "rounds": 1})
        with OpcodeCounter() as counter:
            asyncio.run(main_async(run))
        counts.append(counter.count)
    return (counts[1] - counts[0]) / args.requests / 2  # each run sends its N twice: warm-up and round


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--attributes", action="store_true",
                        help=f"every request carries X-Chaoslab-Attributes: {HEADER}; the leaf's time is by size")
    parser.add_argument("--opcodes", action="store_true",
                        help="count Python bytecodes per request instead of timing (slow: use few requests)")
    args = parser.parse_args()
    what = f"requests carrying {HEADER}" if args.attributes else "plain requests"
    if args.opcodes:
        if args.requests > 250:
            parser.error("--opcodes traces every bytecode: give --requests 250 or fewer")
        print(f"front -> leaf in one process, {what}: {opcodes_per_request(args):,.0f} Python bytecodes "
              "per entry request")
        return 0
    rounds = asyncio.run(main_async(args))
    print(f"front -> leaf in one process, {what}, {args.rounds} rounds of {args.requests}:")
    print(f"  CPU per entry request: median {statistics.median(rounds) * 1e3:.3f} ms "
          f"(min {min(rounds) * 1e3:.3f}, max {max(rounds) * 1e3:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
