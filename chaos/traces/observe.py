"""Trace files in, observed model out: reading, windowing and derivation wired together."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

from chaos.model.parsing import display_path
from chaos.traces.derive import Deriver
from chaos.traces.flaws import Tally
from chaos.traces.observed import ObservedModel, Settings, SourceFile
from chaos.traces.read import read_file
from chaos.traces.spans import TraceFormat
from chaos.traces.window import TraceWindow

DEFAULT_SETTINGS = Settings(window_s=10.0, max_open_traces=100_000, skew_tolerance_s=0.001)


def observe_files(paths: Sequence[Path], fmt: TraceFormat | None = None,
                  settings: Settings = DEFAULT_SETTINGS) -> ObservedModel:
    """Read every file (one stream, in the order given) and derive the observed model.

    Raises :class:`~chaos.errors.InputError` at the first malformed record, with its file:line:col.
    """
    # Spans, traces and the derivation's figures form no reference cycles, but a trace window holds some
    # hundred thousand tracked tuples that each of the cyclic collector's full passes walks: as in the
    # simulator, it is paused for the run (its garbage is freed by reference counts all the same).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _observe(paths, fmt, settings)
    finally:
        if enabled:
            gc.enable()


def _observe(paths: Sequence[Path], fmt: TraceFormat | None, settings: Settings) -> ObservedModel:
    tally = Tally()
    window = TraceWindow(tally, settings.window_s, settings.max_open_traces)
    deriver = Deriver(tally, settings.skew_tolerance_s)
    # A trace still open ends within a window of the newest end seen, so its spans start no earlier than
    # that less the longest trace seen: concurrency is swept up to there, with half a window to spare.
    sources: list[SourceFile] = []
    total = 0
    for path in paths:
        found: TraceFormat | None = None
        count = 0
        for fmt_found, batch in read_file(path, fmt):
            found = fmt_found
            count += len(batch.spans)
            for trace in window.add(batch):
                deriver.add_trace(trace)
            deriver.advance(window.watermark - window.window_ns * 3 // 2 - window.longest_ns)
        sources.append(SourceFile(display_path(path), found, count))
        total += count
    for trace in window.flush():
        deriver.add_trace(trace)
    return deriver.result(tuple(sources), settings, total)
