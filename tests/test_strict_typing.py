"""``make lint`` runs mypy with pyproject's configuration: the packages the issue names are held to the flags
``--strict`` stands for, so a loosening of either the list or the flags shows here, not only in review."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRICT_FLAGS = {"disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_calls", "disallow_untyped_defs",
                "disallow_incomplete_defs", "check_untyped_defs", "disallow_untyped_decorators", "warn_return_any",
                "warn_unused_ignores", "no_implicit_reexport", "strict_equality", "extra_checks"}
HELD = {"chaos.core", "chaos.core.*", "chaos.model", "chaos.model.*", "chaos.sim", "chaos.sim.*", "chaos.analysis",
        "chaos.analysis.*", "chaos.document", "chaos.codec", "chaos.live_states", "chaos.incident_states",
        "chaos.recovery", "chaos.report.summary", "chaos.live.gameday.compare", "chaos.live.gameday.compare_plot"}


def test_the_named_packages_are_held_to_every_strict_flag() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    strict = [o for o in config["overrides"] if STRICT_FLAGS <= {k for k, v in o.items() if v is True}]
    held = {m for o in strict for m in ([o["module"]] if isinstance(o["module"], str) else o["module"])}
    assert HELD <= held
    assert "chaos" in config["packages"]  # mypy checks the package itself, so the overrides apply to it


def test_make_lint_runs_mypy_with_that_configuration() -> None:
    lint = (ROOT / "Makefile").read_text(encoding="utf-8").split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/mypy" in lint.split() and "$(BIN)/ruff" in lint.split()
