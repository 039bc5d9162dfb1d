"""The rules of chaos.outdir and chaos.terminal, on their own: safe names, checks of --out, staging, escapes.

The commands that use them are tested end to end in test_cli_output_dir.py.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaos import outdir, terminal
from chaos.errors import InputError, RunError
from chaos.outdir import NAME_LIMIT, Mode, OutDir, check_out, default_dir, safe_name, staged
from chaos.terminal import Shown, visible

SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

HOSTILE = ["../escaped-by-name", "/tmp/abs-name", "..", ".", "", "/", "a" * 300, "\x1b[31mred\x07", "a/../../b",
           "café-outage", ".hidden", "-rf", "con\x00tains-nul", "\u202eevil", "x" * 80 + "/", "\ud800lone"]


def _random_names(count: int, seed: int = 12) -> list[str]:
    rng = random.Random(seed)
    alphabet = "ab./-_ \\\x00\x1b\x07\n\t\x7f\x85é\u202e\ud800~*:"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(count)]


@pytest.mark.parametrize("name", HOSTILE + _random_names(200))
def test_a_safe_name_is_one_path_component_under_runs_and_never_hidden(name: str) -> None:
    safe = safe_name(name)
    assert SAFE.fullmatch(safe), safe
    assert len(safe) <= NAME_LIMIT + 9 and safe not in (".", "..")
    assert default_dir(name).parent == Path("runs")
    assert default_dir(name, "-drill").name == safe + "-drill"


@pytest.mark.parametrize("name", ["db-slow-retry-cascade", "retry-storm", "a.b_c-1", "X9"])
def test_a_name_that_is_safe_already_is_kept_as_it_is(name: str) -> None:
    assert safe_name(name) == name


def test_names_that_had_to_change_get_a_hash_so_two_never_share_a_directory() -> None:
    names = ["a b", "a_b", "a/b", "a\x1bb", "a" * 300, "a" * 301, "../a_b", "_a_b"]
    assert len({safe_name(n) for n in names}) == len(names)
    assert safe_name("a" * 300).startswith("a" * NAME_LIMIT + "-")
    assert safe_name("a b") == safe_name("a b")  # stable: the same name finds its directory again


# --------------------------------------------------------------------------- check_out


def test_out_that_is_not_a_directory_is_named_with_its_argument(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cases = {taken: "a file, not a directory", fifo: "a FIFO (named pipe), not a directory",
             Path("/dev/null"): "a character device, not a directory",
             taken / "sub": "cannot be created: " + str(taken) + " is a file"}
    for path, why in cases.items():
        with pytest.raises(InputError) as err:
            check_out(path, Path("runs/x"), Mode.REPLACE)
        assert err.value.message == f"--out {path}: {why}"
        assert err.value.exit_code == 2
    assert taken.read_text() == "keep me"


def test_the_default_is_checked_too_and_the_message_says_it_was_the_default(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("runs").write_text("not a directory")
    with pytest.raises(InputError) as err:
        check_out(None, default_dir("x", "-sweep"), Mode.ADD)
    assert err.value.message == "--out (default runs/x-sweep): cannot be created: runs is a file"
    assert err.value.hint == "pass --out DIR to write the results elsewhere"


def test_a_directory_to_replace_may_hold_only_what_chaoslab_writes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "result.json").write_text("{}")
    assert check_out(mine, mine, Mode.REPLACE).path == mine
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"holds files chaoslab did not write \(notes.txt\)"):
        check_out(mine, mine, Mode.REPLACE)
    assert check_out(mine, mine, Mode.ADD).mode is Mode.ADD  # adding never deletes what is there
    (mine / "notes.txt").unlink()
    (mine / "faults.jsonl").write_text("")
    with pytest.raises(InputError, match="fault journal"):
        check_out(mine, mine, Mode.REPLACE)
    monkeypatch.chdir(mine)
    with pytest.raises(InputError, match="holds the current directory"):
        check_out(Path("."), Path("."), Mode.REPLACE)
    with pytest.raises(InputError, match="holds the current directory"):
        check_out(tmp_path, tmp_path, Mode.REPLACE)


def test_a_name_too_long_for_the_file_system_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="File name too long"):
        check_out(tmp_path / ("b" * 300), Path("runs/x"), Mode.REPLACE)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: the permission check cannot fail")
def test_a_directory_chaoslab_may_not_write_into_is_bad_input(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(InputError, match="cannot be created: chaoslab may not write into"):
        check_out(locked / "new", Path("runs/x"), Mode.REPLACE)


# --------------------------------------------------------------------------- staged


def _out(path: Path, mode: Mode) -> OutDir:
    return check_out(path, path, mode)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_replace_makes_a_new_directory_whole_or_leaves_the_earlier_one(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "x"
    with staged(_out(target, Mode.REPLACE)) as stage:
        (stage / "result.json").write_text("1")
        (stage / "report.html").write_text("1")
        assert not target.exists()  # nothing shows before the end
    assert _tree(target) == {"result.json": "1", "report.html": "1"}
    with pytest.raises(ZeroDivisionError), staged(_out(target, Mode.REPLACE)) as stage:
        (stage / "result.json").write_text("2")
        raise ZeroDivisionError
    assert _tree(target) == {"result.json": "1", "report.html": "1"}
    with staged(_out(target, Mode.REPLACE)) as stage:
        (stage / "result.json").write_text("3")
    assert _tree(target) == {"result.json": "3"}  # the earlier report went with the earlier run
    assert sorted(os.listdir(target.parent)) == ["x"]  # no staging directory left beside it


def test_replace_keeps_a_symbolic_link_and_replaces_where_it_points(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "result.json").write_text("old")
    link = tmp_path / "link"
    link.symlink_to(real)
    with staged(_out(link, Mode.REPLACE)) as stage:
        (stage / "result.json").write_text("new")
    assert link.is_symlink() and _tree(real) == {"result.json": "new"}


def test_without_a_one_step_exchange_two_renames_do_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outdir, "exchange", lambda a, b: False)
    target = tmp_path / "x"
    for text in ("1", "2"):
        with staged(_out(target, Mode.REPLACE)) as stage:
            (stage / "result.json").write_text(text)
    assert _tree(target) == {"result.json": "2"} and sorted(os.listdir(tmp_path)) == ["x"]


def test_a_directory_that_cannot_be_renamed_has_its_content_replaced_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outdir, "_swappable", lambda target: False)  # as a mount point is
    target = tmp_path / "volume"
    target.mkdir()
    (target / "report.html").write_text("earlier")
    (target / "figures").mkdir()
    with pytest.raises(ZeroDivisionError), staged(_out(target, Mode.REPLACE)) as stage:
        (stage / "result.json").write_text("half")
        raise ZeroDivisionError
    assert _tree(target) == {"report.html": "earlier"} and sorted(os.listdir(target)) == ["figures", "report.html"]
    with staged(_out(target, Mode.REPLACE)) as stage:
        (stage / "result.json").write_text("new")
        (stage / "series.csv").write_text("new")
    assert sorted(os.listdir(target)) == ["result.json", "series.csv"]  # the earlier run's files are gone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_the_exchange_swaps_two_directories_in_one_step(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    (b / "f").write_text("b")
    assert outdir.exchange(a, b)
    assert (a / "f").read_text() == "b" and (b / "f").read_text() == "a"


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_what_a_killed_run_left_is_cleared_or_restored_by_the_next(tmp_path: Path) -> None:
    pid = _dead_pid()
    target = tmp_path / "x"
    partial = tmp_path / f".x.partial-{pid}-0123abcd"
    partial.mkdir()
    (partial / "series.csv").write_text("half")
    old = tmp_path / f".x.old-{pid}-0123abcd"  # killed between the two renames: x is gone, its content here
    old.mkdir()
    (old / "result.json").write_text("earlier")
    with pytest.raises(KeyError), staged(_out(target, Mode.REPLACE)):
        raise KeyError  # even a run that fails puts the earlier results back first
    assert _tree(target) == {"result.json": "earlier"} and sorted(os.listdir(tmp_path)) == ["x"]
    inside = target / f".partial-{pid}-0123abcd"
    inside.mkdir()
    with staged(_out(target, Mode.ADD)):
        pass
    assert not inside.exists()


def test_add_puts_the_last_file_in_last_after_removing_its_earlier_copy(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "live"
    target.mkdir()
    (target / "faults.jsonl").write_text("journal")
    for name in ("result.json", "series.csv", "report.html"):
        (target / name).write_text("old")
    (target / "figures").mkdir()
    (target / "figures" / "a.png").write_text("old")
    order: list[str] = []
    real_replace, real_unlink = os.replace, Path.unlink

    def replace(src: str | Path, dst: str | Path) -> None:
        order.append(f"move {Path(dst).name}")
        real_replace(src, dst)

    def unlink(self: Path, missing_ok: bool = False) -> None:
        order.append(f"remove {self.name}")
        real_unlink(self, missing_ok)

    with staged(_out(target, Mode.ADD), owns=("result.json", "series.csv", "report.html", "figures"),
                last="result.json") as stage:
        (stage / "result.json").write_text("new")
        (stage / "series.csv").write_text("new")
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.undo()
    assert order[0] == "remove result.json" and order[-1] == "move result.json"
    assert _tree(target) == {"faults.jsonl": "journal", "result.json": "new", "series.csv": "new"}
    (target / "figures").write_text("a file where a directory goes")
    with staged(_out(target, Mode.ADD), owns=("figures",)) as stage:
        (stage / "figures").mkdir()
        (stage / "figures" / "b.png").write_text("new")
    assert _tree(target / "figures") == {"b.png": "new"}


def test_add_to_a_directory_that_does_not_exist_leaves_none_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "new" / "reports"
    with pytest.raises(ZeroDivisionError), staged(_out(target, Mode.ADD), owns=("report.html",)) as stage:
        (stage / "report.html").write_text("half")
        raise ZeroDivisionError
    assert os.listdir(tmp_path / "new") == []
    with staged(_out(target, Mode.ADD), owns=("report.html",)) as stage:
        (stage / "report.html").write_text("whole")
    assert _tree(target) == {"report.html": "whole"} and os.listdir(tmp_path / "new") == ["reports"]


def test_add_leaves_the_directory_as_it_was_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "sweep"
    (target / "runs" / "v").mkdir(parents=True)
    (target / "runs" / "v" / "seed-1.json").write_text("kept for resuming")
    (target / "sweep.json").write_text("earlier")
    with pytest.raises(RunError) as err, staged(_out(target, Mode.ADD), owns=("sweep.json",), last="sweep.json") as s:
        (s / "sweep.md").write_text("half")
        raise OSError(28, "No space left on device")
    assert err.value.message == (f"could not write the results into {target}: No space left on device; "
                                 "its earlier content is unchanged")
    assert _tree(target) == {"runs/v/seed-1.json": "kept for resuming", "sweep.json": "earlier"}


# --------------------------------------------------------------------------- terminal


@pytest.mark.parametrize(("text", "shown"), [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("bell\x07", "bell\\x07"),
    ("over\rwrite", "over\\x0dwrite"),
    ("back\x08space\x7f", "back\\x08space\\x7f"),
    ("c1\x9b31m", "c1\\x9b31m"),
    ("\u202eevil", "\\u202eevil"),
    ("lone \ud800", "lone \\ud800"),
    ("two\nlines\tand a tab", "two\nlines\tand a tab"),
    ("café ✓ 東京", "café ✓ 東京"),
])
def test_visible_escapes_what_a_terminal_would_obey_and_keeps_the_rest(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert visible(shown) == shown  # escapes are printable: twice is once


def test_every_character_outside_the_printable_ones_is_escaped() -> None:
    for code in list(range(0x00, 0xA0)) + [0x2028, 0x2029, 0x2066, 0xFFFE]:
        char = chr(code)
        if char in "\n\t" or 0x20 <= code < 0x7F:
            assert visible(char) == char
        else:
            assert visible(char).startswith("\\") and len(visible(char)) > 1, hex(code)


def test_shown_streams_escape_everything_but_the_progress_bars_carriage_return(
        monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with terminal.shown_streams():
        assert isinstance(sys.stdout, Shown)
        print("name \x1b[2J\x07")
        print("warning \x1b]0;title\x07", file=sys.stderr)
        terminal.redraw("[### ] 3/4 \x1b[31m")
    assert sys.stdout is out and sys.stderr is err
    assert out.getvalue() == "name \\x1b[2J\\x07\n"
    assert err.getvalue() == "warning \\x1b]0;title\\x07\n\r[### ] 3/4 \\x1b[31m"
