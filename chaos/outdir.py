"""Where a command writes its results, and how they get there whole.

Every command that writes a directory goes through this module, so three rules hold everywhere:

1. **A default directory comes from a safe name** (:func:`default_dir`). ``runs/<name>`` (and
   ``runs/<name>-drill``, ``-sweep``, ``-live``, ``-compare``) uses :func:`safe_name` of the
   experiment's name, never the name itself: an experiment file from a colleague's branch
   cannot steer where results go.
2. **``--out`` is checked before the run** (:func:`check_out`), so a bad directory costs a
   second, not a whole simulation: it must be a directory or not exist yet, the nearest part
   of it that exists must be a directory chaoslab can write into; a file, FIFO, device or
   socket is bad input (exit 2) naming the argument.
3. **Results appear whole** (:func:`staged`): every file is written into a staging directory
   and renamed into place at the end, so a failure leaves the complete earlier content or
   nothing, never half a result. Two modes (:class:`Mode`):

   - ``REPLACE`` (simulate, drill, diff, the simulated half of compare): the results are a new
     directory. It is staged beside the target (``.<name>.partial-<pid>-<hex>``) and swapped
     with the earlier directory in one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere
     two renames, the earlier content kept under ``.<name>.old-<pid>-<hex>`` in between and
     restored by the next run if chaoslab dies there). The earlier directory is then deleted,
     so it may hold only what chaoslab writes: :func:`check_out` refuses one that holds other
     files, a fault journal, or the current directory. A directory that cannot be renamed (a
     mount point, such as a CI job's volume, or one whose parent is read-only) has its content
     replaced in place instead, as in ``ADD`` mode, ``result.json`` last.
   - ``ADD`` (live runs, sweeps, ``report``, compare): the directory holds things written before
     the results, which must stay where they are: a live run's fault journal (on disk before
     any fault is applied, so ``chaoslab recover`` works after a kill) and stack, a sweep's
     per-run files (kept for resuming), the run a report is made from. The results are staged
     in ``.partial-<pid>-<hex>`` inside it, then moved in one by one, the command's *last*
     file (``result.json``, ``sweep.json``, ``compare.json``) last, after the earlier copy of
     it was removed first: a directory that has it has all of the results it belongs to.
     Files of the command's own kind that the new results do not include are removed, so
     nothing stale stays beside them. A directory that does not exist yet appears whole, as
     in ``REPLACE``.

A staging directory left by a killed chaoslab is removed by the next run into the same
directory (its process is gone).
"""

from __future__ import annotations

import ctypes
import enum
import errno
import functools
import hashlib
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from chaos.errors import InputError, RunError

RUNS = Path("runs")
NAME_LIMIT = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_DIGITS = 8

JOURNAL = "faults.jsonl"  # chaos.live.faults.journal.JOURNAL_FILE, named here without importing live code
RESULT = "result.json"    # the file that says a run directory is complete: written last where files move in

# Every entry chaoslab writes at the top of a results directory. A directory a run replaces may
# hold only these (besides staging leftovers); tests check that every command stays inside the list.
WRITTEN = frozenset({
    RESULT, "series.csv", "report.html", "summary.md", "junit.xml", "figures",  # a run and its reports
    "live.json", "stack", "load", JOURNAL,                                      # a live run
    "sweep.json", "sweep.md", "heatmap.png", "runs",                            # a sweep
    "diff.md", "diff.json",                                                     # diff
    "coverage.json", "coverage.md", "coverage.html",                            # coverage (and junit.xml, runs)
    "compare.json", "compare.md", "compare.png", "live", "sim",                 # compare
})


def safe_name(name: str) -> str:
    """``name`` as a directory name: ASCII letters, digits, ``.``, ``_`` and ``-``, never hidden, never empty.

    Every run of other characters becomes one ``_``; leading ``.``, ``_`` and ``-`` go (so never
    ``.``, ``..``, a hidden directory or an option-like name); at most ``NAME_LIMIT`` characters;
    ``unnamed`` if nothing is left. A name that had to change gets ``-`` and 8 hex digits of its
    SHA-256, so two names never share a directory; a safe name is returned as it is.
    """
    slug = _UNSAFE.sub("_", name).lstrip("._-")[:NAME_LIMIT] or "unnamed"
    if slug == name:
        return slug
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_DIGITS]
    return f"{slug}-{digest}"


def default_dir(name: str, suffix: str = "", root: Path = RUNS) -> Path:
    """``runs/<safe name><suffix>``: where a command writes when no ``--out`` is given."""
    return root / f"{safe_name(name)}{suffix}"


