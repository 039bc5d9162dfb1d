"""Prometheus rule files and Kubernetes ``PrometheusRule`` documents, read as they are.

A file may hold several YAML documents (``---``); each is one of

* a Prometheus rule file: ``groups:`` of ``name``, ``interval``, ``limit``, ``rules:``;
* a Prometheus Operator ``PrometheusRule`` (``kind: PrometheusRule``) holding the same
  groups under ``spec.groups``;
* an SLO spec (Sloth ``prometheus/v1`` or ``PrometheusServiceLevel``, OpenSLO v1 ``SLO``
  and ``SLI``), which becomes an SLO and the rules Sloth would generate for it
  (see :mod:`chaos.promql.slo`).

Checks are Prometheus's own (``promtool check rules``): one of ``alert``/``record``; an
``expr`` that parses; no ``for``, ``keep_firing_for`` or ``annotations`` on a recording rule;
valid metric and label names; group names unique within a file; unknown keys refused.
Every problem is an :class:`~chaos.errors.InputError` at its file:line:col.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from chaos.errors import InputError, Location
from chaos.promql import templates
from chaos.promql.documents import (
    Fields,
    Source,
    duration,
    format_duration,
    items,
    key_node,
    read_documents,
    string_map,
)
from chaos.promql.rules import AlertingRule, RecordingRule, Rule, RuleGroup
from chaos.promql.slo import SLO, SLOSpec, read_openslo, read_sloth, resolve_openslo
from chaos.promql.syntax import ValueType, parse

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_GROUP_KEYS = ("name", "interval", "limit", "rules")
_OPERATOR_GROUP_KEYS = (*_GROUP_KEYS, "partial_response_strategy")
_RULE_KEYS = ("alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations")


@dataclass(frozen=True)
class RuleFile:
    """What one file defines: rule groups as written, and SLOs with the groups generated for them."""

    path: str
    groups: tuple[RuleGroup, ...]
    slos: tuple[SLO, ...] = ()

    @property
    def all_groups(self) -> tuple[RuleGroup, ...]:
        return self.groups + tuple(g for slo in self.slos for g in slo.groups)


@dataclass(frozen=True)
class RuleSet:
    """Every group and SLO of several files, in the order given."""

    files: tuple[RuleFile, ...]

    @property
    def groups(self) -> tuple[RuleGroup, ...]:
        return tuple(g for f in self.files for g in f.all_groups)

    @property
    def slos(self) -> tuple[SLO, ...]:
        return tuple(s for f in self.files for s in f.slos)

    @property
    def alerting_rules(self) -> tuple[AlertingRule, ...]:
        return tuple(r for g in self.groups for r in g.alerting_rules)


def load_rule_files(paths: Iterable[str | Path]) -> RuleSet:
    """Read rule files and SLO specs; raises the first InputError found."""
    return RuleSet(tuple(load_rule_file(p) for p in paths))


def load_rule_file(path: str | Path) -> RuleFile:
    src, documents = read_documents(path)
    groups: list[RuleGroup] = []
    specs: list[SLOSpec] = []
    slis: dict[str, tuple[Source, Node, str]] = {}
    for i, node in enumerate(documents):
        prefix = f"document {i + 1}" if len(documents) > 1 else ""
        kind = _kind(src, node, prefix)
        if kind == "rules":
            groups.extend(read_groups(src, node, prefix, _GROUP_KEYS))
        elif kind == "PrometheusRule":
            groups.extend(_read_prometheus_rule(src, node, prefix))
        elif kind == "sloth":
            specs.extend(read_sloth(src, node, prefix))
        elif kind == "openslo":
            spec = read_openslo(src, node, prefix, slis)
            if spec is not None:
                specs.append(spec)
    slos = tuple(resolve_openslo(spec, slis) for spec in specs)
    _check_unique_groups(src, groups)
    return RuleFile(src.file, tuple(groups), slos)


def _kind(src: Source, node: Node, path: str) -> str:
    if not isinstance(node, MappingNode):
        raise src.fail(node, path, "expected a rule file (a mapping with 'groups') or an SLO spec")
    top = {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}
    kind = top.get("kind")
    kind_text = kind.value if isinstance(kind, ScalarNode) else ""
    version = top.get("version")
    api = top.get("apiVersion")
    api_text = api.value if isinstance(api, ScalarNode) else ""
    if kind_text == "PrometheusRule":
        return "PrometheusRule"
    if kind_text == "PrometheusServiceLevel" or (isinstance(version, ScalarNode) and version.value == "prometheus/v1"):
        return "sloth"
    if str(api_text).startswith("openslo/"):
        return "openslo"
    if "groups" in top and kind is None:
        return "rules"
    raise src.fail(node, path, "cannot tell what this document is",
                   hint="a Prometheus rule file has 'groups:', a Kubernetes PrometheusRule 'kind: PrometheusRule', "
                        "a Sloth spec 'version: prometheus/v1', an OpenSLO spec 'apiVersion: openslo/v1'")


def _read_prometheus_rule(src: Source, node: Node, path: str) -> list[RuleGroup]:
    doc = Fields(src, node, path, ("apiVersion", "kind", "metadata", "spec"), required=("spec",))
    spec_node, spec_path = doc.at("spec")
    spec = Fields(src, spec_node, spec_path, ("groups",))
    if "groups" not in spec:
        return []
    return read_groups(src, spec_node, spec_path, _OPERATOR_GROUP_KEYS)


def read_groups(src: Source, node: Node, path: str, group_keys: Sequence[str]) -> list[RuleGroup]:
    top = Fields(src, node, path, ("groups",))
    groups_node = top.get("groups")
    if groups_node is None:
        return []
    return [read_group(src, g, gpath, group_keys) for g, gpath in items(src, groups_node, top.at("groups")[1])]


def read_group(src: Source, node: Node, path: str, group_keys: Sequence[str] = _GROUP_KEYS) -> RuleGroup:
    fields = Fields(src, node, path, group_keys, required=("name",), what="a rule group")
    name = fields.string("name")
    if not name:
        raise src.fail(node, path, "a group's name must not be empty")
    interval: float | None = None
    if "interval" in fields:
        interval = duration(src, *fields.at("interval")) or None
    if "limit" in fields:
        limit_node, limit_path = fields.at("limit")
        if not (isinstance(limit_node, ScalarNode) and limit_node.value.lstrip("-").isdigit()):
            raise src.fail(limit_node, limit_path, "expected a whole number")
    rules: list[Rule] = []
    if "rules" in fields:
        rules = [read_rule(src, r, rpath) for r, rpath in items(src, *fields.at("rules"))]
    return RuleGroup(name, tuple(rules), interval, src.loc(node))


def read_rule(src: Source, node: Node, path: str) -> Rule:
    fields = Fields(src, node, path, _RULE_KEYS, what="a rule")
    alert, record = fields.string("alert"), fields.string("record")
    if alert and record:
        raise src.fail(node, path, "only one of 'record' and 'alert' must be set")
    if not alert and not record:
        raise src.fail(node, path, "one of 'record' or 'alert' must be set")
    if "expr" not in fields:
        raise src.fail(node, path, "field 'expr' must be set in rule")
    expr_node, expr_path = fields.at("expr")
    text = fields.string("expr")
    expr = parse(text, src.text_loc(expr_node), expr_path)
    if expr.type not in (ValueType.VECTOR, ValueType.SCALAR):
        raise InputError(f"a rule's expression must give an instant vector or a scalar, not a {expr.type.value}",
                         src.text_loc(expr_node), expr_path)
    labels = _labels(src, fields, path, templated=bool(alert))
    if record:
        for key in ("annotations", "for", "keep_firing_for"):
            if key in fields:
                raise src.fail(fields.at(key)[0], f"{path}.{key}", f"invalid field '{key}' in recording rule")
        if not METRIC_NAME.fullmatch(record):
            raise src.fail(fields.at("record")[0], f"{path}.record", f"invalid recording rule name: {record}")
        return RecordingRule(record, expr, text, labels, src.loc(node))
    annotations = string_map(src, fields.get("annotations"), f"{path}.annotations")
    for name, _ in annotations:
        if not LABEL_NAME.fullmatch(name):
            where = key_node(fields.get("annotations"), name) or node
            raise src.fail(where, f"{path}.annotations.{name}", f"invalid annotation name: {name}")
    hold = duration(src, *fields.at("for")) if "for" in fields else 0.0
    keep = duration(src, *fields.at("keep_firing_for")) if "keep_firing_for" in fields else 0.0
    return AlertingRule(alert, expr, text, hold, keep, labels, annotations, src.loc(node))


def _labels(src: Source, fields: Fields, path: str, templated: bool) -> tuple[tuple[str, str], ...]:
    mapping = fields.get("labels")
    labels = string_map(src, mapping, f"{path}.labels")
    for name, value in labels:
        where = f"{path}.labels.{name}"
        node = key_node(mapping, name) or fields.node
        if not LABEL_NAME.fullmatch(name) or name == "__name__":
            raise src.fail(node, where, f"invalid label name: {name}")
        action = templates.unsupported_action(value) if templated else None
        if action is not None:
            raise src.fail(node, where, f"the template {action} in a label is not supported",
                           hint="labels are part of an alert's identity; use {{ $labels.NAME }} or {{ $value }} "
                                "there, and put other templates in annotations")
    return labels


def _check_unique_groups(src: Source, groups: list[RuleGroup]) -> None:
    seen: dict[str, Location] = {}
    for g in groups:
        if g.name in seen:
            raise InputError(f"groupname: \"{g.name}\" is repeated in the same file "
                             f"(first at line {seen[g.name].line})", g.location)
        seen[g.name] = g.location



def to_yaml(groups: Sequence[RuleGroup], interval: float | None = None) -> str:
    """``groups`` as a Prometheus rule file (what ``promtool`` and a Prometheus server load).

    ``interval`` overrides every group's interval (promtool evaluates all groups at one).
    """
    import yaml

    def rule(r: Rule) -> dict[str, object]:
        if isinstance(r, RecordingRule):
            out: dict[str, object] = {"record": r.record, "expr": r.query}
        else:
            out = {"alert": r.name, "expr": r.query}
            if r.for_:
                out["for"] = format_duration(r.for_)
            if r.keep_firing_for:
                out["keep_firing_for"] = format_duration(r.keep_firing_for)
        if r.labels:
            out["labels"] = dict(r.labels)
        if isinstance(r, AlertingRule) and r.annotations:
            out["annotations"] = dict(r.annotations)
        return out

    def group(g: RuleGroup) -> dict[str, object]:
        every = interval or g.interval
        head: dict[str, object] = {"name": g.name}
        if every:
            head["interval"] = format_duration(every)
        return {**head, "rules": [rule(r) for r in g.rules]}

    doc = {"groups": [group(g) for g in groups]}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)
