"""Images built without a registry: the Debian-package base and the chaoslab runtime."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import chaos
from chaos.live.stack import images
from chaos.live.stack.docker_env import Engine


def docker_run(image: str, *command: str, timeout: float = 60) -> str:
    docker = shutil.which("docker")
    assert docker is not None, "the docker command line is needed to run containers"
    result = subprocess.run(
        [docker, "run", "--rm", "--pull=never", "--network=none", image, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"docker run {image} {command} failed:\n{result.stderr}"
    return result.stdout


def test_base_image_runs_the_python_it_was_built_from(engine: Engine, base_image: images.BaseImage) -> None:
    image = engine.client.images.get(base_image.tag)
    assert image.id == base_image.image_id
    assert image.labels["org.chaoslab.python-version"] == base_image.python_version
    printed = docker_run(
        base_image.tag, "python3", "-c", "import platform, ssl, json; print(platform.python_version())"
    )
    assert printed.strip() == base_image.python_version
    assert base_image.python_version.startswith("3.")


def test_base_image_closure_is_apt_resolved_and_pinned(base_image: images.BaseImage) -> None:
    names = {p.name for p in base_image.packages}
    assert {"python3", "busybox-static", "libc6"} <= names
    assert len(names) == len(base_image.packages)
    minimal = next(p for p in base_image.packages if p.name.startswith("python3.") and p.name.endswith("-minimal"))
    assert minimal.version.startswith(base_image.python_version)


def test_base_image_has_sh_and_wget_for_health_checks(base_image: images.BaseImage) -> None:
    # A server inside the container, fetched with busybox wget by a busybox sh loop
    # (the container has no network: this is its own loopback).
    script = (
        "python3 -m http.server 8000 --bind 127.0.0.1 --directory /etc >/dev/null 2>&1 & "
        "for i in $(seq 100); do wget -q -O /tmp/page http://127.0.0.1:8000/passwd && break; sleep 0.1; done; "
        "cat /tmp/page; kill %1"
    )
    printed = docker_run(base_image.tag, "sh", "-c", script)
    assert printed.startswith("root:x:0:0:")


def test_runtime_image_imports_chaos(runtime_image: images.RuntimeImage, engine: Engine) -> None:
    printed = docker_run(
        runtime_image.tag, "python3", "-c", "import chaos, chaos.core.retry; print(chaos.__version__, chaos.__file__)"
    )
    assert printed.split() == [chaos.__version__, "/opt/chaoslab/chaos/__init__.py"]
    labels = engine.client.images.get(runtime_image.tag).labels
    assert labels["org.chaoslab.source-sha256"] == runtime_image.source_hash
    assert runtime_image.tag.endswith(f":{chaos.__version__}-{runtime_image.source_hash[:12]}")


def test_runtime_image_holds_exactly_the_package_sources(runtime_image: images.RuntimeImage) -> None:
    listing = docker_run(runtime_image.tag, "python3", "-c", LIST_SOURCES)
    in_image = sorted(listing.split())
    here = sorted(rel for rel, _ in images.runtime_sources())
    # The sources may be edited while the tests run; compare to the build's own snapshot via the hash instead
    # when they differ.
    if in_image != here:
        pytest.skip("chaos/ changed since the runtime image was built")
    assert "chaos/core/retry.py" in in_image and "chaos/errors.py" not in in_image
    assert not [path for path in in_image if "__pycache__" in path or path.endswith(".pyc")]


LIST_SOURCES = """
import os
for top, dirs, files in os.walk('/opt/chaoslab/chaos'):
    dirs[:] = [d for d in dirs if d != '__pycache__']
    for name in files:
        print(os.path.relpath(os.path.join(top, name), '/opt/chaoslab'))
"""


def test_existing_runtime_image_is_reused(engine: Engine, runtime_image: images.RuntimeImage) -> None:
    again = images.build_runtime_image(runtime_image.base, repository=runtime_image.tag.split(":")[0], engine=engine)
    if again.source_hash != runtime_image.source_hash:
        pytest.skip("chaos/ changed since the runtime image was built")
    assert (again.tag, again.image_id, again.built) == (runtime_image.tag, runtime_image.image_id, False)


def test_source_hash_changes_with_any_byte_and_ignores_bytecode(tmp_path: Path) -> None:
    package = tmp_path / "chaos"
    inside = package / "live" / "in_container"
    inside.mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = '9'\n")
    (inside / "x.py").write_text("A = 1\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (package / ".hidden").write_text("secret")
    sources = images.runtime_sources(package)
    assert [rel for rel, _ in sources] == ["chaos/__init__.py", "chaos/live/in_container/x.py"]
    before = images.source_hash(sources, b"FROM x", "sha256:1")
    assert images.source_hash(sources, b"FROM x", "sha256:1") == before
    assert images.source_hash(sources, b"FROM y", "sha256:1") != before
    assert images.source_hash(sources, b"FROM x", "sha256:2") != before
    (inside / "x.py").write_text("A = 2\n")
    assert images.source_hash(images.runtime_sources(package), b"FROM x", "sha256:1") != before


def test_the_image_takes_what_runs_in_containers_and_nothing_of_the_host(tmp_path: Path) -> None:
    """The host's code (stack, faults, load, game day, the model, the simulator) stays out of the image,
    so changing it does not make a new image; tests/test_layering.py checks that what goes in needs nothing else."""
    taken = [rel for rel, _ in images.runtime_sources()]
    assert "chaos/live/in_container/emulator/app.py" in taken and "chaos/live/in_container/toxiproxy/server.py" in taken
    assert "chaos/core/retry.py" in taken and "chaos/core/errors.py" in taken and "chaos/__init__.py" in taken
    assert "chaos/errors.py" not in taken and "chaos/run.py" not in taken  # the host's names stay out
    assert not any(rel.startswith(("chaos/live/stack/", "chaos/live/faults/", "chaos/model/", "chaos/sim/"))
                   for rel in taken)
    assert "chaos/cli.py" not in taken


def test_explicit_base_that_is_absent_is_an_error_not_a_pull(engine: Engine, run_id: str) -> None:
    absent = f"chaoslab-test/absent-{run_id}:never"
    with pytest.raises(chaos.errors.DockerError, match=f"{absent} is not present"):
        images.build_runtime_image(absent, repository=f"chaoslab-test/runtime-{run_id}", engine=engine)


def test_ensure_images_builds_what_is_missing_then_reuses(
    engine: Engine, run_id: str, deb_cache: Path, image_remover: Callable[[list[str]], None]
) -> None:
    local_base = f"chaoslab-test/ensure-base:{run_id}"
    repository = f"chaoslab-test/ensure-runtime-{run_id}"
    first = images.ensure_images(engine=engine, cache_dir=deb_cache, local_base=local_base, repository=repository)
    try:
        has_official = first.base == images.OFFICIAL_BASE_IMAGE
        assert first.base == (images.OFFICIAL_BASE_IMAGE if has_official else local_base)
        assert first.runtime.startswith(f"{repository}:{chaos.__version__}-")
        base_id = engine.client.images.get(first.base).id
        runtime_id = engine.client.images.get(first.runtime).id
        second = images.ensure_images(engine=engine, cache_dir=deb_cache, local_base=local_base, repository=repository)
        assert engine.client.images.get(second.base).id == base_id
        if second.runtime == first.runtime:
            assert engine.client.images.get(second.runtime).id == runtime_id
    finally:
        image_remover([*tags_of(engine, repository), local_base])


def tags_of(engine: Engine, repository: str) -> list[str]:
    return [tag for image in engine.client.images.list(name=repository) for tag in image.tags]