class Mode(enum.Enum):
    """How results meet a directory that exists already (see the module's docstring)."""

    REPLACE = "replace"  # the results are a new directory that takes the place of the earlier one
    ADD = "add"          # the results join what the directory holds (a journal, per-run files, a run)


@dataclass(frozen=True)
class OutDir:
    """A results directory that passed :func:`check_out`."""

    path: Path      # as given (or derived): the results' paths are printed under it
    mode: Mode
    argument: str   # the option that named it, for messages

    def file(self, name: str) -> Path:
        return self.path / name


def check_out(given: Path | None, default: Path, mode: Mode, argument: str = "--out") -> OutDir:
    """The results directory, checked before anything runs: bad input (exit 2) names the argument."""
    path = given if given is not None else default
    problem = _problem(path, mode)
    if problem is not None:
        if given is None:
            where = f"{argument} (default {path})"
            hint = f"pass {argument} DIR to write the results elsewhere"
        else:
            where = f"{argument} {path}"
            hint = f"{argument} takes a directory: a new one, or one a chaoslab run wrote"
        raise InputError(problem, path=where, hint=hint)
    return OutDir(path, mode, argument)


def check_out_file(path: Path, overwrite: bool, hint: str, argument: str = "--out") -> Path:
    """A single output file (a topology chaoslab drafts), checked before any work: a new file, or with
    ``overwrite`` an existing regular one; never a directory, FIFO or device."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        problem = ("a symbolic link to something that does not exist" if os.path.lexists(path)
                   else _creatable(path))
    except OSError as exc:
        problem = _why(exc)
    else:
        if not stat.S_ISREG(st.st_mode):
            problem = f"{_kind(st.st_mode)}, not a file"
        elif not overwrite:
            problem = "exists; chaoslab does not overwrite it"
        elif not os.access(path, os.W_OK):
            problem = "a file chaoslab may not write"
        else:
            problem = None
    if problem is not None:
        raise InputError(problem, path=f"{argument} {path}", hint=hint)
    return path


def _problem(path: Path, mode: Mode) -> str | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.lexists(path):
            return "a symbolic link to something that does not exist"
        return _creatable(path)
    except OSError as exc:
        return _why(exc)
    if not stat.S_ISDIR(st.st_mode):
        return f"{_kind(st.st_mode)}, not a directory"
    if not os.access(path, os.W_OK | os.X_OK):
        return "a directory chaoslab may not write into"
    return _replaceable(path) if mode is Mode.REPLACE else None


def _creatable(path: Path) -> str | None:
    """Why ``path`` cannot be created, or None: its nearest existing ancestor decides."""
    for ancestor in path.parents:
        try:
            st = os.stat(ancestor)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.lexists(ancestor) and not os.path.exists(ancestor):
                return f"cannot be created: {ancestor} is a symbolic link to something that does not exist"
            continue
        except OSError as exc:
            return f"cannot be created: {ancestor}: {_why(exc)}"
        if not stat.S_ISDIR(st.st_mode):
            return f"cannot be created: {ancestor} is {_kind(st.st_mode)}"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"cannot be created: chaoslab may not write into {ancestor}"
        return None
    return None  # a relative path's last parent is ".", which exists unless the cwd was deleted


def _replaceable(path: Path) -> str | None:
    """Why a new run may not take the place of the directory at ``path``, or None."""
    target = _target(path)
    here = Path.cwd()
    if target == here or target in here.parents:
        return "holds the current directory; a run replaces its results directory as a whole"
    try:
        entries = os.listdir(path)
    except OSError as exc:
        return _why(exc)
    if JOURNAL in entries:
        return (f"holds a live run's fault journal ({JOURNAL}), which a new run would delete; "
                "choose another directory (run chaoslab recover on this one if a run was killed)")
    foreign = sorted(e for e in entries if e not in WRITTEN and not _leftover(e))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return (f"holds files chaoslab did not write ({shown}); a run replaces its results directory "
                "as a whole, so it writes only into a new one or one a run wrote")
    return None


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a directory"  # where check_out_file wants a file
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _target(path: Path) -> Path:
    """The absolute path whose directory entry is replaced: a symbolic link is followed, never replaced."""
    absolute = Path(os.path.abspath(path))
    return absolute.resolve() if absolute.is_symlink() else absolute


# --------------------------------------------------------------------------- staging

_LEFTOVER = re.compile(r"\.(?:(?P<name>.+)\.)?(?P<kind>partial|old)-(?P<pid>\d+)-[0-9a-f]{8}")


def _leftover(entry: str) -> bool:
    """A staging directory or temporary file of an earlier chaoslab."""
    return _LEFTOVER.fullmatch(entry) is not None or (entry.startswith(".") and entry.endswith(".tmp"))


@contextmanager
def staged(out: OutDir, owns: Collection[str] = (), last: str | None = None) -> Iterator[Path]:
    """A directory to write every result file into; at the end it becomes ``out`` whole.

    ``owns`` and ``last`` matter in ``ADD`` mode: the names this command writes (an earlier one
    the new results lack is removed) and the one that goes in last. On any failure the staging
    directory is deleted and ``out`` is as it was; an OSError (a full disk) is a RunError
    naming the directory.
    """
    target = _target(out.path)
    # A directory that does not exist yet holds nothing to add to: it appears whole, as in REPLACE.
    swap = not os.path.lexists(target) or (out.mode is Mode.REPLACE and _swappable(target))
    if out.mode is Mode.REPLACE and not swap:
        # A mount point (a CI volume) cannot be renamed: what it holds is replaced in place instead,
        # result.json last. check_out made sure it holds only what chaoslab writes.
        owns, last = WRITTEN - {JOURNAL}, RESULT
    try:
        stage = _begin(target, swap)
    except OSError as exc:
        raise _failed(out, exc, target) from None
    try:
        yield stage
        if swap:
            _swap_in(stage, target)
        else:
            _publish(stage, target, owns, last)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _failed(out, exc, target) from None
        raise


def _failed(out: OutDir, exc: OSError, target: Path) -> RunError:
    kept = "its earlier content is unchanged" if target.exists() else "nothing was written"
    return RunError(f"could not write the results into {out.path}: {_why(exc)}; {kept}",
                    hint=f"free some space or fix the permissions, or choose another {out.argument}")


def _swappable(target: Path) -> bool:
    """Whether the directory at ``target`` can be renamed: not a mount point, and its parent writable."""
    if not os.path.lexists(target):
        return True
    return not os.path.ismount(target) and os.access(target.parent, os.W_OK | os.X_OK)


def _begin(target: Path, swap: bool) -> Path:
    if swap:
        target.parent.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(target.parent, target)
        return _new_dir(target.parent, f".{_short(target.name)}.partial")
    target.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(target, None)
    return _new_dir(target, ".partial")


def _new_dir(parent: Path, prefix: str) -> Path:
    while True:
        path = parent / f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()  # mode 0o777 less the umask, as any directory the user makes
        except FileExistsError:
            continue
        return path


def _short(name: str, limit: int = 120) -> str:
    """At most ``limit`` bytes of ``name``, so that a staging name stays within the file system's 255."""
    return os.fsencode(name)[:limit].decode("utf-8", "ignore")


