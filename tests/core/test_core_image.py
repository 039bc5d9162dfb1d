"""The runtime image's sources run on a bare Python: they import only the standard library, the core and themselves.

``tests/test_layering.py`` reads the import statements; this test runs them. The files the
image takes (``runtime_sources``, what the Dockerfile copies) are copied to a directory of
their own and every module is imported by a fresh interpreter that sees nothing else: no
site-packages (``-I -S``), no chaoslab checkout. Whatever it loaded is then listed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chaos.live.stack.images import runtime_sources

PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[2])  # as the image's PYTHONPATH=/opt/chaoslab
before = set(sys.modules)
names = json.loads(sys.argv[1])
for name in names:
    importlib.import_module(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _module(rel: str) -> str | None:
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__main__":
        return None  # running it would start the server
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_of_the_image_imports_only_the_standard_library_the_core_and_the_container_side(
        tmp_path: Path) -> None:
    sources = runtime_sources()
    for rel, path in sources:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(path.read_bytes())
    names = sorted(n for rel, _ in sources if rel.endswith(".py") and (n := _module(rel)))
    assert {"chaos.core.retry", "chaos.live.in_container.emulator.app", "chaos.live.in_container.toxiproxy.server",
            "chaos.live.in_container.probe"} <= set(names)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, json.dumps(names), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    ours = [m for m in loaded if m.split(".")[0] == "chaos"]
    assert set(names) <= set(ours)
    allowed = ("chaos", "chaos.live", "chaos.core", "chaos.live.in_container")
    outside = [m for m in ours if not (m in allowed or m.startswith(("chaos.core.", "chaos.live.in_container.")))]
    assert outside == []
    others = sorted({m.split(".")[0] for m in loaded} - {"chaos"} - set(sys.stdlib_module_names))
    assert others == []
