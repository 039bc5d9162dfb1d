"""A team's rule files and SLO specs get the same guard as chaoslab's own files.

They are read through :func:`chaos.model.inputs.read_input` (what the path is, checked before a
byte is read; the size bounded) and composed by :mod:`chaos.model.yamlnodes` (depth, values,
tags and aliases bounded), document by document. Each hostile file is refused quickly with an
InputError at the rule file's own line, or at the experiment's reference to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from metrickit import write

from chaos.cli import main
from chaos.errors import InputError
from chaos.model.files import load_experiment
from chaos.model.inputs import RULE_FILE_LIMIT
from chaos.model.yamlnodes import MAX_DEPTH, MAX_NODES
from chaos.promql.rulefiles import load_rule_file

RULES = "prometheus_rules: [red.yaml]\n"
GOOD = """\
groups:
  - name: red
    rules:
      - alert: BackErrors
        expr: sum(rate(chaoslab_responses_total{service="back",outcome!="ok"}[1m])) > 1
"""


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """A read that would block (a FIFO) or run away (an alias bomb) fails the test instead."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def position(text: str, at: str) -> tuple[int, int]:
    i = text.index(at)
    return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)


def refused_rule_file(tmp_path: Path, text: str) -> InputError:
    path = tmp_path / "red.yaml"
    path.write_text(text, encoding="utf-8")
    with deadline(10), pytest.raises(InputError) as info:
        load_rule_file(path)
    return info.value


def test_the_file_the_hostile_ones_depart_from_is_read(tmp_path: Path) -> None:
    (tmp_path / "red.yaml").write_text(GOOD + "---\n" + GOOD.replace("name: red", "name: red2"), encoding="utf-8")
    rule_file = load_rule_file(tmp_path / "red.yaml")
    assert [g.name for g in rule_file.groups] == ["red", "red2"]
    assert [r.name for g in rule_file.groups for r in g.alerting_rules] == ["BackErrors", "BackErrors"]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8))


DEEP = "groups:\n  - name: g\n    rules: " + "[" * (MAX_DEPTH + 10) + "]" * (MAX_DEPTH + 10) + "\n"


@pytest.mark.parametrize(("text", "at", "message"), [
    (GOOD.replace("expr: sum", "expr: !!python/name:os.system sum"), "!!python",
     "tag '!!python/name:os.system' is not supported on a value"),
    (GOOD.replace("- alert: BackErrors", "- alert: !Ref BackErrors"), "!Ref", "tag '!Ref' is not supported on a value"),
    # the file's mapping, groups, a group and its rules are 4 levels: the 61st bracket is the 65th level
    (DEEP, (3, len("    rules: ") + 1 + MAX_DEPTH - 3), f"nested deeper than {MAX_DEPTH} levels"),
    # 12,350 values before line 5, each *d stands for 11,111: the eighth passes 100,000
    (BOMB, "*d, *d, *d]", "more than 100,000 values in one file"),
    (GOOD + "---\n" + GOOD.replace("name: red", "name: red2").replace("BackErrors", "*anchor"), "*anchor",
     "alias *anchor names no anchor defined before it"),
    ("groups:\n  - name: &g red\n    rules: []\n---\ngroups:\n  - name: *g\n    rules: []\n", "*g",
     "alias *g names no anchor defined before it"),  # anchors belong to their own document, as in YAML
    (GOOD.replace("BackErrors", "Back\x07Errors"), "\x07", "YAML syntax error: the character U+0007 is not allowed"),
])
def test_hostile_yaml_in_a_rule_file_is_refused_where_it_is(tmp_path: Path, text: str, at: str | tuple[int, int],
                                                            message: str) -> None:
    error = refused_rule_file(tmp_path, text)
    assert error.location is not None
    line, column = position(text, at) if isinstance(at, str) else at
    assert (error.location.file.endswith("red.yaml"), error.location.line) == (True, line), str(error)
    if not message.startswith("YAML syntax error"):
        assert error.location.column == column, str(error)
    assert error.detail.startswith(message), str(error)
    assert MAX_NODES == 100_000  # the figure the message above states


def test_every_document_of_a_file_counts_toward_one_bound(tmp_path: Path) -> None:
    # 2,500 rules of 15 values a document: each stays under the bound, the third passes it
    rules = "      - {alert: A, expr: vector(1), labels: {a: b, c: d}, annotations: {e: f}}\n" * 2500
    text = "---\n".join(f"groups:\n  - name: g{n}\n    rules:\n{rules}" for n in range(3))
    error = refused_rule_file(tmp_path, text)
    assert error.detail.startswith("more than 100,000 values in one file")
    assert error.location is not None and error.location.line > text.count("\n") * 2 // 3  # in the third document


def test_special_and_oversized_rule_files_are_refused_before_a_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")  # opening it to read would wait for a writer forever
    with open(tmp_path / "big.yaml", "wb") as f:
        f.truncate(RULE_FILE_LIMIT + 1)  # sparse: nothing is written, nothing need be read
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock.yaml"))
        expected = {
            "fifo.yaml": "is a named pipe (FIFO), not a file",
            "big.yaml": f"is {RULE_FILE_LIMIT + 1:,} bytes; input files over 4 MiB are refused",
            "sock.yaml": "is a socket, not a file",
            ".": "is a directory, not a file",
        }
        for name, problem in expected.items():
            with deadline(10), pytest.raises(InputError) as info:
                load_rule_file(tmp_path / name)
            assert info.value.detail == problem, name
        with deadline(10), pytest.raises(InputError) as info:
            load_rule_file("/dev/zero")
        assert str(info.value) == "/dev/zero: is a device, not a file"
    finally:
        server.close()


def test_a_reference_to_a_special_file_is_reported_at_the_reference(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "red.yaml")
    path = write(tmp_path, RULES)
    with deadline(10), pytest.raises(InputError) as info:
        load_experiment(path)
    text = path.read_text(encoding="utf-8")
    assert info.value.location is not None
    assert info.value.location.line == position(text, "red.yaml")[0]
    assert (info.value.path, info.value.detail) == ("prometheus_rules[0]",
                                                    "red.yaml is a named pipe (FIFO), not a file")


def test_rules_check_refuses_a_fifo_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "rules.yaml")
    with deadline(10):
        assert main(["rules", "check", str(tmp_path / "rules.yaml")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith("rules.yaml: is a named pipe (FIFO), not a file")
