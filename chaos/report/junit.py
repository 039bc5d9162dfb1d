"""``junit.xml``: every check as a test case, so CI systems list and count them natively.

The layout is the de facto JUnit format (Ant's ``junit`` task, as Jenkins, GitLab and the
GitHub test-report actions read it): ``testsuites`` > one ``testsuite`` per kind of check >
``testcase`` with a ``failure``, ``error`` or ``skipped`` child: an unmeasured check (its scope was
not measured) is an ``error`` of type ``unmeasured``, which CI counts as a failed test but names apart.
Times are 0: these are verdicts on a run, not timed tests. Nothing in the file depends on when it
was written, so the same result gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from chaos.document import ResultDocument
from chaos.model.quantities import json_text
from chaos.report.checks import Check, CheckKind, CheckOutcome
from chaos.terminal import visible


def _timestamp(r: ResultDocument) -> str | None:
    """The run's start without its UTC offset: the JUnit schema's timestamp has no zone."""
    started = r.audit.get("started")
    if not isinstance(started, str) or len(started) < 19:
        return None
    return started[:19]


def _properties(r: ResultDocument) -> ET.Element:
    props = ET.Element("properties")
    values = [("experiment", r.experiment), ("engine", r.engine.value), ("topology", r.topology), ("seed", r.seed),
              ("chaoslab_version", r.audit.get("chaoslab_version"))]
    inputs = r.audit.get("inputs")  # the audit is free-form: anything may be there
    values += [(f"input:{path}", info.get("sha256") if isinstance(info, dict) else info)
               for path, info in (inputs.items() if isinstance(inputs, Mapping) else ())]
    for name, value in values:
        if value is not None and value != "":
            ET.SubElement(props, "property", name=name, value=json_text(value))
    return props


def _case(parent: ET.Element, r: ResultDocument, c: Check) -> None:
    case = ET.SubElement(parent, "testcase", name=c.name, classname=f"chaoslab.{r.experiment}.{c.kind.value}",
                         time="0")
    if c.outcome is CheckOutcome.FAILED:
        failure = ET.SubElement(case, "failure", message=c.message, type=c.kind.value)
        failure.text = c.message
    elif c.outcome is CheckOutcome.UNMEASURED:
        error = ET.SubElement(case, "error", message=c.message, type="unmeasured")
        error.text = c.message
    elif c.outcome is CheckOutcome.SKIPPED:
        ET.SubElement(case, "skipped", message=c.message)
    else:
        ET.SubElement(case, "system-out").text = c.message


def _suite(root: ET.Element, r: ResultDocument, kind: CheckKind, mine: Sequence[Check]) -> None:
    attrs = {"name": f"chaoslab.{r.experiment}.{kind.value}", "tests": str(len(mine)),
             "failures": str(sum(c.outcome is CheckOutcome.FAILED for c in mine)),
             "errors": str(sum(c.outcome is CheckOutcome.UNMEASURED for c in mine)),
             "skipped": str(sum(c.outcome is CheckOutcome.SKIPPED for c in mine)), "time": "0"}
    stamp = _timestamp(r)
    if stamp:
        attrs["timestamp"] = stamp
    host = r.audit.get("host")
    if host:
        attrs["hostname"] = json_text(host)
    suite = ET.SubElement(root, "testsuite", attrs)
    suite.append(_properties(r))
    for c in mine:
        _case(suite, r, c)


def render_junit(r: ResultDocument, checks: Sequence[Check]) -> str:
    root = ET.Element("testsuites", {
        "name": f"chaoslab {r.experiment}", "tests": str(len(checks)),
        "failures": str(sum(c.outcome is CheckOutcome.FAILED for c in checks)),
        "errors": str(sum(c.outcome is CheckOutcome.UNMEASURED for c in checks)),
        "skipped": str(sum(c.outcome is CheckOutcome.SKIPPED for c in checks)), "time": "0"})
    for kind in CheckKind:
        mine = [c for c in checks if c.kind is kind]
        if mine:
            _suite(root, r, kind, mine)
    ET.indent(root, space="  ")
    # ElementTree writes control characters as they are, which XML 1.0 forbids: parsers reject the file.
    return visible('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
