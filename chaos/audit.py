"""The audit trail every result carries: what went in, with what, where and when."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import platform
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def audit(inputs: Iterable[str | Path], seeds: list[int], started: str,
          argv: list[str] | None = None) -> dict[str, Any]:
    """Hashes of the input files, seeds, versions, host, times and command line."""
    files = {}
    for p in inputs:
        path = Path(p)
        files[str(p)] = {"sha256": sha256(path)}
    return {
        "inputs": files,
        "seeds": seeds,
        "chaoslab_version": chaos.__version__,
        "python": platform.python_version(),
        "packages": package_versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "started": started,
        "finished": now_iso(),
        "command": list(sys.argv if argv is None else argv),
    }
