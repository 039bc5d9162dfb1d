"""What ``topology from-traces`` derives and writes, pinned byte for byte: the observed model (every figure,
floats exactly) and the topology YAML, for the three hand-written fixtures and the import benchmark's
generated traces in each format.

The reading and derivation are tuned for speed (a million spans, ``benchmarks/trace_import.py``); this is
what keeps such work from changing a result. A change meant to alter a result regenerates the files with
``python tests/traces/test_traces_golden.py`` in a commit of its own that says what changed and why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gzip
import io
import json
import os
import sys
from pathlib import Path

import pytest
from tracekit import FIXTURES

from chaos.cli import main
from chaos.traces.observe import DEFAULT_SETTINGS, observe_files

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import trace_import  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
GENERATED_SPANS = 20_000
# The generated traces cover 1.2 s of traffic: a window shorter than that closes traces as the stream moves on
# (and finds late spans), as a million spans do with the default window.
GENERATED_WINDOW_S = 0.25
CASES = {"small-otlp": FIXTURES / "small-otlp.jsonl", "small-jaeger": FIXTURES / "small-jaeger.json",
         "small-zipkin": FIXTURES / "small-zipkin.json", "generated-otlp": "otlp", "generated-jaeger": "jaeger",
         "generated-zipkin": "zipkin"}


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"not pinned: {type(value).__name__}")


def derived(case: str, where: Path) -> tuple[str, str]:
    """(the observed model as JSON, the topology YAML written by the command) for one case."""
    source = CASES[case]
    settings, options = DEFAULT_SETTINGS, []
    if isinstance(source, Path):
        traces = where / source.name
        traces.write_bytes(source.read_bytes())
    else:
        traces = where / f"traces-{source}.json"
        trace_import.generate(traces, GENERATED_SPANS, seed=3, fmt=source)
        settings = dataclasses.replace(settings, window_s=GENERATED_WINDOW_S)
        options = ["--window", str(GENERATED_WINDOW_S)]
    model = dataclasses.replace(observe_files([traces], settings=settings), sources=())
    document = json.dumps(dataclasses.asdict(model), default=_plain, indent=1, sort_keys=True) + "\n"
    cwd = Path.cwd()
    os.chdir(where)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["topology", "from-traces", traces.name, "--out", "topology.yaml", "--no-fidelity",
                         *options]) == 0
    finally:
        os.chdir(cwd)
    return document, (where / "topology.yaml").read_text()


def _expected(case: str) -> tuple[str, str]:
    with gzip.open(GOLDEN / f"{case}.model.json.gz", "rt") as f:
        model = f.read()
    return model, (GOLDEN / f"{case}.topology.yaml").read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_derived_model_and_topology_are_unchanged(case: str, tmp_path: Path) -> None:
    model, topology = derived(case, tmp_path)
    expected_model, expected_topology = _expected(case)
    assert topology == expected_topology
    assert model == expected_model


def regenerate() -> None:
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    for case in sorted(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            model, topology = derived(case, Path(tmp))
        with gzip.GzipFile(GOLDEN / f"{case}.model.json.gz", "wb", mtime=0) as f:
            f.write(model.encode())
        (GOLDEN / f"{case}.topology.yaml").write_text(topology)
        print(f"wrote {case}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    regenerate()
