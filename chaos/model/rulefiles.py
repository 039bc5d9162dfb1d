"""A team's own rule files and SLO specs, referenced from an experiment and read as they are.

::

    prometheus_rules: [../rules/shop-alerts.yaml]   # rule files or PrometheusRule documents
    slo_specs: [../rules/shop-slo.yaml]             # Sloth prometheus/v1 or OpenSLO v1
    evaluation_interval: 15s                        # your Prometheus's global evaluation_interval
    expect_within:                                  # rule-file alerts that should fire this soon
      CartErrorRatioHigh: 2m

Paths are relative to the experiment, like ``topology:``. Each file is read by
:mod:`chaos.promql.rulefiles` when the experiment is loaded, so a mistake in it is reported
at its own file:line like every other input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.model.bounds import MAX_RUN_SECONDS
from chaos.model.parsing import Model, Seconds, TextRule, Where, display_path, fld, located

if TYPE_CHECKING:
    from chaos.promql.rulefiles import RuleFile

RULE_ALERT = TextRule(r"[^\x00-\x1f\x7f-\x9f]{1,200}",
                      "an alert of a rule file is named by 1 to 200 characters without control characters")
"""How an experiment names an alert of a rule file (``expect_within``). The rule files are the
team's and are read as Prometheus reads them, where an alert's name is any text (``promtool
check rules`` accepts spaces and tabs): chaoslab's name rule (:data:`~chaos.model.parsing.NAME`)
is for its own names, which other syntaxes address; a rule file's alert is only ever named
whole, so its name needs none of that. It is shown with control characters escaped."""


@dataclass(frozen=True)
class RuleFileRef(Model):
    """A Prometheus rule file or SLO spec: its path, relative to the experiment, and what it defines."""

    REF = True  # written as a path; chaos.model.files hands the file to read_file
    file: str = fld("", internal=True, doc="the path as shown in messages")
    # A chaos.promql RuleFile; typed loosely here so that reading an experiment without rule files never
    # imports the PromQL parser (the field's type hint is resolved whenever the model is parsed).
    content: object = fld(None, internal=True, doc="the groups and SLOs the file defines")

    @classmethod
    def read_file(cls, target: Path, where: Where) -> RuleFileRef:
        """Read ``target`` with chaoslab's reader of Prometheus and SLO formats (errors name its file:line)."""
        from chaos.promql.rulefiles import load_rule_file  # the PromQL parser loads only when a file names rules
        return located(cls(display_path(target), load_rule_file(target)), where)

    def validate(self) -> None:
        if self.content is None:
            raise self.error(None, "expected the path of a rule file or SLO spec, relative to this experiment")

    @property
    def rules(self) -> RuleFile:
        from chaos.promql.rulefiles import RuleFile
        assert isinstance(self.content, RuleFile)  # validate() refused a reference without a file
        return self.content


@dataclass(frozen=True)
class AlertDeadline(Model):
    """``AlertName: 2m`` under ``expect_within``: a rule-file alert should fire this soon after the first fault."""

    VALUE_KEY = "within"
    alert: str = fld(text=RULE_ALERT, doc="the alert's name (its 'alert:' in the rule file, or an SLO spec's "
                                          "alert name)")
    within: Seconds = fld(le=MAX_RUN_SECONDS, doc="the longest acceptable time from the first fault to its firing")
