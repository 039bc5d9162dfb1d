"""The variants of a sweep: faults on each service or edge, and grids of settings.

A sweep's variants are the cartesian product of its *axes*:

* the fault axis: one variant per service (``--each-service crash``) or per edge
  (``--each-edge latency=500ms``), each with that single fault replacing the
  experiment's faults (or added to them); without these options, the experiment's
  own faults;
* one axis per ``--set PATH=V1,V2,...``: the setting at PATH takes each value in turn.

A path starting with ``services.`` or ``entrypoints.`` changes the topology
(``services.db.replicas``, ``services.cart.calls.db.retries.max``); any other path
changes the experiment (``load.rate``, ``duration``, ``faults.0.at``). Values are YAML,
parsed with the setting's own type, so ``--set`` is checked exactly as the file is.

Variants are plain values (strings and tuples): a worker rebuilds a variant's
experiment from the base experiment it already holds, so a task is a few hundred bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, ScalarNode

from chaos.errors import InputError
from chaos.model.arguments import NOWHERE, compose_value
from chaos.model.experiment import Experiment
from chaos.model.faults import FAULT_CLASSES, AnyFault, FaultKind, FaultSpec, TargetKind
from chaos.model.overrides import revalidate, set_path
from chaos.model.parsing import Context, Model, RawValue, convert, located, model_fields, one_of, where_of
from chaos.model.scope import split_edge


class FaultMode(enum.Enum):
    """What a fault variant does with the experiment's own faults."""

    REPLACE = "replace"
    ADD = "add"


class TargetSet(enum.Enum):
    """What ``--each-service`` and ``--each-edge`` iterate over."""

    SERVICES = "service"
    EDGES = "edge"


# ``--each-edge latency=500ms`` sets the kind's main parameter; the others are named.
MAIN_PARAMETER: dict[FaultKind, str] = {
    FaultKind.CRASH: "replicas",
    FaultKind.LATENCY: "delay",
    FaultKind.ERRORS: "ratio",
    FaultKind.SLOWDOWN: "factor",
    FaultKind.PACKET_LOSS: "ratio",
    FaultKind.LOAD_SPIKE: "factor",
    FaultKind.COLD_START: "factor",
}

_CLASSES = {cls.TAG: cls for cls in FAULT_CLASSES}

# Sweeps choose seeds themselves (--seeds): a grid over them would defeat common random numbers.
_REFUSED_PATHS = {"seed": "the sweep runs every variant with the same seeds; give their number with --seeds",
                  "replications": "the sweep runs every variant with the same seeds; give their number with --seeds",
                  "name": "a variant's name is made from its settings"}


def split_values(text: str) -> list[str]:
    """Split at commas outside brackets and quotes: ``1,{max: 2, budget: 0.1}`` is two values."""
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return out


def _scalar(text: str) -> ScalarNode:
    return ScalarNode("tag:yaml.org,2002:str", text, NOWHERE, NOWHERE)


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultText:
    """One fault as text: a kind, a target, and YAML texts of its other fields (``at``, ``delay``...).

    ``name`` is the template's label (``crash``, ``latency(delay=1s)``), so that faults of one
    kind with different settings stay apart in tables and heatmaps.
    """

    kind: FaultKind
    target: str
    params: tuple[tuple[str, str], ...]
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name or self.kind.value}:{self.target}"

    def build(self, source: str) -> AnyFault:
        """The fault, parsed and checked as if written in a file."""
        pairs: list[tuple[yaml.Node, yaml.Node]] = [(_scalar("kind"), _scalar(self.kind.value)),
                                                    (_scalar("target"), _scalar(self.target))]
        pairs += [(_scalar(key), compose_value(value, source)) for key, value in self.params]
        node = MappingNode("tag:yaml.org,2002:map", pairs, NOWHERE, NOWHERE)
        return convert(node, FaultSpec, Context(source, Path.cwd()), self.label)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class FaultTemplate:
    """``--each-service crash=1,duration=30s``: a fault kind and settings, applied to each target in turn."""

    kind: FaultKind
    targets: TargetSet
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str, targets: TargetSet) -> FaultTemplate:
        option = f"--each-{targets.value}"
        pieces = split_values(text)
        head, _, main = pieces[0].partition("=")
        kind = _fault_kind(head.strip(), option)
        fault_cls = _CLASSES[kind.value]
        wanted = TargetKind.SERVICE if targets is TargetSet.SERVICES else TargetKind.EDGE
        if wanted not in fault_cls.TARGETS:
            allowed = " or ".join(sorted(k.value for k in fault_cls.TARGETS))
            raise InputError(f"a {kind.value} fault targets {allowed}, not each {targets.value}", path=option)
        params: list[tuple[str, str]] = []
        if main.strip():
            if kind not in MAIN_PARAMETER:
                raise InputError(f"a {kind.value} fault takes no value", path=option,
                                 hint=f"write '{kind.value}' alone, or name settings: {kind.value},at=60s")
            params.append((MAIN_PARAMETER[kind], main.strip()))
        params += [_named(piece, fault_cls, option) for piece in pieces[1:]]
        return cls(kind, targets, tuple(params))

    @property
    def label(self) -> str:
        return self.kind.value + (f"({','.join(f'{k}={v}' for k, v in self.params)})" if self.params else "")

    def faults(self, experiment: Experiment) -> list[FaultText]:
        """This template on every target of the experiment's topology, at the default time unless given."""
        topo = experiment.topology
        targets = ([s.name for s in topo.services] if self.targets is TargetSet.SERVICES
                   else [f"{a}->{b}" for a, b in topo.edges])
        given = {k for k, _ in self.params}
        timing = [(k, v) for k, v in default_timing(experiment) if k not in given]
        return [FaultText(self.kind, target, tuple(timing) + self.params, self.label) for target in targets]