def _clear_leftovers(parent: Path, target: Path | None) -> None:
    """Remove what a killed chaoslab left while writing ``target`` (None: inside ``parent``)."""
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        m = _LEFTOVER.fullmatch(entry)
        if m is None or _alive(int(m["pid"])):
            continue
        if target is None and m["name"] is None and m["kind"] == "partial":
            shutil.rmtree(parent / entry, ignore_errors=True)
        elif target is not None and m["name"] == _short(target.name):
            if m["kind"] == "old" and not os.path.lexists(target):
                os.rename(parent / entry, target)  # killed between the two renames: the earlier results return
            else:
                shutil.rmtree(parent / entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_in(stage: Path, target: Path) -> None:
    """Make ``stage`` the directory at ``target``; the earlier directory there is deleted."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        os.rename(stage, target)
        return
    os.chmod(stage, stat.S_IMODE(st.st_mode))
    if exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # now the earlier content
        return
    old = _new_name(target.parent, f".{_short(target.name)}.old")
    os.rename(target, old)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _new_name(parent: Path, prefix: str) -> Path:
    while True:
        path = parent / f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"
        if not os.path.lexists(path):
            return path


def _publish(stage: Path, target: Path, owns: Collection[str], last: str | None) -> None:
    """Move the staged entries into ``target``, ``last`` last (its earlier copy removed first)."""
    names = sorted(os.listdir(stage))
    if last is not None and last in names:
        _remove(target / last)
    for name in owns:
        if name not in names:
            _remove(target / name)
    for name in sorted(names, key=lambda n: n == last):
        dest, src = target / name, stage / name
        if (dest.is_dir() and not dest.is_symlink()) or (src.is_dir() and os.path.lexists(dest)):
            _remove(dest)  # os.replace puts a directory over neither a non-empty one nor a file
        os.replace(src, dest)
    os.rmdir(stage)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------- one-step swap

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one step; False where the system cannot (then nothing changed)."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False  # an old kernel, or a file system without it
    raise OSError(err, os.strerror(err), str(b))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """The C library's renameat2 (Linux, glibc 2.28 and later), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return cast(Callable[..., int], fn)
