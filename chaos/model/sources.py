"""Which files a parsed model came from (for audit hashes and messages)."""

from __future__ import annotations

from chaos.model.experiment import Experiment
from chaos.model.parsing import where_of


def source_files(experiment: Experiment) -> list[str]:
    files = [where_of(experiment).location.file, where_of(experiment.topology).location.file]
    return [f for i, f in enumerate(files) if f and not f.startswith("<") and f not in files[:i]]
