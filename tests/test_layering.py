"""The import rules of the ``chaos`` package, checked by reading its sources with ``ast``, never by importing them.

Every import statement counts: at the top of a module, inside a function (a lazy import is
still a dependency), and under ``if TYPE_CHECKING:`` (a type that needs an import circle to be
named is a design that needs one). Importing ``a.b.c`` also runs the packages ``a`` and
``a.b``, so those count as imported too, except the importer's own packages, which are running
already. The rules:

1. **No import circles.** The graph of chaos modules has no cycle (no strongly connected
   component of more than one module, and no module importing itself).
2. **The behaviour core stands alone.** A module of ``chaos.core`` (what both engines and
   the model share) imports only the standard library and ``chaos.core``.
3. **The container side is standard library and the core only.** A module of
   ``chaos.live.in_container`` (what runs inside the stack's containers, on a bare Python
   with these sources copied in) imports only the standard library, ``chaos.live.in_container``
   itself and ``chaos.core`` (and runs the packages ``chaos`` and ``chaos.live`` on the way,
   which import nothing). Those files are exactly what the runtime image takes
   (``chaos.live.stack.images.IMAGE_FILES``).
4. **Live never imports the CLI, the commands or the simulator**, not directly and not
   through another module: no module of ``chaos.live`` reaches ``chaos.cli``,
   ``chaos.commands`` or ``chaos.sim`` in the import graph.
5. **The host side of live is layered.** ``chaos.live.stack`` (images, Compose, the stack's
   state and clients) imports none of ``chaos.live.faults``, ``chaos.live.load`` and
   ``chaos.live.gameday``; ``chaos.live.faults`` and ``chaos.live.load`` import neither each
   other nor ``chaos.live.gameday``, which builds on all of them. Nothing outside
   ``chaos.live`` imports it but the commands (``chaos.commands``).
6. **Sweep and diff are not mutually dependent.** The release gate (``chaos.diff`` and its
   command module) runs on the sweep's executors and may import ``chaos.sweep``; no module of
   ``chaos.sweep`` imports ``chaos.diff`` or ``chaos.commands.diff``.
7. **Commands live in one place, and only the CLI imports them.** Nothing outside
   ``chaos.commands`` imports it but ``chaos.cli`` (and ``chaos.__main__``, through it).
8. **Only the commands use both engines.** No module outside the CLI layer (``chaos.cli``,
   ``chaos.__main__``, ``chaos.commands``) reaches both ``chaos.sim`` and ``chaos.live``:
   ``chaoslab compare`` runs both, and everything it compares is a result document.

Rules 4, 7 and 8 each have a test that plants a violation and sees it reported.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "chaos"

CONTAINER = "chaos.live.in_container"
CORE = "chaos.core"
CONTAINER_PARENTS = frozenset({"chaos", "chaos.live"})  # packages run on the way in, importing nothing
COMMANDS = "chaos.commands"
CLI_LAYER = ("chaos.cli", "chaos.__main__", COMMANDS)  # the parser, the entry point, the commands
ENGINES = ("chaos.sim", "chaos.live")
HOST_LAYERS = {  # package: the live packages it must not import
    "chaos.live.stack": ("chaos.live.faults", "chaos.live.load", "chaos.live.gameday"),
    "chaos.live.faults": ("chaos.live.load", "chaos.live.gameday"),
    "chaos.live.load": ("chaos.live.faults", "chaos.live.gameday"),
}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a module of chaos, or the top-level name of anything else
    line: int

    def __str__(self) -> str:
        return f"{module_path(self.importer)}:{self.line}: imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def module_path(name: str) -> str:
    return str(modules()[name].relative_to(ROOT))


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _absolute(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if modules()[importer].name != "__init__.py":
        base = base[:-1]  # a module's relative imports start from its package
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _named(importer: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules an import statement names (the submodule where ``from X import y`` names one)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    source = _absolute(importer, node)
    for alias in node.names:
        candidate = f"{source}.{alias.name}"
        yield candidate if candidate in modules() else source


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        own = set(_ancestors(name))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _named(name, node):
                if target.split(".")[0] != "chaos":
                    found.append(Import(name, target.split(".")[0], node.lineno))
                    continue
                for each in [*_ancestors(target), target]:
                    if each not in own and each != name and each in modules():
                        found.append(Import(name, each, node.lineno))
    return tuple(found)


def is_stdlib(target: str) -> bool:
    return target in sys.stdlib_module_names or target == "__future__"


def of(package: str) -> Iterable[Import]:
    return (i for i in imports() if within(i.importer, package))


# --------------------------------------------------------------------------- the reader itself


def test_the_reader_sees_every_kind_of_import() -> None:
    """Lazy, TYPE_CHECKING, relative and package imports are all read (checked on modules known to have them)."""
    found = {(i.importer, i.target) for i in imports()}
    assert ("chaos.live.in_container.emulator.app", "chaos.live.in_container.emulator.admin") in found  # relative
    assert ("chaos.commands.live", "chaos.live.stack.emulator_stack") in found  # inside a function
    assert ("chaos.model.files", "chaos.model.playbook") in found  # under TYPE_CHECKING, and lazily
    assert ("chaos.live.load.answers", "chaos.live.load.tally") in found  # from a package import a module
    assert ("chaos.live.faults.runner", "chaos.live.stack.docker_env") in found
    assert ("chaos.live.load.process", "chaos.live.in_container.emulator") in found  # a package it runs on the way
    assert ("chaos.live.load.answers", "chaos.live.load") not in found  # its own package is running already
    assert len(modules()) > 100 and len(imports()) > 500


def test_every_import_of_chaos_names_a_module_that_exists() -> None:
    """mypy ignores missing imports (third-party stubs), so a module moved away would go unnoticed there."""
    missing = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                missing += [f"{module_path(name)}:{node.lineno}: {target}" for target in _named(name, node)
                            if target.split(".")[0] == "chaos" and target not in modules()]
    assert missing == []


# --------------------------------------------------------------------------- the rules


def test_no_import_circles() -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(modules())
    graph.add_edges_from((i.importer, i.target) for i in imports() if i.target in modules())
    circles = sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)
    assert circles == []
    assert list(nx.selfloop_edges(graph)) == []


def test_the_core_imports_only_the_standard_library_and_itself() -> None:
    wrong = [i for i in of(CORE) if not (is_stdlib(i.target) or within(i.target, CORE))]
    assert [str(i) for i in wrong] == []
    assert len(list(of(CORE))) > 10  # the rule read the core's imports


def test_the_container_side_imports_only_the_standard_library_the_core_and_itself() -> None:
    wrong = [i for i in of(CONTAINER) if not (is_stdlib(i.target) or within(i.target, CONTAINER)
                                               or within(i.target, CORE) or i.target in CONTAINER_PARENTS)]
    assert [str(i) for i in wrong] == []
    parents = [i for i in imports() if i.importer in CONTAINER_PARENTS]
    assert [str(i) for i in parents] == []
    # the emulator uses the core (a rule met by importing nothing would prove little)
    assert {"chaos.core.retry", "chaos.core.breaker", "chaos.core.admission", "chaos.core.servicetime"} <= {
        i.target for i in of(f"{CONTAINER}.emulator")}


def _package_dir(name: str) -> str:
    return f"{module_path(name)[:-len('/__init__.py')]}/"


def test_the_runtime_image_takes_exactly_the_container_side() -> None:
    """``images.IMAGE_FILES`` (read from its source) is the container side, the core and the packages on the way."""
    tree = ast.parse((PACKAGE / "live" / "stack" / "images.py").read_text(encoding="utf-8"))
    (value,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "IMAGE_FILES" for t in node.targets)]
    image = ast.literal_eval(value)
    expected = {module_path(name) for name in CONTAINER_PARENTS} | {_package_dir(CONTAINER), _package_dir(CORE)}
    assert set(image) == expected


def _graph(found: Iterable[Import]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(modules())
    for i in sorted(found, key=lambda i: i.line):  # an edge is shown by its first import statement
        if i.target in modules() and not graph.has_edge(i.importer, i.target):
            graph.add_edge(i.importer, i.target, statement=i)
    return graph


def _path(graph: nx.DiGraph, source: str, package: str) -> list[Import] | None:
    """The shortest chain of imports from ``source`` to a module of ``package``, or None."""
    lengths = nx.single_source_shortest_path(graph, source)
    reached = sorted((len(p), p) for target, p in lengths.items() if within(target, package) and target != source)
    if not reached:
        return None
    path = reached[0][1]
    return [graph.edges[a, b]["statement"] for a, b in zip(path, path[1:], strict=False)]


def _chain(path: list[Import]) -> str:
    return f"{path[0]}" + "".join(f" -> {i.target}" for i in path[1:])


def live_reaching_back(found: Iterable[Import]) -> list[str]:
    """Rule 4: each module of live that reaches the CLI, the commands or the simulator, with the chain of imports."""
    graph = _graph(found)
    wrong = []
    for name in sorted(m for m in modules() if within(m, "chaos.live")):
        for forbidden in ("chaos.cli", COMMANDS, "chaos.sim"):
            path = _path(graph, name, forbidden)
            if path is not None:
                wrong.append(_chain(path))
    return wrong


def commands_imported_from_outside(found: Iterable[Import]) -> list[Import]:
    """Rule 7."""
    return [i for i in found if within(i.target, COMMANDS) and not any(within(i.importer, p) for p in CLI_LAYER)]


def modules_using_both_engines(found: Iterable[Import]) -> list[str]:
    """Rule 8: each module outside the CLI layer that reaches both engines, with a chain of imports to each."""
    graph = _graph(found)
    wrong = []
    for name in sorted(m for m in modules() if not any(within(m, p) for p in CLI_LAYER)):
        paths = {engine: [] if within(name, engine) else _path(graph, name, engine) for engine in ENGINES}
        if all(p is not None for p in paths.values()):
            wrong.append(f"{module_path(name)}: reaches both engines: "
                         + "; ".join(_chain(p) if p else f"is {engine}" for engine, p in paths.items()))
    return wrong


def test_live_never_imports_the_cli_the_commands_or_the_simulator() -> None:
    assert live_reaching_back(imports()) == []
    assert any(within(i.target, "chaos.live") for i in of(COMMANDS))  # the commands do import live


def test_a_live_module_reaching_the_simulator_is_caught_even_through_another_module() -> None:
    # chaos.drill imports the simulator: a live module importing it reaches chaos.sim in two steps
    planted = Import("chaos.live.gameday.measure", "chaos.drill", 1)
    wrong = live_reaching_back([*imports(), planted])
    assert f"{planted} -> chaos.sim" in wrong
    # and so is every live module that imports the measurement, through it
    through = [w for w in wrong if w != f"{planted} -> chaos.sim"]
    assert through and all("chaos.live.gameday.measure -> chaos.drill -> chaos.sim" in w for w in through)
    direct = Import("chaos.live.faults.runner", "chaos.cli", 7)
    assert f"{direct}" in live_reaching_back([*imports(), direct])


def test_nothing_outside_the_cli_imports_the_commands() -> None:
    assert [str(i) for i in commands_imported_from_outside(imports())] == []
    assert {i.target for i in imports() if i.importer == "chaos.cli"} >= {
        "chaos.commands.live", "chaos.commands.simulate", "chaos.commands.gameday"}  # the rule reads the cli's


def test_a_module_importing_the_commands_is_caught() -> None:
    planted = Import("chaos.report.checks", "chaos.commands.report", 3)
    assert commands_imported_from_outside([*imports(), planted]) == [planted]
    inside = Import("chaos.commands.coverage", "chaos.commands.sweep", 3)  # commands share helpers: allowed
    assert commands_imported_from_outside([*imports(), inside]) == []


def test_only_the_commands_use_both_engines() -> None:
    assert modules_using_both_engines(imports()) == []
    both = [m for m in modules() if within(m, COMMANDS)
            and all(_path(_graph(imports()), m, engine) for engine in ENGINES)]
    assert "chaos.commands.gameday" in both  # chaoslab compare: the rule is not met by nothing using both


def test_a_module_using_both_engines_is_caught() -> None:
    # chaos.drill runs the simulator; planted, it also imports the live game day
    planted = Import("chaos.drill", "chaos.live.gameday.run", 9)
    wrong = modules_using_both_engines([*imports(), planted])
    assert wrong == [f"{module_path('chaos.drill')}: reaches both engines: "
                     f"{module_path('chaos.drill')}:{first_sim_import('chaos.drill')}: imports chaos.sim; {planted}"]


def first_sim_import(name: str) -> int:
    return min(i.line for i in imports() if i.importer == name and i.target == "chaos.sim")


def test_the_host_side_of_live_is_layered() -> None:
    wrong = [i for package, below in HOST_LAYERS.items() for i in of(package)
             if any(within(i.target, other) for other in below)]
    assert [str(i) for i in wrong] == []
    outside = [i for i in imports() if within(i.target, "chaos.live")
               and not (within(i.importer, "chaos.live") or within(i.importer, COMMANDS))]
    assert [str(i) for i in outside] == []


def test_sweep_does_not_import_diff() -> None:
    wrong = [i for i in of("chaos.sweep") if within(i.target, "chaos.diff") or within(i.target, "chaos.commands.diff")]
    assert [str(i) for i in wrong] == []
    assert any(within(i.target, "chaos.sweep") for i in of("chaos.diff"))  # the one direction that is allowed
