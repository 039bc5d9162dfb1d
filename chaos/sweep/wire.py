"""Models as bytes (an experiment; a drill's experiment and playbook): encoded once, decoded once per worker.

Parsed models remember where their fields came from in read-only mappings
(``types.MappingProxyType``), which the standard pickler refuses. This pickler writes
them as plain dicts rebuilt into proxies on load, so the bytes load with plain
``pickle.loads`` in any process that can import chaoslab: a local worker or a Dask one.
The same pickler saves a paused simulation (``chaos.sweep.shared``).
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import pickle
import types
from typing import Any


def _proxy(items: dict[str, Any]) -> types.MappingProxyType[str, Any]:
    return types.MappingProxyType(items)


def _reduce_proxy(proxy: types.MappingProxyType[str, Any]) -> tuple[Any, tuple[dict[str, Any]]]:
    return _proxy, (dict(proxy),)


def _reduce_method(method: types.MethodType) -> tuple[Any, tuple[Any, Any]]:
    # The default goes through getattr(self, name), which fails for SimPy's classes bound
    # to its Environment (env.process is Process bound as a method) and works for the rest.
    return _bind, (method.__func__, method.__self__)


def _bind(func: Any, obj: Any) -> types.MethodType:
    return types.MethodType(func, obj)


def dumps(obj: Any) -> bytes:
    """Pickle ``obj``, models with their source locations included."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    # A private table: registering with copyreg globally would change pickling for everyone.
    pickler.dispatch_table = copyreg.dispatch_table.copy()
    pickler.dispatch_table[types.MappingProxyType] = _reduce_proxy
    pickler.dispatch_table[types.MethodType] = _reduce_method
    pickler.dump(obj)
    return buffer.getvalue()


def loads(blob: bytes) -> object:
    """What :func:`dumps` encoded: an experiment, or a drill's experiment and playbook."""
    return pickle.loads(blob)


def digest(blob: bytes) -> str:
    """A short name for an encoded experiment, the same in every process."""
    return hashlib.sha256(blob).hexdigest()[:16]
