"""A missing optional package names the extra that installs it: one line, exit code 2, nothing written.

Each case runs chaoslab in a fresh interpreter where the package cannot be imported: a
sitecustomize puts None in sys.modules under its name, which is what Python does for a
module it must not import. Nothing is uninstalled.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from chaos.extras import DASK, DOCKER, LOCUST, OPTIONAL, OptionalPackage

REPO = Path(__file__).resolve().parents[2]


def without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment whose Python cannot import ``modules``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules))
    return dict(os.environ, PYTHONPATH=str(site))


def chaoslab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def message(dependency: OptionalPackage) -> str:
    return f"chaoslab: {dependency.needed_by} needs the '{dependency.extra}' extra: " \
           f"pip install 'chaoslab[{dependency.extra}]'\n"


CASES = [
    (DASK, ("distributed", "dask"), ["sweep", "experiments/db-slow-retry-cascade.yaml", "--each-service", "crash",
                                     "--executor", "dask://127.0.0.1:9", "--out", "{out}"]),
    (DASK, ("distributed", "dask"), ["diff", "topologies/shop.yaml", "topologies/shop-hardened.yaml", "--experiments",
                                     "experiments", "--executor", "tcp://127.0.0.1:9", "--out", "{out}"]),
    (DOCKER, ("docker",), ["stack", "up", "topologies/shop.yaml", "--dir", "{out}"]),
    (DOCKER, ("docker",), ["run", "experiments/gameday-db-latency.yaml", "--out", "{out}"]),
    (LOCUST, ("locust",), ["run", "experiments/gameday-db-latency.yaml", "--out", "{out}"]),
    (DOCKER, ("docker",), ["images", "build"]),
]


@pytest.mark.parametrize(("dependency", "modules", "args"), CASES,
                         ids=[f"{c[0].module}-{c[2][0]}" for c in CASES])
def test_a_missing_package_names_its_extra(dependency: OptionalPackage, modules: tuple[str, ...], args: list[str],
                                           tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = chaoslab(without(tmp_path, *modules), *(a.format(out=out) for a in args))
    assert done.returncode == 2, done.stderr
    assert done.stderr == message(dependency)
    assert done.stdout == ""
    assert not out.exists()


def test_the_message_says_what_failed_when_the_package_is_there_but_broken(tmp_path: Path) -> None:
    # distributed imports, but a package it needs does not: the extra is still the fix, and the cause is named.
    done = chaoslab(without(tmp_path, "tornado"), "sweep", "experiments/db-slow-retry-cascade.yaml",
                    "--executor", "dask://127.0.0.1:9", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("chaoslab: the Dask executor needs the 'sweep' extra (importing distributed failed: ")
    assert first.endswith(": pip install 'chaoslab[sweep]'")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_each_optional_package_is_in_the_extra_it_names() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    # The distribution that provides each module, as pyproject spells the requirement.
    provided_by = {"distributed": "dask[distributed]", "docker": "docker", "locust": "locust"}
    for dependency in OPTIONAL:
        wanted = provided_by[dependency.module]
        assert any(req.replace(" ", "").startswith(wanted) for req in extras[dependency.extra]), \
            f"{dependency.module} is not installed by the '{dependency.extra}' extra"


# Files Locust runs in its own process: they import Locust and gevent directly, by design.
LOCUST_SIDE = {"chaos/live/load/locustfile.py", "chaos/live/load/process.py", "chaos/live/load/client.py"}
OPTIONAL_TOP_LEVEL = {"distributed", "dask", "docker", "locust", "gevent", "toxiproxy"}


def test_optional_packages_are_imported_only_through_chaos_extras() -> None:
    found = []
    for path in sorted((REPO / "chaos").rglob("*.py")):
        name = str(path.relative_to(REPO))
        if name in LOCUST_SIDE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                     and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                     for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{name}:{node.lineno}: {m}" for m in modules if m.split(".")[0] in OPTIONAL_TOP_LEVEL]
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module") and node.args \
                    and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).split(".")[0] \
                    in OPTIONAL_TOP_LEVEL:
                found.append(f"{name}:{node.lineno}: import_module({node.args[0].value!r})")
    assert found == [], "import these through chaos.extras.require or check"