def _fault_kind(text: str, option: str) -> FaultKind:
    wanted = text.lower().replace("-", "_")
    for kind in FaultKind:
        if kind.value == wanted:
            return kind
    raise InputError(f"unknown fault kind '{text}'", path=option,
                     hint=f"valid kinds: {one_of(k.value for k in FaultKind)}")


def _named(piece: str, fault_cls: type[Model], option: str) -> tuple[str, str]:
    key, sep, value = piece.partition("=")
    fields = {f.key for f in model_fields(fault_cls)} - {"target"}
    if not sep or key.strip() not in fields:
        raise InputError(f"'{piece}' is not SETTING=VALUE for a {fault_cls.TAG} fault", path=option,
                         hint=f"settings: {one_of(sorted(fields))}")
    return key.strip(), value.strip()


def default_timing(experiment: Experiment) -> tuple[tuple[str, str], ...]:
    """When a fault variant's fault happens unless the template says: like the experiment's first fault.

    Without faults in the experiment: a quarter into the measured part of the run, for
    half of what remains, so that recovery after it is measured too.
    """
    faults = sorted(experiment.fault_list, key=lambda f: f.at)
    if faults:
        first = faults[0]
        timing = [("at", repr(first.at))]
        if first.duration is not None:
            timing.append(("duration", repr(first.duration)))
        return tuple(timing)
    at = experiment.warmup + (experiment.duration - experiment.warmup) / 4
    return ("at", repr(at)), ("duration", repr((experiment.duration - at) / 2))


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    """One ``--set`` value: a path as the user wrote it and the YAML text of the value."""

    path: tuple[str, ...]
    text: str

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def label(self) -> str:
        return f"{self.name}={self.text}"

    @property
    def route(self) -> list[str]:
        """The path from the experiment: topology settings live under ``topology``."""
        if self.path[0] in ("services", "entrypoints"):
            return ["topology", *self.path]
        return list(self.path)

    def apply(self, experiment: Experiment) -> Experiment:
        option = f"--set {self.name}"
        if self.path[0] in _REFUSED_PATHS:
            raise InputError(f"'{self.path[0]}' cannot be swept", path=option, hint=_REFUSED_PATHS[self.path[0]])
        value = RawValue(compose_value(self.text, option), Context("--set", Path.cwd()))
        try:
            return set_path(experiment, self.route, value)  # type: ignore[return-value]
        except InputError as exc:
            raise InputError(f"{exc.path}: {exc.detail}" if exc.path else exc.detail, path=option,
                             hint=exc.hint) from None


