"""Optional dependencies: which extra of pyproject.toml brings each, and one way to ask for them.

The simulator needs only the base dependencies. Live mode needs the Docker SDK and Locust
(``pip install 'chaoslab[live]'``); sweeps on a Dask cluster need ``distributed``
(``pip install 'chaoslab[sweep]'``). Code that needs one of them asks here, so a missing
package is one line naming the extra to install (exit code 2), never a ModuleNotFoundError.

(toxiproxy-python, in the live extra, and selenium, in dev, are used by tests only:
chaoslab talks to Toxiproxy through its own client.)
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

from chaos.errors import MissingDependency


@dataclass(frozen=True)
class OptionalPackage:
    """A package chaoslab imports only for some commands."""

    module: str     # the name imported
    needed_by: str  # what needs it, as the message names it
    extra: str      # the extra in pyproject.toml that installs it

    def missing(self, why: str = "") -> MissingDependency:
        detail = f" ({why})" if why else ""
        return MissingDependency(f"{self.needed_by} needs the '{self.extra}' extra{detail}: "
                                 f"pip install 'chaoslab[{self.extra}]'")


DASK = OptionalPackage("distributed", "the Dask executor", "sweep")
DOCKER = OptionalPackage("docker", "live mode (the Docker SDK)", "live")
LOCUST = OptionalPackage("locust", "live load generation (Locust)", "live")
OPTIONAL = (DASK, DOCKER, LOCUST)


def require(dependency: OptionalPackage) -> ModuleType:
    """Import ``dependency``, or raise MissingDependency naming its extra."""
    try:
        return importlib.import_module(dependency.module)
    except ImportError as exc:
        raise dependency.missing(_why(dependency, exc)) from None


def check(dependency: OptionalPackage) -> None:
    """Raise MissingDependency unless ``dependency`` is installed, without importing it.

    For Locust, which monkey-patches the standard library when imported: chaoslab runs it
    in a process of its own, and only asks here whether it is there.
    """
    try:
        found = importlib.util.find_spec(dependency.module)
    except (ImportError, ValueError) as exc:
        raise dependency.missing(_why(dependency, exc)) from None
    if found is None:
        raise dependency.missing()


def _why(dependency: OptionalPackage, exc: BaseException) -> str:
    """Nothing when the package itself is absent; what failed when it is there but broken."""
    name = getattr(exc, "name", None)
    if name is not None and (name == dependency.module or name.split(".")[0] == dependency.module):
        return ""
    return f"importing {dependency.module} failed: {exc}"
