"""The stack's nginx and haproxy, built from Debian's packages where no registry is reachable."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from chaos.errors import DockerError
from chaos.live.stack import images
from chaos.live.stack.docker_env import Engine

NGINX_ROOTS = ("nginx",)


def docker_run(image: str, *command: str) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    assert docker is not None
    return subprocess.run([docker, "run", "--rm", "--pull=never", "--network=none", image, *command],
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_package_image_holds_the_packages_apt_chose_and_is_reused_while_they_do_not_change(
        engine: Engine, run_id: str) -> None:
    tag = f"chaoslab-test/nginx-{run_id}:bookworm"
    built: list[str] = []
    try:
        first = images.build_package_image(tag, NGINX_ROOTS, directories=("/var/lib/nginx",),
                                           files={"/srv/www/index.html": b"hello\n"}, engine=engine)
        built.append(first.image_id)
        names = {p.name for p in first.packages}
        assert {"nginx", "nginx-common", "busybox-static", "libc6"} <= names  # the closure, and sh/wget
        version = next(p.version for p in first.packages if p.name == "nginx")
        ran = docker_run(tag, "sh", "-c", "nginx -v 2>&1; cat /srv/www/index.html; test -d /var/lib/nginx && echo dir")
        assert ran.returncode == 0, ran.stderr
        assert f"nginx version: nginx/{version.split('-')[0]}" in ran.stdout and "hello\ndir\n" in ran.stdout
        again = images.build_package_image(tag, NGINX_ROOTS, directories=("/var/lib/nginx",),
                                           files={"/srv/www/index.html": b"hello\n"}, engine=engine)
        assert again.image_id == first.image_id  # nothing changed: not rebuilt
        changed = images.build_package_image(tag, NGINX_ROOTS, directories=("/var/lib/nginx",),
                                             files={"/srv/www/index.html": b"bye\n"}, engine=engine)
        built.append(changed.image_id)
        assert changed.image_id != first.image_id  # one byte of a file: a new image
    finally:
        for image_id in reversed(built):  # the first lost its tag to the second: removed by id
            engine.client.images.remove(image_id, force=True)


@pytest.mark.parametrize("path", ["etc/nginx.conf", "/etc/../../host"])
def test_a_file_outside_the_image_is_refused_before_anything_is_fetched(path: str) -> None:
    with pytest.raises(DockerError, match="is not an absolute path inside the image"):
        images.build_package_image("chaoslab-test/never:x", NGINX_ROOTS, files={path: b""})