def parse_set(text: str) -> tuple[Setting, ...]:
    """``load.rate=100,200,300`` -> one Setting per value."""
    path, sep, values = text.partition("=")
    names = [p.strip() for p in path.strip().split(".")]
    if not sep or not all(names):
        raise InputError(f"'{text}' is not PATH=V1,V2,...", path="--set",
                         hint="e.g. --set load.rate=100,200 or --set services.db.replicas=1,2")
    texts = split_values(values)
    if not all(texts):
        raise InputError(f"'{text}' has an empty value", path="--set")
    return tuple(Setting(tuple(names), t) for t in texts)


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """One point of the sweep: its faults (None: the experiment's own) and its settings."""

    faults: tuple[FaultText, ...] | None = None
    mode: FaultMode = FaultMode.REPLACE
    settings: tuple[Setting, ...] = ()

    @property
    def fault_label(self) -> str:
        if self.faults is None:
            return "experiment faults"
        return "+".join(f.label for f in self.faults) or "no faults"

    @property
    def label(self) -> str:
        parts = [] if self.faults is None else [self.fault_label]
        parts += [s.label for s in self.settings]
        return " ".join(parts) or "baseline"

    @property
    def key(self) -> str:
        """A file-system name, stable across runs of the same sweep: readable prefix, hash of everything."""
        slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", self.label).strip("_")[:60]
        return f"{slug}-{hashlib.sha256(repr(self).encode()).hexdigest()[:10]}"

    @property
    def target(self) -> str | None:
        """The one faulted target of a fault variant (what criticality ranks)."""
        return self.faults[0].target if self.faults is not None and len(self.faults) == 1 else None

    def coordinates(self) -> dict[str, str]:
        """The variant's value on each axis."""
        out = {} if self.faults is None else {FAULT_AXIS: self.fault_label}
        out.update({s.name: s.text for s in self.settings})
        return out


FAULT_AXIS = "fault"


def build(base: Experiment, variant: Variant) -> Experiment:
    """The experiment of one variant, checked as a whole again."""
    experiment = base
    if variant.faults is not None:
        faults = tuple(f.build("--each-edge" if split_edge(f.target) else "--each-service") for f in variant.faults)
        if variant.mode is FaultMode.ADD:
            faults = experiment.faults + faults
        experiment = located(dataclasses.replace(experiment, faults=faults), where_of(experiment))
    for setting in variant.settings:
        experiment = setting.apply(experiment)
    revalidate(experiment)
    return experiment


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What to sweep: fault templates, setting axes, and how many seeds."""

    templates: tuple[FaultTemplate, ...] = ()
    grids: tuple[tuple[Setting, ...], ...] = ()
    mode: FaultMode = FaultMode.REPLACE
    baseline: bool = False  # also a fault-free variant per combination of settings (coverage's baseline)

    def fault_choices(self, experiment: Experiment) -> list[tuple[FaultText, ...] | None]:
        if not self.templates:
            return [None]
        choices: list[tuple[FaultText, ...] | None] = []
        for template in self.templates:
            faults = template.faults(experiment)
            if not faults:
                raise InputError(f"the topology has no {template.targets.value} to fault",
                                 path=f"--each-{template.targets.value}")
            choices += [(f,) for f in faults]
        return choices

    def variants(self, experiment: Experiment) -> tuple[Variant, ...]:
        """Every combination, faults outermost (the fault-free baselines first, when asked for); duplicates
        (the same setting twice) kept once."""
        out: dict[Variant, None] = {}
        if self.baseline:
            for settings in itertools.product(*self.grids):
                out[Variant((), FaultMode.REPLACE, tuple(settings))] = None
        for faults in self.fault_choices(experiment):
            for settings in itertools.product(*self.grids):
                out[Variant(faults, self.mode, tuple(settings))] = None
        return tuple(out)

    def axes(self, experiment: Experiment) -> tuple[Axis, ...]:
        """Axes with more than one value, in order: faults first, then each --set path."""
        out = []
        faults = self.fault_choices(experiment)
        if len(faults) > 1:
            out.append(Axis(FAULT_AXIS, tuple(dict.fromkeys(Variant(f).fault_label for f in faults))))
        for grid in self.grids:
            values = tuple(dict.fromkeys(s.text for s in grid))
            if len(values) > 1:
                out.append(Axis(grid[0].name, values))
        return tuple(out)


def make_plan(each_service: list[str], each_edge: list[str], sets: list[str],
              mode: FaultMode = FaultMode.REPLACE, baseline: bool = False) -> Plan:
    templates = [FaultTemplate.parse(t, TargetSet.SERVICES) for t in each_service]
    templates += [FaultTemplate.parse(t, TargetSet.EDGES) for t in each_edge]
    grids = [parse_set(s) for s in sets]
    names = [g[0].name for g in grids]
    for name in names:
        if names.count(name) > 1:
            raise InputError(f"'{name}' is set twice", path="--set", hint="give all its values in one --set")
    return Plan(tuple(templates), tuple(grids), mode, baseline)
