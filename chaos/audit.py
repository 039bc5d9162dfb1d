"""The audit trail every result carries: what went in, with what, where and when.

:func:`audit` gives a frozen :class:`Audit`; the result document holds it as the JSON object the codec
writes of it. The reader keeps that object as it finds it (a free-form record: an older or hand-edited
audit of another shape is shown, not refused), so this type describes what chaoslab writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import platform
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import chaos

KEY_PACKAGES = ("simpy", "networkx", "pyyaml", "matplotlib", "docker", "locust")


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class InputHash:
    sha256: str | None  # None: the file could not be read when the run ended


@dataclass(frozen=True, kw_only=True)
class Audit:
    """Hashes of the input files, seeds, versions (None: a key package not installed), host, start and
    finish times (ISO 8601, UTC) and the command line."""

    inputs: Mapping[str, InputHash]
    seeds: tuple[int, ...]
    chaoslab_version: str
    python: str
    packages: Mapping[str, str | None]
    host: str
    platform: str
    started: str
    finished: str
    command: tuple[str, ...]


def audit(inputs: Iterable[str | Path], seeds: Iterable[int], started: str,
          argv: list[str] | None = None) -> Audit:
    """The audit of a run that read ``inputs`` with ``seeds`` and started at ``started``, finished now."""
    return Audit(
        inputs={str(p): InputHash(sha256=sha256(Path(p))) for p in inputs},
        seeds=tuple(seeds),
        chaoslab_version=chaos.__version__,
        python=platform.python_version(),
        packages=package_versions(),
        host=socket.gethostname(),
        platform=platform.platform(),
        started=started,
        finished=now_iso(),
        command=tuple(sys.argv if argv is None else argv),
    )
