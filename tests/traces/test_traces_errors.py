"""Malformed trace files: an error at the bad field's file:line:col, exit code 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tracekit import FIXTURES

from chaos.cli import main

GOOD_OTLP = (FIXTURES / "small-otlp.jsonl").read_text().splitlines()


def inspect(tmp_path: Path, name: str, text: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(text)
    code = main(["traces", "inspect", name])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err.strip()


def at(text: str, token: str, line: int) -> str:
    """``line:col`` of the first ``token`` on 1-based ``line`` of ``text``."""
    return f"{line}:{text.splitlines()[line - 1].index(token) + 1}"


def test_broken_json_on_line_three(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lines = GOOD_OTLP[:2] + [GOOD_OTLP[2].replace('"kind": 2,', '"kind": 2 ', 1)] + GOOD_OTLP[3:]
    text = "\n".join(lines) + "\n"
    code, err = inspect(tmp_path, "t.jsonl", text, capsys, monkeypatch)
    column = lines[2].index('"kind": 2  "') + len('"kind": 2  ') + 1  # the next member, where a comma should be
    assert code == 2
    assert err == f"t.jsonl:3:{column}: not valid JSON: Expecting ',' delimiter"


def test_a_missing_field_is_named_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    request = json.loads(GOOD_OTLP[1])
    del request["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["spanId"]
    text = GOOD_OTLP[0] + "\n" + json.dumps(request) + "\n"
    code, err = inspect(tmp_path, "t.jsonl", text, capsys, monkeypatch)
    assert code == 2
    second_span = text.splitlines()[1].index('{"traceId"', text.splitlines()[1].index('{"traceId"') + 1) + 1
    assert err == (f"t.jsonl:2:{second_span}: resourceSpans[0].scopeSpans[0].spans[1].spanId: expected the id as a "
                   "string of 16 hex digits, got null")


def test_a_bad_id_is_placed_at_its_value(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    text = (FIXTURES / "small-jaeger.json").read_text().replace('"spanID": "00000000000002a3"',
                                                                '"spanID": "xyz-not-hex"')
    code, err = inspect(tmp_path, "j.json", text, capsys, monkeypatch)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "xyz-not-hex" in ln)
    assert code == 2
    assert err == f"j.json:{at(text, chr(34) + 'xyz-not-hex', line)}: data[1].spans[2].spanID: expected up to 16 hex " \
                  "digits, got 'xyz-not-hex'"


@pytest.mark.parametrize(("value", "message"), [
    ('"99999999999999999999999"', "expected nanoseconds since 1970 as a string of digits"),
    ('"9999999999999999999"', "out of range"),
    ('"0000000000000000000"', "out of range"),
    ('"17000000000000000x0"', "expected nanoseconds since 1970 as a string of digits"),
    ('"-5"', "expected nanoseconds since 1970 as a string of digits"),
    ("18446744073709551615", "out of range"),
    ("1e400", "expected nanoseconds since 1970 as a string of digits, got inf"),
    ("9" * 5000, "not valid JSON: Exceeds the limit (4300 digits)"),
    ("NaN", "not valid JSON: NaN is not a JSON number"),
])
def test_huge_and_impossible_numbers(value: str, message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    text = GOOD_OTLP[0].replace('"startTimeUnixNano": "1700000000000000000"', f'"startTimeUnixNano": {value}', 1)
    assert text != GOOD_OTLP[0]
    code, err = inspect(tmp_path, "n.jsonl", text + "\n", capsys, monkeypatch)
    assert code == 2
    assert err.startswith(f"n.jsonl:1:{text.index(value) + 1}: ")
    assert message in err


def test_zipkin_micros_must_be_whole_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    text = (FIXTURES / "small-zipkin.json").read_text().replace('"duration": 300', '"duration": 300.5', 1)
    code, err = inspect(tmp_path, "z.json", text, capsys, monkeypatch)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "300.5" in ln)
    assert code == 2
    assert err == f"z.json:{at(text, '300.5', line)}: [0][5].duration: expected a whole number of microseconds, " \
                  "got 300.5"


def test_a_truncated_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    text = (FIXTURES / "small-zipkin.json").read_text()
    cut = text[: text.index('"post /card"')]
    code, err = inspect(tmp_path, "cut.json", cut, capsys, monkeypatch)
    assert code == 2
    assert err.startswith(f"cut.json:{len(cut.splitlines())}:") and "not valid JSON" in err


def test_not_a_trace_file_and_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = inspect(tmp_path, "topology.json", '{"name": "shop", "services": {}}', capsys, monkeypatch)
    assert code == 2 and err.startswith("topology.json:1:1: not a trace file this reads")
    assert "hint: expected OTLP JSON" in err
    code = main(["traces", "inspect", "missing.jsonl"])
    assert code == 2 and capsys.readouterr().err.strip() == "missing.jsonl: file not found"
    code, err = inspect(tmp_path, "empty.json", "", capsys, monkeypatch)
    assert code == 2 and "no spans in the files given" in err


def test_zipkin_spans_without_times_are_counted_not_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spans = [s for t in json.loads((FIXTURES / "small-zipkin.json").read_text()) for s in t]
    del spans[5]["duration"]  # the redis call of the first trace, reported without its end
    monkeypatch.chdir(tmp_path)
    Path("z.json").write_text(json.dumps(spans))
    assert main(["traces", "inspect", "z.json"]) == 0
    out = capsys.readouterr().out
    assert "  1 span without a start time or duration (Zipkin allows these; nothing can be timed) (e.g. z.json:1:" \
        in out


def test_a_real_process_exits_2_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys
    bad = tmp_path / "bad.json"
    bad.write_text('[{"traceId": "abc", "id": 5}]')
    proc = subprocess.run([sys.executable, "-m", "chaos", "traces", "inspect", str(bad)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{bad}:1:27: [0].id: expected the id as a string of 16 hex digits, got 5"
    assert "Traceback" not in proc.stderr


def test_reading_traces_imports_no_simulator_docker_or_http() -> None:
    import subprocess
    import sys
    code = ("import sys, chaos.traces.observe, chaos.commands.traces\n"
            "bad = [m for m in ('simpy', 'docker', 'requests', 'locust', 'gevent', 'matplotlib', 'chaos.sim')"
            " if m in sys.modules]\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
