"""Reading model files: one function per kind, and telling the kinds apart."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode

from chaos.errors import InputError, Location
from chaos.model.experiment import Experiment, check_run_size
from chaos.model.inputs import FILE_NOT_FOUND, input_problem
from chaos.model.parsing import Context, Model, Where, compose_file, convert, display_path, one_of, shorten
from chaos.model.topology import Topology

if TYPE_CHECKING:
    from chaos.model.playbook import Playbook

M = TypeVar("M", bound=Model)


class FileKind(enum.Enum):
    TOPOLOGY = "topology"
    EXPERIMENT = "experiment"
    PLAYBOOK = "playbook"


def model_class(kind: FileKind) -> type[Model]:
    if kind is FileKind.TOPOLOGY:
        return Topology
    if kind is FileKind.EXPERIMENT:
        return Experiment
    from chaos.model.playbook import Playbook  # the playbook model imports this module's users
    return Playbook


def load(path: str | Path, cls: type[M]) -> M:
    """Parse ``path`` into ``cls``; every problem is an InputError naming file, line and field."""
    path = Path(path)
    shown = display_path(path)
    node = compose_file(path, shown)  # checks what the path is before resolving it (a symlink loop)
    ctx = Context(shown, path.resolve().parent, load_ref=_load_reference)
    return convert(node, cls, ctx, "")  # type: ignore[no-any-return]


def load_topology(path: str | Path) -> Topology:
    return load(path, Topology)


def load_experiment(path: str | Path) -> Experiment:
    experiment = load(path, Experiment)
    if experiment.prometheus_rules or experiment.slo_specs:
        # Checked here, once the experiment is whole, because the PromQL evaluator sits above the model:
        # what the rule files mean in this experiment (an SLO spec tied to nothing), and what evaluating
        # them over a run costs, against the run's limits.
        from chaos.analysis.prometheus_rules import check
        check_run_size(experiment, experiment.limits, rule_work=check(experiment))
    return experiment


def load_playbook(path: str | Path, experiment: Experiment) -> Playbook:
    """A playbook checked against the experiment it will run in (names of alerts, faults, services)."""
    from chaos.model.playbook import Playbook, bind  # the playbook model imports this module's users

    playbook = load(path, Playbook)
    bind(playbook, experiment)
    return playbook


def _load_reference(text: Any, cls: type, ctx: Context, node: Node, path: str) -> Any:
    """A field such as ``topology: ../topologies/shop.yaml`` names another file, relative to this one."""
    if not isinstance(text, str) or not text:
        raise ctx.fail(node, path, f"expected a file path or an inline {cls.__name__.lower()}")
    target = (ctx.base_dir / text)
    problem = input_problem(target)
    if problem == FILE_NOT_FOUND:
        raise ctx.fail(node, path, f"file not found: {shorten(text)} (looked for {shorten(str(target), 200)})")
    if problem is not None:
        raise ctx.fail(node, path, f"{shorten(text)} {problem}")
    read_file = getattr(cls, "read_file", None)  # another tool's format (a Prometheus rule file), with its reader
    if read_file is not None:
        return read_file(target, Where(ctx.loc(node), path))
    return load(target, cls)


_SIGNATURES = {FileKind.PLAYBOOK: ("steps",), FileKind.EXPERIMENT: ("load", "topology"),
               FileKind.TOPOLOGY: ("services", "entrypoints")}


def detect_kind(path: str | Path) -> FileKind:
    """Tell a topology, an experiment and a playbook apart by their top-level keys."""
    path = Path(path)
    shown = display_path(path)
    node = compose_file(path, shown)
    if isinstance(node, MappingNode):
        keys = {k.value for k, _ in node.value if isinstance(k, ScalarNode)}
        for kind, marks in _SIGNATURES.items():
            if keys & set(marks):
                return kind
    raise InputError("cannot tell what kind of file this is: a topology has 'services', an experiment 'load', "
                     "a playbook 'steps'", Location(shown, 1, 1),
                     hint=f"pass --kind with one of {one_of(k.value for k in FileKind)}")


def load_any(path: str | Path, kind: FileKind | None = None) -> Model:
    kind = kind or detect_kind(path)
    return load_experiment(path) if kind is FileKind.EXPERIMENT else load(path, model_class(kind))
