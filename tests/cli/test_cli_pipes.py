"""Output piped into a reader that stops early (``chaoslab ... | head``): a quiet stop, never a traceback.

Each case runs the command as a user's shell does, in a fresh interpreter, with its output going
into a pipe whose reader has gone. The exit code is 141 (128 + SIGPIPE), what a shell reports
for a C program that the closed pipe ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.cli import SIGPIPE_EXIT

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "chaos"]


def run_into_closed_pipe(args: list[str], cwd: Path, stderr_too: bool = False) -> subprocess.CompletedProcess[str]:
    """``args`` run with stdout (and with ``stderr_too``, stderr) into a pipe nobody reads any more."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: no race with how much fits in the pipe
    try:
        return subprocess.run([*COMMAND, *args], cwd=cwd, stdout=write_end,
                              stderr=write_end if stderr_too else subprocess.PIPE, text=True, timeout=300,
                              check=False)
    finally:
        os.close(write_end)


def assert_quiet(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert "BrokenPipeError" not in stderr


@pytest.mark.parametrize("args", [["schema", "experiment"], ["schema", "playbook"],
                                  ["validate", "topologies/shop.yaml", "experiments/db-slow-retry-cascade.yaml"]],
                         ids=["schema-experiment", "schema-playbook", "validate"])
def test_a_closed_pipe_ends_the_command_quietly(args: list[str]) -> None:
    done = run_into_closed_pipe(args, ROOT)
    assert_quiet(done.stderr)
    assert done.stderr == ""
    assert done.returncode == SIGPIPE_EXIT == 141


def test_a_simulation_piped_into_a_closed_reader_still_writes_its_results(tmp_path: Path) -> None:
    # The summary is printed after the results are in place: losing the reader loses only the summary.
    out = tmp_path / "run"
    done = run_into_closed_pipe(["simulate", "experiments/db-slow-retry-cascade.yaml", "--out", str(out),
                                 "--no-report", "--replications", "1"], ROOT)
    assert_quiet(done.stderr)
    assert done.returncode == SIGPIPE_EXIT
    assert (out / "result.json").is_file() and (out / "series.csv").is_file()


def test_both_streams_into_a_closed_pipe_end_quietly(tmp_path: Path) -> None:
    # ``chaoslab validate missing.yaml 2>&1 | head``: the error message itself meets the closed pipe.
    # Without the fix the interpreter prints a traceback into the same closed pipe and exits 1.
    done = run_into_closed_pipe(["validate", str(tmp_path / "missing.yaml")], ROOT, stderr_too=True)
    assert done.returncode == SIGPIPE_EXIT


def test_piped_into_head_as_printed() -> None:
    # ``chaoslab schema experiment | head -1``: a real reader that takes one line and leaves.
    producer = subprocess.Popen([*COMMAND, "schema", "experiment"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.run([sys.executable, "-c", "import sys; print(sys.stdin.readline(), end='')"],
                          stdin=producer.stdout, capture_output=True, text=True, timeout=120, check=True)
    producer.stdout.close()  # as the shell does: only head holds the read end, and head has gone
    stderr = producer.stderr.read()
    producer.stderr.close()
    code = producer.wait(timeout=120)
    assert head.stdout == "{\n"
    assert_quiet(stderr)
    assert code in (0, SIGPIPE_EXIT)  # 0 only if every byte fitted in the pipe before head left
