"""Fixtures for the Docker tests: base and runtime images built for the session.

The engine, Compose and the session's run id come from ``tests/live/conftest.py``,
shared with the other live tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.live.stack import images
from chaos.live.stack.docker_env import Engine, import_sdk


@pytest.fixture(scope="session")
def deb_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest's cache keeps the .debs between runs; without the cache plugin, a fresh directory."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("chaoslab-debs")) if cache is not None else tmp_path_factory.mktemp("debs")


@pytest.fixture(scope="session")
def base_image(engine: Engine, run_id: str, deb_cache: Path) -> Iterator[images.BaseImage]:
    built = images.build_base_image(f"chaoslab-test/python-base:{run_id}", engine=engine, cache_dir=deb_cache)
    yield built
    remove_images(engine, [built.tag])


@pytest.fixture(scope="session")
def runtime_image(engine: Engine, base_image: images.BaseImage, run_id: str) -> Iterator[images.RuntimeImage]:
    repository = f"chaoslab-test/runtime-{run_id}"
    built = images.build_runtime_image(base_image.tag, repository=repository, engine=engine)
    yield built
    # Tests may build more tags in this repository (e.g. after the sources changed).
    remove_images(engine, tags_of(engine, repository))


@pytest.fixture(scope="session")
def image_remover(engine: Engine) -> Callable[[list[str]], None]:
    return lambda tags: remove_images(engine, tags)


def tags_of(engine: Engine, repository: str) -> list[str]:
    return [tag for image in engine.client.images.list(name=repository) for tag in image.tags]


def remove_images(engine: Engine, tags: list[str]) -> None:
    """Remove test images; a failure is reported, not ignored (it would leak disk on the machine)."""
    not_found = import_sdk().errors.ImageNotFound
    for tag in tags:
        try:
            engine.client.images.remove(tag)
        except not_found:
            pass
