"""What each toxic does to the bytes of one direction of one connection.

An effect is a coroutine that reads items from its pipe (``take``), passes them on
(``emit``) and returns once it has emitted ``END``, the end of the stream. It may
be stopped at any ``await`` (the toxic was removed or updated): whatever it must
not lose it keeps in ``pipe.held`` across every ``await``, and the pipe passes that
on when it stops the effect, as the official toxics "don't drop data on the floor".

Semantics follow the official server (``toxics/*.go``); the notes say where a
detail is surprising but deliberate.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Protocol

from .model import ToxicType
from .toxics import ToxicConfig


@dataclass(frozen=True)
class Chunk:
    """Bytes read from a source in one read, stamped with the loop time they arrived."""

    data: bytes
    timestamp: float


class EndOfStream:
    """The source closed (or a toxic closed the stream): the destination is closed next."""

    def __repr__(self) -> str:
        return "END"


END = EndOfStream()

Item = Chunk | EndOfStream


@dataclass
class ByteCounter:
    """Bytes a ``limit_data`` toxic has let through on one link; outlives updates of the toxic."""

    sent: int = 0


class Pipe(Protocol):
    """What an effect sees of the stage that runs it."""

    config: ToxicConfig
    held: Item | None
    counter: ByteCounter
    rng: random.Random

    async def take(self) -> Item: ...

    def emit(self, item: Item) -> None: ...

    def drop(self, item: Item) -> None: ...

    def now(self) -> float: ...

    def arm_reset(self, delay: float) -> None: ...


Effect = Callable[[Pipe], Awaitable[None]]


async def pass_through(pipe: Pipe) -> None:
    """``noop``, and any toxic whose toxicity roll failed for this link."""
    while (item := await pipe.take()) is not END:
        pipe.emit(item)
    pipe.emit(END)


async def latency(pipe: Pipe) -> None:
    """Deliver each chunk ``latency`` ± ``jitter`` ms after it was read.

    Counting from the read time (not from when this toxic got the chunk) keeps a
    stream's throughput intact, and chained latency toxics add up because each
    stamps the chunk with the time it was due.
    """
    while isinstance(chunk := await pipe.take(), Chunk):
        due = chunk.timestamp + _latency_ms(pipe.config, pipe.rng) / 1000.0
        pipe.held = chunk
        await asyncio.sleep(max(0.0, due - pipe.now()))
        pipe.held = None
        pipe.emit(replace(chunk, timestamp=due))
    pipe.emit(END)


def _latency_ms(config: ToxicConfig, rng: random.Random) -> int:
    jitter = config.attr("jitter")
    offset = rng.randrange(2 * jitter) - jitter if jitter > 0 else 0
    return config.attr("latency") + offset


async def bandwidth(pipe: Pipe) -> None:
    """Pass at most ``rate`` KB/s (1 KB = 1000 bytes).

    Large chunks go out in 100 ms slices. The timer's overshoot is carried to the
    next chunk, as upstream does, so the long-run rate stays exact. A rate of 0
    holds the data until the toxic is removed (upstream loops without progress).
    """
    rate = pipe.config.attr("rate")
    owed = 0.0  # seconds of sending time not yet waited for
    while isinstance(chunk := await pipe.take(), Chunk):
        if rate <= 0:
            pipe.held = chunk
            await _forever()
        owed += len(chunk.data) / (rate * 1000.0)
        chunk, slices = await _send_slices(pipe, chunk, rate * 100)
        owed = await _send_when_paid(pipe, chunk, owed - 0.1 * slices)
    pipe.emit(END)


async def _send_slices(pipe: Pipe, chunk: Chunk, slice_size: int) -> tuple[Chunk, int]:
    """Send ``slice_size`` bytes every 100 ms while more than that remains.

    Returns the rest of the chunk and how many slices went out."""
    slices = 0
    while len(chunk.data) > slice_size:
        pipe.held = chunk
        await asyncio.sleep(0.1)
        pipe.held = None
        pipe.emit(replace(chunk, data=chunk.data[:slice_size]))
        chunk = replace(chunk, data=chunk.data[slice_size:])
        slices += 1
    return chunk, slices


async def _send_when_paid(pipe: Pipe, chunk: Chunk, owed: float) -> float:
    """Wait ``owed`` seconds, send ``chunk``, and return what the wait over- or undershot."""
    pipe.held = chunk
    started = pipe.now()
    await asyncio.sleep(max(0.0, owed))
    pipe.held = None
    pipe.emit(chunk)
    return owed - (pipe.now() - started)


async def slow_close(pipe: Pipe) -> None:
    """Pass data; delay the close by ``delay`` ms."""
    while (item := await pipe.take()) is not END:
        pipe.emit(item)
    pipe.held = END
    await asyncio.sleep(pipe.config.attr("delay") / 1000.0)
    pipe.held = None
    pipe.emit(END)


async def timeout(pipe: Pipe) -> None:
    """Drop all data; close the stream after ``timeout`` ms (0: never).

    As upstream, the timer restarts whenever data arrives (and is dropped), and
    removing the toxic closes the stream (see ``Stage``), because the bytes it
    dropped would otherwise leave the peers out of step.
    """
    seconds = pipe.config.attr("timeout") / 1000.0
    while True:
        try:
            async with asyncio.timeout(seconds if seconds > 0 else None):
                item = await pipe.take()
        except TimeoutError:
            break
        if item is END:
            break
        pipe.drop(item)
    pipe.emit(END)


async def reset_peer(pipe: Pipe) -> None:
    """On the first data (or close), reset both peers after ``timeout`` ms.

    The reset is armed outside this coroutine because upstream's wait cannot be
    interrupted: removing the toxic once armed does not save the connection.
    """
    pipe.drop(await pipe.take())
    pipe.arm_reset(pipe.config.attr("timeout") / 1000.0)
    await _forever()


async def slicer(pipe: Pipe) -> None:
    """Split each chunk into pieces of about ``average_size`` bytes, ``delay`` µs apart."""
    config = pipe.config
    while isinstance(chunk := await pipe.take(), Chunk):
        pieces = slice_bounds(len(chunk.data), config.attr("average_size"), config.attr("size_variation"), pipe.rng)
        for start, end in pieces:
            pipe.emit(replace(chunk, data=chunk.data[start:end]))
            pipe.held = replace(chunk, data=chunk.data[end:]) if end < len(chunk.data) else None
            await asyncio.sleep(config.attr("delay") / 1_000_000)
        pipe.held = None
    pipe.emit(END)


def slice_bounds(size: int, average: int, variation: int, rng: random.Random) -> list[tuple[int, int]]:
    """Cut ``[0, size)`` as upstream does: halve (± variation) until a part is close
    enough to ``average``. Parts stay at least one byte, where upstream would loop
    forever or crash on an average of 0 or a variation larger than the average."""
    pieces: list[tuple[int, int]] = []
    pending = [(0, size)]
    while pending:
        start, end = pending.pop()
        if (end - start) - average <= variation or end - start <= 1:
            pieces.append((start, end))
            continue
        offset = rng.randrange(2 * variation) - variation if variation > 0 else 0
        middle = min(max(start + (end - start) // 2 + offset, start + 1), end - 1)
        pending.append((middle, end))
        pending.append((start, middle))
    return pieces


async def limit_data(pipe: Pipe) -> None:
    """Pass ``bytes`` bytes in total, then close the stream (checked when data arrives)."""
    limit = pipe.config.attr("bytes")
    counter = pipe.counter
    while isinstance(chunk := await pipe.take(), Chunk):
        allowed = chunk.data[: max(0, limit - counter.sent)]
        pipe.drop(replace(chunk, data=chunk.data[len(allowed) :]))
        if allowed:
            pipe.emit(replace(chunk, data=allowed))
            counter.sent += len(allowed)
        if limit - counter.sent <= 0:
            break
    pipe.emit(END)


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()


EFFECTS: Mapping[ToxicType, Effect] = MappingProxyType(
    {
        ToxicType.LATENCY: latency,
        ToxicType.BANDWIDTH: bandwidth,
        ToxicType.SLOW_CLOSE: slow_close,
        ToxicType.TIMEOUT: timeout,
        ToxicType.RESET_PEER: reset_peer,
        ToxicType.SLICER: slicer,
        ToxicType.LIMIT_DATA: limit_data,
        ToxicType.NOOP: pass_through,
    }
)


def choose_effect(config: ToxicConfig, rng: random.Random) -> Effect:
    """The toxic's effect, or a pass-through when its toxicity roll fails.

    Rolled once each time the toxic starts on a link (connection start, live add,
    update), as upstream rolls once per run of a toxic stub.
    """
    return EFFECTS[config.type] if rng.random() < config.toxicity else pass_through
