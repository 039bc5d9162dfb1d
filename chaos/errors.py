"""chaoslab's errors, by the name the host side has always imported them under.

The hierarchy itself is defined once, in :mod:`chaos.core.errors` (drawn in its
docstring): the emulator's container imports nothing outside ``chaos.core`` and its own
package, and it raises the same errors. Host code may import from either module; these
are the same classes.
"""

from __future__ import annotations

from chaos.core.errors import (
    UNKNOWN,
    ChaosError,
    DockerError,
    EngineUnavailable,
    InputError,
    LiveError,
    Location,
    MissingDependency,
    QueryError,
    RevertError,
    RunError,
    ToxiproxyError,
)

__all__ = ["UNKNOWN", "ChaosError", "DockerError", "EngineUnavailable", "InputError", "LiveError", "Location",
           "MissingDependency", "QueryError", "RevertError", "RunError", "ToxiproxyError"]
