"""The README's and docs/sweeps.md's tables of the tour's ``chaoslab diff`` name what that command compares.

The command (``chaoslab diff topologies/shop.yaml topologies/shop-hardened.yaml --experiments
experiments/``) runs every experiment in the directory written for the shop, 3 seeds each, against both
topologies: about five minutes of simulation on a 2-core machine, too long for CI. Its figures cannot be
checked here, but the claim goes stale first when an experiment joins the directory (shop-coverage and
shop-coverage-fixed did, and the tables did not say), and that is checked in a second: the tables' rows
name exactly the experiments the printed command selects, with the selection the command itself uses.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from chaos.diff import load_experiments, written_for
from chaos.model.files import load_topology

ROOT = Path(__file__).resolve().parents[2]



def tour_diff_command() -> list[str]:
    tour = (ROOT / "README.md").read_text("utf-8").split("## A tour", 1)[1].split("```", 2)[1]
    (line,) = [ln.split("  #", 1)[0] for ln in tour.splitlines() if ln.startswith("chaoslab diff ")]
    return shlex.split(line)


def table_names(text: str, after: str) -> set[str]:
    """The experiment names in the first column of the first Markdown table after ``after``."""
    rows = []
    for line in text.split(after, 1)[1].lstrip("\n").splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append(line)
    first_column = [r.split("|")[1] for r in rows[2:]]  # past the header and its rule
    return {name for cell in first_column for name in re.findall(r"`([^`]+)`", cell)}


def compared() -> set[str]:
    argv = tour_diff_command()
    assert argv[:2] == ["chaoslab", "diff"] and argv[4] == "--experiments", argv
    base, candidate = load_topology(ROOT / argv[2]), load_topology(ROOT / argv[3])
    selected, _ = written_for(load_experiments(ROOT / argv[5]), base, candidate)
    return {e.name for e in selected}


def test_the_readme_table_names_every_experiment_the_tour_diff_compares() -> None:
    names = compared()
    assert {"retry-storm", "gameday-db-latency", "shop-coverage"} <= names  # the selection is not vacuous
    assert "cache-stampede" not in names  # written for topologies/timeline.yaml
    readme = (ROOT / "README.md").read_text("utf-8")
    assert table_names(readme, "The tour's `chaoslab diff`") == names


def test_the_docs_table_names_every_experiment_the_tour_diff_compares() -> None:
    doc = (ROOT / "docs/sweeps.md").read_text("utf-8")
    assert table_names(doc, "reports (3 seeds, means; exit 1):") == compared()
