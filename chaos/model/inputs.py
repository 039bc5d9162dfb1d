"""Reading a file the user named: checked for what it is before a byte is read.

Every place chaoslab reads a file a user gave it (a model file, a file a model refers
to, a run's ``result.json``, a Compose file to draft from) reads it with
:func:`read_input`. A named pipe would block the read forever, ``/dev/zero`` would fill
memory, a directory or a socket cannot be read at all, and a symlink loop makes path
resolution fail; each is refused with a message saying what the path is, and a file
larger than the reader's limit is refused with the limit.

The check is made on the open file, not only on the name: the file is opened without
blocking (a FIFO opened so does not wait for a writer) and what was opened is checked
again, so swapping the file between the check and the read changes nothing.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from chaos.errors import InputError, Location

MODEL_FILE_LIMIT = 1 << 20
"""Largest topology, experiment or playbook file: 1 MiB (the bundled shop is 4 KiB; a
1,000-service topology written out in full is about 400 KiB)."""

RULE_FILE_LIMIT = 4 << 20
"""Largest Prometheus rule file or SLO spec: 4 MiB. A team's files are read as they are, and some
are generated; a rule takes 350 to 500 bytes and about 15 YAML values (the bundled rules/ and the
rules chaoslab generates from rules/shop-slo.yaml), so the composer's bound of 100,000 values
(``chaos.model.yamlnodes.MAX_NODES``) is reached first, at some 6,000 rules in one file."""

RESULT_FILE_LIMIT = 1 << 30
"""Largest result.json ``chaoslab report`` reads: 1 GiB (a day of per-second series for a
hundred scopes is about 200 MiB)."""


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def size_words(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def input_problem(path: Path, limit: int = MODEL_FILE_LIMIT) -> str | None:
    """Why ``path`` cannot be read as an input file, in words; None when it can. Never blocks."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return _os_problem(exc)
    return _stat_problem(st, limit)


def _stat_problem(st: os.stat_result, limit: int) -> str | None:
    kind = _kind(st.st_mode)
    if kind is not None:
        return f"is {kind}, not a file"
    if st.st_size > limit:
        return f"is {st.st_size:,} bytes; input files over {size_words(limit)} are refused"
    return None


FILE_NOT_FOUND = "file not found"


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return FILE_NOT_FOUND
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops (it points back to itself)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOTDIR:
        return "file not found (a part of the path is not a directory)"
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long"
    return f"cannot read the file: {exc.strerror or exc}"


def _read_at_most(f: BinaryIO, size: int, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes, in chunks: a buffer of the limit itself is never allocated up front,
    so a 1 GiB limit costs only what the file really holds."""
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = f.read(min(left, max(size, 1 << 16)))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_input(path: Path, display: str, limit: int = MODEL_FILE_LIMIT) -> str:
    """The UTF-8 text of the regular file ``path`` of at most ``limit`` bytes, or an InputError naming ``display``."""
    problem = input_problem(path, limit)
    if problem is not None:
        raise InputError(problem, Location(display))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(_os_problem(exc), Location(display)) from None
    with os.fdopen(fd, "rb") as f:
        try:
            info = os.fstat(fd)
            problem = _stat_problem(info, limit)  # what was opened, which may not be what was checked
            data = _read_at_most(f, info.st_size, limit) if problem is None else b""
        except OSError as exc:
            raise InputError(_os_problem(exc), Location(display)) from None
    if problem is None and len(data) > limit:
        problem = f"is larger than {size_words(limit)}; input files over that are refused"
    if problem is not None:
        raise InputError(problem, Location(display))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError("not UTF-8 text (is it a binary file?)", Location(display, line, column)) from None
