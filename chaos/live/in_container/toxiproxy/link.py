"""The pipelines that carry one connection's bytes through its proxy's toxics.

A connection has two links, one per direction. A link is a reader (source socket),
a chain of stages (one per toxic of that direction, in the order they were added)
and a writer (destination socket), joined by queues:

    source -> reader -> [stage 1] -> [stage 2] -> ... -> writer -> destination

Toxics added or removed through the API change the chains of live links, as the
official server does. All of this runs on one event loop, so a change of a chain
happens between two steps of the coroutines: a stage is stopped, what it held and
what waited in its queue is passed on in order, and the chain is respliced. A
stage finds its successor by its position in the chain, so there is no pointer to
repair.

Closing follows the official server: when a link's stream ends, its destination
socket is closed completely (not half-closed); the other link then reads the end
of its own stream from that socket and closes the other peer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections.abc import Callable, Iterable

from .effects import END, ByteCounter, Chunk, Effect, Item, choose_effect
from .metrics import ConnectionOutcome, ProxyMeter
from .model import Stream, ToxicType
from .toxics import ToxicConfig

_log = logging.getLogger(__name__)

READ_SIZE = 32 * 1024
"""Bytes per read, the buffer size of Go's ``io.Copy`` in the official server."""

IN_FLIGHT_LIMIT = 8 * 1024 * 1024
"""Bytes a link may hold between its reader and its writer before the reader waits.

Backpressure for slow toxics (bandwidth, latency): large enough not to throttle a
latency toxic on a fast stream, small enough to bound memory per connection."""


