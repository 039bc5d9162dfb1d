"""How often a generated stack's Prometheus scrapes, and why: one rule for ``stack up``, ``run`` and ``compare``.

A simulation evaluates the experiment's Prometheus rules on scrapes every ``metrics: scrape_interval``
(every second when it writes none); a game day evaluates them on what the stack's Prometheus scraped. For
the two to see the same rules at the same resolution, the experiment's value, when written, is the stack's:

1. ``--scrape-interval N``: the stack scrapes every N s. If the experiment writes another value, that is a
   contradiction and is refused (its simulation would scrape at one, the game day at the other).
2. else the experiment's ``metrics: scrape_interval``, when it writes one;
3. else by the stack's size (``emulator_stack.scrape_interval_for``): a simulation of the same experiment
   then scrapes every second, and a game day read at a coarser step records that in its notes.

A team's own stack (``live:``) is read at ``live: prometheus: scrape_interval``, else the experiment's
``metrics: scrape_interval``, else what its Prometheus reports; ``Experiment`` refuses the two written apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos.live_states import ScrapeSource

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment


@dataclass(frozen=True)
class ScrapeChoice:
    """The interval to scrape at (None: by the stack's size) and where it came from."""

    seconds: int | None
    source: ScrapeSource


BY_SIZE = ScrapeChoice(None, ScrapeSource.SIZE)


def scrape_choice(experiment: Experiment | None, option: int | None) -> ScrapeChoice:
    """The rule of the module's docstring; ``option``: ``--scrape-interval`` (None when not given)."""
    written = None if experiment is None else experiment.metrics.scrape_interval
    if written is None:
        return BY_SIZE if option is None else ScrapeChoice(option, ScrapeSource.OPTION)
    assert experiment is not None
    if option is not None and option != int(written):
        raise experiment.metrics.error(
            "scrape_interval", f"{written:g}s, but --scrape-interval is {option}s: a simulation of this experiment "
                               f"evaluates its rules on scrapes every {written:g}s, a game day would on the stack's "
                               f"every {option}s",
            hint=f"leave --scrape-interval out (the stack scrapes every {written:g}s), or change "
                 "metrics: scrape_interval so that both engines scrape alike")
    return ScrapeChoice(int(written), ScrapeSource.EXPERIMENT)


def team_step(experiment: Experiment) -> tuple[int | None, str]:
    """The step a team's own Prometheus (``live: prometheus:``) is read at, and where it comes from (None: the
    interval it reports for its targets, asked when the run starts)."""
    target = None if experiment.live is None else experiment.live.prometheus
    if target is not None and target.scrape_interval is not None:
        return int(target.scrape_interval), "live: prometheus: scrape_interval"
    if experiment.metrics.scrape_interval is not None:
        return int(experiment.metrics.scrape_interval), "the experiment's metrics: scrape_interval"
    return None, "the scrape interval your Prometheus reports for its targets"


def simulation_mismatch(experiment: Experiment, step: int) -> str | None:
    """What a live run read at ``step`` should say when a simulation of the same experiment scrapes at another
    interval (None when both scrape alike): its rules see other samples, so time to detect and breach times
    can differ by that much for no reason of the system's."""
    simulated = experiment.metrics.scrape_interval_s
    if simulated == step:
        return None
    why = ("its metrics: scrape_interval" if experiment.metrics.scrape_interval is not None
           else "it writes no metrics: scrape_interval")
    return (f"resolution: Prometheus was read at a {step} s step, but a simulation of this experiment scrapes every "
            f"{simulated} s ({why}): time to detect and breach times can differ by up to {abs(step - simulated)} s "
            f"for that alone; write metrics: scrape_interval: {step}s for both engines to scrape alike")
