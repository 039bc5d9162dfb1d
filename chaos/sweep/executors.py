"""Where the runs of a sweep, a diff or a drill happen: this process, local worker processes, or Dask.

Every executor takes the base models and the jobs (:class:`~chaos.sweep.worker.Job`), and
yields each job's result as it completes (in any order). Each base model (an experiment,
or a drill's experiment and playbook) crosses to a worker once, however many jobs use it;
a job itself is small: a sweep's variant description and a seed, a drill's seed. Results
are the same on every executor: a run depends only on its model and seed.

    --executor local            worker processes on this machine (default: one per core)
    --executor inline           this process, one task after another (debugging, tests)
    --executor dask://HOST:PORT the Dask distributed scheduler at HOST:PORT
"""

from __future__ import annotations

import enum
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from chaos.errors import ChaosError, InputError, RunError
from chaos.extras import DASK, require
from chaos.model.quantities import plural
from chaos.sweep import wire
from chaos.sweep.worker import Job, init_process, run_in_process, run_on_dask

R = TypeVar("R")


@dataclass(frozen=True)
class Base:
    """A base model (an experiment, or a drill's experiment and playbook), encoded once for the workers."""

    key: str
    model: object
    blob: bytes


def encode(model: object) -> Base:
    blob = wire.dumps(model)
    return Base(wire.digest(blob), model, blob)


class Executor(Protocol):
    def describe(self) -> str: ...

    def run(self, bases: Sequence[Base], tasks: Sequence[Job[R]]) -> Iterator[R]: ...


class ExecutorKind(enum.Enum):
    LOCAL = "local"
    INLINE = "inline"
    DASK = "dask"


def local_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _failed(task: Job[Any], exc: BaseException) -> ChaosError:
    what = str(exc) if isinstance(exc, ChaosError) else f"{type(exc).__name__}: {exc}"
    return RunError(f"{task.describe()} failed: {what}")


@dataclass(frozen=True)
class InlineExecutor:
    """Every task in this process, in order."""

    def describe(self) -> str:
        return "inline (this process)"

    def run(self, bases: Sequence[Base], tasks: Sequence[Job[R]]) -> Iterator[R]:
        models = {b.key: b.model for b in bases}
        for task in tasks:
            yield task.run(models[task.base])


@dataclass(frozen=True)
class ProcessExecutor:
    """Local worker processes; each receives the base experiments once, when it starts."""

    workers: int

    def describe(self) -> str:
        return f"local, {plural(self.workers, 'worker process', 'worker processes')}"

    def run(self, bases: Sequence[Base], tasks: Sequence[Job[R]]) -> Iterator[R]:
        if not tasks:
            return
        # forkserver: workers start from a clean process, not a fork of one that may hold
        # threads (a progress bar, a Dask client) or a half-written file.
        context = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context,
                                   initializer=init_process, initargs=({b.key: b.blob for b in bases},))
        pending: dict[Future[R], Job[R]] = {}
        try:
            pending = {pool.submit(run_in_process, t): t for t in tasks}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    yield _result(fut, task)
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def _result(fut: Future[R], task: Job[R]) -> R:
    try:
        return fut.result()
    except BrokenProcessPool:
        raise RunError("a worker process died (out of memory, or killed)",
                       hint="run again (a sweep keeps its finished variants and skips them)") from None
    except Exception as exc:
        raise _failed(task, exc) from exc


@dataclass(frozen=True)
class DaskExecutor:
    """A Dask distributed cluster: each base experiment is broadcast to every worker once."""

    address: str
    connect_timeout_s: float = 20.0

    def describe(self) -> str:
        return f"Dask scheduler at {self.address}"

    def _client(self) -> Any:
        client_class = require(DASK).Client
        try:
            return client_class(self.address, timeout=f"{self.connect_timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise RunError(f"cannot reach the Dask scheduler at {self.address}: {exc}",
                           hint="start one with 'dask scheduler' and workers with "
                                "'dask worker HOST:PORT --nthreads 1', see docs/sweeps.md") from None

    def run(self, bases: Sequence[Base], tasks: Sequence[Job[R]]) -> Iterator[R]:
        if not tasks:
            return
        client = self._client()
        as_completed = require(DASK).as_completed
        futures: dict[Any, Job[R]] = {}
        try:
            shared = {b.key: client.scatter(b.blob, broadcast=True, hash=False) for b in bases}
            futures = {client.submit(run_on_dask, shared[t.base], t, pure=False): t for t in tasks}
            for fut in as_completed(list(futures), loop=client.loop):
                task = futures[fut]
                try:
                    yield fut.result()
                except Exception as exc:
                    raise _failed(task, exc) from exc
        finally:
            client.cancel(list(futures))
            client.close()


def parse_executor(text: str, workers: int | None) -> Executor:
    """``local``, ``inline`` or ``dask://HOST:PORT`` (``tcp://`` and ``tls://`` are passed through)."""
    if workers is not None and workers < 1:
        raise InputError("--workers must be at least 1", path="--workers")
    scheme, sep, rest = text.partition("://")
    if not sep:
        kinds = {k.value: k for k in ExecutorKind}
        kind = kinds.get(text.strip().lower())
        if kind is ExecutorKind.LOCAL:
            return ProcessExecutor(workers or local_cores())
        if kind is ExecutorKind.INLINE:
            return InlineExecutor()
        raise InputError(f"unknown executor '{text}'", path="--executor",
                         hint="local, inline, or dask://HOST:PORT")
    if not rest:
        raise InputError(f"'{text}' names no host", path="--executor", hint="e.g. dask://scheduler:8786")
    if scheme in ("dask", "tcp", "tls"):
        require(DASK)  # before anything runs: a missing package is bad input, said at once
        return DaskExecutor(f"tcp://{rest}" if scheme == "dask" else text)
    raise InputError(f"unknown executor scheme '{scheme}://'", path="--executor", hint="dask://HOST:PORT")