class Stage:
    """One toxic running on one link."""

    def __init__(self, link: Link, config: ToxicConfig) -> None:
        self.link = link
        self.config = config
        self.inbox: asyncio.Queue[Item] = asyncio.Queue()
        self.held: Item | None = None
        self.counter = ByteCounter()
        self.rng = link.rng
        self.closed = False  # the stage has emitted END; it only discards from now on
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        effect = choose_effect(self.config, self.rng)
        self._task = asyncio.get_running_loop().create_task(self._run(effect))

    async def _run(self, effect: Effect) -> None:
        if not self.closed:
            await effect(self)
            self.closed = True
        while True:  # a closed stream keeps swallowing what still arrives
            self.drop(await self.inbox.get())

    def stop(self) -> None:
        """Stop the effect; it does not run again (cancellation lands at its ``await``)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def restart(self, config: ToxicConfig) -> None:
        """Apply an updated toxic: stop, pass on what was held, roll toxicity again, run."""
        self.stop()
        self.pass_on_held()
        self.config = config
        self.start()

    def pass_on_held(self) -> None:
        if self.held is not None:
            self.emit(self.held)
            self.closed = self.closed or self.held is END
            self.held = None

    def hand_over(self) -> None:
        """Leaving the chain: pass on what was held and queued, in order."""
        self.pass_on_held()
        while not self.inbox.empty():
            self.emit(self.inbox.get_nowait())

    def close_stream(self) -> None:
        """Leaving the chain by closing the stream (what a removed ``timeout`` does)."""
        while not self.inbox.empty():
            self.drop(self.inbox.get_nowait())
        self.emit(END)
        self.closed = True

    # The Pipe protocol of effects.py:

    async def take(self) -> Item:
        return await self.inbox.get()

    def emit(self, item: Item) -> None:
        self.link.queue_after(self).put_nowait(item)

    def drop(self, item: Item) -> None:
        if isinstance(item, Chunk):
            self.link.release(len(item.data))

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def arm_reset(self, delay: float) -> None:
        self.link.connection.reset_after(delay)


class Link:
    """One direction of one connection: reader, stages, writer."""

    def __init__(
        self,
        connection: Connection,
        direction: Stream,
        source: asyncio.StreamReader,
        dest: asyncio.StreamWriter,
    ) -> None:
        self.connection = connection
        self.direction = direction
        self.rng = connection.rng
        self._source = source
        self._dest = dest
        self._stages: list[Stage] = []
        self._outbox: asyncio.Queue[Item] = asyncio.Queue()
        self._in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.finished = False

    def start(self, configs: Iterable[ToxicConfig]) -> None:
        for config in configs:
            self._append(config)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._write())]

    def stop(self) -> None:
        for stage in self._stages:
            stage.stop()
        for task in self._tasks:
            task.cancel()

    # Chain changes from the API.

    def add_toxic(self, config: ToxicConfig) -> None:
        """New toxics go to the end of the chain, as upstream appends them."""
        self._append(config)

    def update_toxic(self, config: ToxicConfig) -> None:
        stage = self._find(config.name)
        if stage is not None:
            stage.restart(config)

    def remove_toxic(self, name: str) -> None:
        stage = self._find(name)
        if stage is None:
            return
        stage.stop()
        if stage.config.type is ToxicType.TIMEOUT and not stage.closed:
            # Upstream's timeout toxic closes the stream when removed: the data it
            # dropped would otherwise leave the two peers out of step.
            stage.close_stream()
        else:
            stage.hand_over()
        self._stages.remove(stage)

    def _append(self, config: ToxicConfig) -> None:
        stage = Stage(self, config)
        self._stages.append(stage)
        stage.start()

    def _find(self, name: str) -> Stage | None:
        return next((stage for stage in self._stages if stage.config.name == name), None)

    # Plumbing.

    def queue_after(self, stage: Stage) -> asyncio.Queue[Item]:
        index = self._stages.index(stage) + 1
        return self._stages[index].inbox if index < len(self._stages) else self._outbox

    def _entry(self) -> asyncio.Queue[Item]:
        return self._stages[0].inbox if self._stages else self._outbox

    def release(self, size: int) -> None:
        self._in_flight -= size
        if self._in_flight < IN_FLIGHT_LIMIT:
            self._room.set()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._room.wait()
            data = await self._read_once()
            if not data:
                self._entry().put_nowait(END)
                return
            self.connection.meter.received[self.direction] += len(data)
            self._in_flight += len(data)
            if self._in_flight >= IN_FLIGHT_LIMIT:
                self._room.clear()
            self._entry().put_nowait(Chunk(data, loop.time()))

    async def _read_once(self) -> bytes:
        try:
            return await self._source.read(READ_SIZE)
        except (ConnectionError, OSError):
            return b""  # a reset source ends the stream, as an error ends Go's io.Copy

    async def _write(self) -> None:
        await self._deliver_until_end()
        self.finished = True
        self.connection.link_finished()
        while True:  # nothing reaches a closed destination
            item = await self._outbox.get()
            if isinstance(item, Chunk):
                self.release(len(item.data))

    async def _deliver_until_end(self) -> None:
        while isinstance(item := await self._outbox.get(), Chunk):
            if not await self._deliver(item):
                return
        self._dest.close()  # the whole socket, not a half-close, as upstream's Close

    async def _deliver(self, chunk: Chunk) -> bool:
        try:
            if chunk.data:
                self._dest.write(chunk.data)
                await self._dest.drain()
                self.connection.meter.sent[self.direction] += len(chunk.data)
            return True
        except (ConnectionError, OSError):
            self._dest.transport.abort()
            return False
        finally:
            self.release(len(chunk.data))


class Connection:
    """A client connection and its upstream connection, joined by two links."""

    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        rng: random.Random,
        on_closed: Callable[[Connection], None],
        meter: ProxyMeter | None = None,
    ) -> None:
        self.rng = rng
        self.meter = meter or ProxyMeter()
        self.opened = self.meter.clock()
        self._writers = (client[1], upstream[1])
        self._on_closed = on_closed
        self._reset_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.links = {
            Stream.UPSTREAM: Link(self, Stream.UPSTREAM, client[0], upstream[1]),
            Stream.DOWNSTREAM: Link(self, Stream.DOWNSTREAM, upstream[0], client[1]),
        }

    def start(self, toxics: dict[Stream, list[ToxicConfig]]) -> None:
        if any(config.type is ToxicType.RESET_PEER for configs in toxics.values() for config in configs):
            # Upstream sets SO_LINGER 0 on both sockets when a link starts with a
            # reset_peer toxic, so every close of this connection is a reset.
            self._set_linger_zero()
        for direction, link in self.links.items():
            link.start(toxics[direction])

    def link_finished(self) -> None:
        if all(link.finished for link in self.links.values()):
            self.close(abort=False)

    def reset_after(self, delay: float) -> None:
        if self._reset_timer is None and not self._closed:
            self._reset_timer = asyncio.get_running_loop().call_later(delay, self.reset)

    def reset(self) -> None:
        """Close both sockets with RST (SO_LINGER 0), as ``reset_peer`` does."""
        self._set_linger_zero()
        self.close(abort=True)

    def close(self, *, abort: bool) -> None:
        """Stop both links; ``abort`` closes both sockets now (a disabled proxy drops
        its connections), otherwise they were closed by their writers already."""
        if self._closed:
            return
        self._closed = True
        if self._reset_timer is not None:
            self._reset_timer.cancel()
        for link in self.links.values():
            link.stop()
        if abort:
            for writer in self._writers:
                writer.transport.abort()
        self.meter.ended(ConnectionOutcome.ABORTED if abort else ConnectionOutcome.CLOSED, self.opened)
        self._on_closed(self)

    def _set_linger_zero(self) -> None:
        for writer in self._writers:
            sock = writer.get_extra_info("socket")
            if sock is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError as exc:
                _log.debug("cannot set SO_LINGER on %s: %s", sock, exc)
