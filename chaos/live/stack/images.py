"""Build chaoslab's container images without a registry.

Two images:

* the **base image**: a minimal Python 3 made from Debian packages. apt
  resolves the dependency closure of ``python3`` and ``busybox-static`` (for
  ``sh`` and ``wget`` in health checks), the .debs are downloaded into a cache,
  unpacked into a merged-/usr root filesystem and imported with
  ``docker import``. It takes seconds and needs only apt and an engine.
* the **runtime image**: ``chaos/live/stack/Dockerfile`` on top of a base, with the
  sources of what runs in containers copied in (:data:`IMAGE_FILES`: the container
  side, ``chaos.live.in_container``, and the behaviour core it imports, ``chaos.core``).
  Its tag carries chaoslab's version and a hash of those sources, the Dockerfile
  and the base image's id, so a stale image is never reused, and a change to the
  host's code does not make a new one.

Users with a registry get ``python:3.11-slim`` as the runtime's base when it
is present locally; chaoslab itself never pulls.

The same recipe makes images of other software where no registry is reachable
(:func:`build_package_image`: nginx, haproxy, ... from Debian's packages, with
files and directories added), :func:`build_toxiproxy_image` makes the
runtime a drop-in for the official Toxiproxy image, and :func:`prometheus_image` gives a
generated stack its Prometheus (the official image if present, else Debian's package).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import chaos
from chaos.errors import DockerError, EngineUnavailable
from chaos.live.stack.docker_env import Engine, connect, import_sdk

BASE_IMAGE = "chaoslab/python-base:bookworm"
OFFICIAL_BASE_IMAGE = "python:3.11-slim"
RUNTIME_REPOSITORY = "chaoslab/runtime"
# apt adds the closure: about 40 packages, python3.11 and its libraries.
BASE_ROOT_PACKAGES = ("python3", "busybox-static")
DOCKERFILE = Path(__file__).with_name("Dockerfile")
LABEL = "org.chaoslab."
# What runs in containers, and nothing else: the image has no third-party package, so a module here
# that imported one (or the host's code) would fail only inside a container. tests/test_layering.py
# checks that these import only the standard library and each other. A path ending in / is a directory.
IMAGE_FILES = (
    "chaos/__init__.py",
    "chaos/core/",
    "chaos/live/__init__.py",
    "chaos/live/in_container/",
)
APT_HINT = "this needs apt (Debian or Ubuntu) with fresh package lists: run apt-get update"

# Docs, manuals and translations are a third of the unpacked size and no
# container reads them.
_EXCLUDED = ("./usr/share/doc", "./usr/share/man", "./usr/share/info", "./usr/share/locale", "./usr/share/lintian")
_MERGED_USR = ("bin", "sbin", "lib", "lib64")
_URI_LINE = re.compile(r"^'(?P<uri>[^']+)' (?P<file>\S+) (?P<size>\d+) SHA256:(?P<sha256>[0-9a-f]{64})$")
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class DebPackage:
    """One Debian package of the base image, pinned to the version apt chose."""

    name: str
    version: str
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BaseImage:
    tag: str
    image_id: str
    python_version: str  # upstream version of the python3.X-minimal package, e.g. "3.11.2"
    packages: tuple[DebPackage, ...]


@dataclass(frozen=True)
class RuntimeImage:
    tag: str  # RUNTIME_REPOSITORY:<chaoslab version>-<12 hex digits of the content hash>
    image_id: str
    base: str
    source_hash: str
    built: bool  # False when an image with this tag (hence this content) already existed


@dataclass(frozen=True)
class ImageSet:
    """The tags a live run uses."""

    base: str
    runtime: str


# --- base image -------------------------------------------------------------------------------


def resolve_packages(roots: Sequence[str] = BASE_ROOT_PACKAGES, *, timeout: float = 120.0) -> tuple[DebPackage, ...]:
    """The packages a fresh system needs for ``roots``, as apt resolves them (no recommends).

    apt plans an install against an empty dpkg status and an empty archive
    directory, so it picks the whole closure, alternatives included, exactly as
    for a new root filesystem; the host's installed packages play no part.
    ``--print-uris`` makes it print the plan (file names, sizes, hashes) instead
    of acting on it, which needs no root and no lock.
    """
    with tempfile.TemporaryDirectory(prefix="chaoslab-apt-") as archives:
        (Path(archives) / "partial").mkdir()
        planned = _run(
            [
                "apt-get", "install", "-q", "--print-uris", "--no-install-recommends",
                "-o", "Dir::State::status=/dev/null",
                "-o", f"Dir::Cache::archives={archives}",
                "-o", "Acquire::ForceHash=SHA256",
                *roots,
            ],
            timeout=timeout,
            what="resolving the base image's packages",
        ).stdout  # fmt: skip
    packages = tuple(_deb_package(line) for line in planned.splitlines() if line.startswith("'"))
    if not packages:
        raise DockerError(f"apt planned no packages for {' '.join(roots)}", hint=APT_HINT)
    return packages


def fetch_packages(packages: Sequence[DebPackage], cache_dir: Path, *, timeout: float = 600.0) -> tuple[Path, ...]:
    """The packages' .deb files, downloaded into ``cache_dir`` unless already there intact."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not _is_cached(cache_dir / p.filename, p)]
    if missing:
        _download(missing, cache_dir, timeout)
    for package in packages:
        if not _is_cached(cache_dir / package.filename, package):
            raise DockerError(f"{package.filename} in {cache_dir} does not match apt's SHA256", hint=APT_HINT)
    return tuple(cache_dir / p.filename for p in packages)


def assemble_rootfs(debs: Sequence[Path], root: Path, *, timeout: float = 120.0) -> None:
    """Unpack ``debs`` into ``root`` as a merged-/usr tree and make it runnable.

    Maintainer scripts are not run: a Python runtime needs none of them, only
    the loader cache, a passwd file and the busybox applet links done here.
    """
    for name in _MERGED_USR:
        (root / "usr" / name).mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(f"usr/{name}")
    for deb in debs:
        _unpack(deb, root, timeout)
    _link_busybox_applets(root, timeout)
    _write_system_files(root)
    _run(["ldconfig", "-r", str(root)], timeout=timeout, what="building the loader cache", hint=None)


def build_base_image(
    name: str = BASE_IMAGE,
    *,
    engine: Engine | None = None,
    cache_dir: Path | None = None,
    roots: Sequence[str] = BASE_ROOT_PACKAGES,
) -> BaseImage:
    """Build (or rebuild) the minimal Python 3 base image ``name`` from Debian packages.

    Downloads go to ``cache_dir`` (default ``$XDG_CACHE_HOME/chaoslab/debs``)
    and are reused while apt's versions do not change. Needs apt, dpkg-deb,
    tar and ldconfig on the host (Debian/Ubuntu) and a local engine.
    """
    packages = resolve_packages(roots)
    python_version = _python_version(packages)
    built = _build_from_packages(name, packages, _base_changes(python_version, packages), (), engine, cache_dir)
    return BaseImage(name, built.image_id, python_version, packages)


@dataclass(frozen=True)
class PackageImage:
    """An image of Debian packages (and the files added to them), as :func:`build_package_image` made it."""

    tag: str
    image_id: str
    packages: tuple[DebPackage, ...]


def build_package_image(
    name: str,
    roots: Sequence[str],
    *,
    changes: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
    directories: Sequence[str] = (),
    engine: Engine | None = None,
    cache_dir: Path | None = None,
) -> PackageImage:
    """Build the image ``name`` from Debian's ``roots`` and their closure, the way the base image is built.

    For software a stack runs that chaoslab did not write (nginx, haproxy, prometheus) where no
    registry is reachable: the image holds what the packages hold, plus ``files`` (path in the
    image -> content: a configuration baked in) and ``directories`` (made empty: what a
    maintainer script would have created, such as nginx's ``/var/lib/nginx``), and
    ``changes`` are Dockerfile instructions applied on import (``CMD``, ``ENTRYPOINT``, ``ENV``,
    ``EXPOSE``, ...). busybox-static is always added, for ``sh`` and ``wget`` in health checks.
    """
    for path in (*(files or {}), *directories):
        if not path.startswith("/") or ".." in Path(path).parts:
            raise DockerError(f"{name}: {path!r} is not an absolute path inside the image")
    wanted = tuple(dict.fromkeys((*roots, "busybox-static")))
    packages = resolve_packages(wanted)
    extras = _extras(files or {}, directories)
    digest = _content_hash(packages, changes, extras)
    labels = [f"LABEL {LABEL}content-sha256={digest}", f"LABEL {LABEL}root-packages={','.join(wanted)}"]
    with _engine_scope(engine) as active:
        existing = _labelled(active, name, f"{LABEL}content-sha256")
        if existing is not None and existing[1] == digest:  # apt's versions, the files and changes all the same
            return PackageImage(name, existing[0], packages)
        return _build_from_packages(name, packages, [*_IMAGE_ENV, *labels, *changes], extras, active, cache_dir)


def _content_hash(
    packages: Sequence[DebPackage], changes: Sequence[str], extras: Sequence[tuple[str, bytes | None]]
) -> str:
    digest = hashlib.sha256()
    parts = [*(f"{p.name}={p.version} {p.sha256}".encode() for p in packages), *(c.encode() for c in changes)]
    for path, content in extras:
        parts += [path.encode(), b"" if content is None else b"f" + content]
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _labelled(engine: Engine, reference: str, label: str) -> tuple[str, str | None] | None:
    """The image's id and the value of one of its labels, or None if there is no such image."""
    errors = import_sdk().errors
    try:
        image = engine.client.images.get(reference)
    except errors.ImageNotFound:
        return None
    except errors.DockerException as exc:
        raise DockerError(f"cannot inspect image {reference}: {exc}") from exc
    return str(image.id), (image.labels or {}).get(label)


def _extras(files: Mapping[str, bytes], directories: Sequence[str]) -> tuple[tuple[str, bytes | None], ...]:
    return (*((d, None) for d in directories), *files.items())


def _build_from_packages(
    name: str,
    packages: Sequence[DebPackage],
    changes: Sequence[str],
    extras: Sequence[tuple[str, bytes | None]],
    engine: Engine | None,
    cache_dir: Path | None,
) -> PackageImage:
    debs = fetch_packages(packages, cache_dir or default_cache_dir())
    with tempfile.TemporaryDirectory(prefix="chaoslab-rootfs-") as scratch:
        root = Path(scratch) / "root"
        root.mkdir()
        assemble_rootfs(debs, root)
        for path, content in extras:  # a directory (None) or a file's bytes
            target = root / path.lstrip("/")
            if content is None:
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        archive = Path(scratch) / "rootfs.tar"
        _run(
            ["tar", "-C", str(root), "--numeric-owner", "--owner=0", "--group=0", "-cf", str(archive), "."],
            timeout=120,
            what="archiving the root filesystem",
            hint=None,
        )
        with _engine_scope(engine) as active:
            image_id = _import(active, archive, name, list(changes))
    return PackageImage(name, image_id, tuple(packages))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chaoslab" / "debs"


# --- runtime image ----------------------------------------------------------------------------


def runtime_sources(package_dir: Path | None = None) -> tuple[tuple[str, Path], ...]:
    """The files of the chaos package that go into the image (:data:`IMAGE_FILES`), as (path in image, path here).

    Byte code, caches and hidden files stay out; everything else under those paths
    (data files included) goes in, sorted so the hash is stable.
    """
    top = package_dir or Path(chaos.__file__).parent
    files = []
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top.parent)
        if path.is_file() and not _is_build_junk(rel) and _in_image(rel.as_posix()):
            files.append((rel.as_posix(), path))
    return tuple(files)


def _in_image(rel: str) -> bool:
    return any(rel.startswith(entry) if entry.endswith("/") else rel == entry for entry in IMAGE_FILES)


def source_hash(sources: Sequence[tuple[str, Path]], dockerfile: bytes, base_id: str) -> str:
    """SHA-256 over the Dockerfile, the base image's id and every source file's path and bytes."""
    digest = hashlib.sha256()
    for part in (dockerfile, base_id.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    for rel, path in sources:
        for part in (rel.encode(), path.read_bytes()):
            digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def build_runtime_image(
    base: str | None = None,
    *,
    repository: str = RUNTIME_REPOSITORY,
    local_base: str = BASE_IMAGE,
    engine: Engine | None = None,
    cache_dir: Path | None = None,
) -> RuntimeImage:
    """Build the chaoslab runtime image on ``base``, or reuse it if this exact content exists.

    ``base=None`` picks ``python:3.11-slim`` when that image is present
    locally, else the local base image ``local_base`` (built first if
    missing, with .debs cached in ``cache_dir``). An explicit
    ``base`` must already be present: chaoslab never pulls. Uses the classic
    builder (the engine API's default), since BuildKit is not available here.
    """
    with _engine_scope(engine) as active:
        chosen = base or _default_base(active, local_base, cache_dir)
        base_id = _image_id(active, chosen)
        if base_id is None:
            raise DockerError(
                f"base image {chosen} is not present in the engine, and chaoslab never pulls",
                hint=f"build the local base (build_base_image) or `docker pull {chosen}` where a registry is reachable",
            )
        sources = runtime_sources()
        dockerfile = DOCKERFILE.read_bytes()
        digest = source_hash(sources, dockerfile, base_id)
        tag = f"{repository}:{chaos.__version__}-{digest[:12]}"
        existing = _image_id(active, tag)
        if existing is not None:
            return RuntimeImage(tag, existing, chosen, digest, built=False)
        image_id = _build(active, sources, dockerfile, tag, chosen, _runtime_labels(digest, chosen, base_id))
    return RuntimeImage(tag, image_id, chosen, digest, built=True)


def ensure_images(
    *,
    engine: Engine | None = None,
    cache_dir: Path | None = None,
    local_base: str = BASE_IMAGE,
    repository: str = RUNTIME_REPOSITORY,
) -> ImageSet:
    """Build whatever is missing and return the tags a live run should use.

    The local base is built only if neither it nor ``python:3.11-slim`` is
    present; the runtime image only if no image holds the current sources.
    """
    with _engine_scope(engine) as active:
        runtime = build_runtime_image(engine=active, cache_dir=cache_dir, local_base=local_base, repository=repository)
    return ImageSet(base=runtime.base, runtime=runtime.tag)


TOXIPROXY_IMAGE = "chaoslab/toxiproxy"
# What the official image runs, so that a Compose file written for it (command: ["-host=0.0.0.0",
# "-config=/config/toxiproxy.json"]) runs chaoslab's Toxiproxy-compatible server unchanged.
_TOXIPROXY_DOCKERFILE = """\
ARG RUNTIME
FROM ${RUNTIME}
EXPOSE 8474
ENTRYPOINT ["python3", "-m", "chaos.live.in_container.toxiproxy"]
CMD ["-host=0.0.0.0"]
"""


def build_toxiproxy_image(
    repository: str = TOXIPROXY_IMAGE, *, engine: Engine | None = None, cache_dir: Path | None = None
) -> str:
    """A drop-in for the official Toxiproxy image (same entry point, flags and API port), made of the runtime
    image with chaoslab's Toxiproxy-compatible server as its entry point; its tag follows the runtime's, so
    it is rebuilt when the server's sources change. Returns the tag."""
    with _engine_scope(engine) as active:
        runtime = build_runtime_image(engine=active, cache_dir=cache_dir)
        tag = f"{repository}:{runtime.tag.rpartition(':')[2]}"
        if _image_id(active, tag) is not None:
            return tag
        errors = import_sdk().errors
        with tempfile.TemporaryDirectory(prefix="chaoslab-build-") as context:
            (Path(context) / "Dockerfile").write_text(_TOXIPROXY_DOCKERFILE)
            try:
                active.client.images.build(path=context, tag=tag, buildargs={"RUNTIME": runtime.tag}, pull=False,
                                           rm=True, forcerm=True, labels={f"{LABEL}runtime": runtime.tag})
            except errors.DockerException as exc:
                raise DockerError(f"building {tag} on {runtime.tag} failed: {exc}") from exc
    return tag


PROMETHEUS_IMAGE = "chaoslab/prometheus:bookworm"
OFFICIAL_PROMETHEUS_IMAGE = "prom/prometheus:latest"
# Debian's package installs /usr/bin/prometheus, and /bin is /usr/bin in a merged-/usr root: the official
# image's entry point (/bin/prometheus) names the same program in both, so one Compose file runs either.
_PROMETHEUS_CHANGES = ('ENTRYPOINT ["/bin/prometheus"]', "EXPOSE 9090", "WORKDIR /prometheus")


def build_prometheus_image(name: str = PROMETHEUS_IMAGE, *, engine: Engine | None = None,
                           cache_dir: Path | None = None) -> str:
    """Prometheus from Debian's ``prometheus`` package (2.42 in bookworm), with the official image's entry
    point and data directory, built like the base image (no registry); rebuilt only when apt's versions
    change. Returns the tag."""
    return build_package_image(name, ("prometheus",), changes=_PROMETHEUS_CHANGES, directories=("/prometheus",),
                               engine=engine, cache_dir=cache_dir).tag


def prometheus_image(explicit: str | None = None, *, engine: Engine | None = None,
                     cache_dir: Path | None = None) -> str:
    """The Prometheus image a generated stack runs: ``explicit`` (which must be present: chaoslab never
    pulls), else the official ``prom/prometheus`` when it is present locally (where a registry is
    reachable, ``docker pull prom/prometheus`` makes it the default), else one built from Debian's package."""
    with _engine_scope(engine) as active:
        if explicit is not None:
            if _image_id(active, explicit) is None:
                raise DockerError(f"Prometheus image {explicit} is not present in the engine, and chaoslab never "
                                  "pulls", hint=f"docker pull {explicit}, or leave the option out to build one from "
                                                "Debian's prometheus package")
            return explicit
        if _image_id(active, OFFICIAL_PROMETHEUS_IMAGE) is not None:
            return OFFICIAL_PROMETHEUS_IMAGE
        # Built once and kept: asking apt whether its versions changed takes about 8 s, which every stack up
        # (every game day) would pay. `docker rmi chaoslab/prometheus:bookworm` makes the next one build anew.
        if _image_id(active, PROMETHEUS_IMAGE) is not None:
            return PROMETHEUS_IMAGE
        return build_prometheus_image(engine=active, cache_dir=cache_dir)


# --- helpers ----------------------------------------------------------------------------------


def _deb_package(line: str) -> DebPackage:
    match = _URI_LINE.match(line)
    if match is None:
        raise DockerError(f"unexpected line from apt-get --print-uris: {line!r}", hint=APT_HINT)
    # Debian file names are name_version_arch.deb; neither name nor version
    # may contain '_', and apt writes an epoch's ':' as %3a.
    name, version, _arch = match["file"].removesuffix(".deb").split("_")
    return DebPackage(name, unquote(version), match["file"], int(match["size"]), match["sha256"])


def _is_cached(path: Path, package: DebPackage) -> bool:
    if not path.is_file() or path.stat().st_size != package.size:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == package.sha256


def _download(packages: Sequence[DebPackage], cache_dir: Path, timeout: float) -> None:
    # Into a private directory first, then renamed: a concurrent build or an
    # interrupted download never leaves a half-written .deb under its real name.
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as partial:
        # As root, apt would hand the download to the _apt user, who cannot
        # write into a cache under root's home.
        sandbox = ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []
        pins = [f"{p.name}={p.version}" for p in packages]
        _run(["apt-get", "download", "-q", *sandbox, *pins], timeout=timeout, what="downloading packages", cwd=partial)
        for package in packages:
            os.replace(Path(partial) / package.filename, cache_dir / package.filename)


def _unpack(deb: Path, root: Path, timeout: float) -> None:
    # --keep-directory-symlink: the packages still ship /bin, /lib, /lib64;
    # without it tar would replace the merged-/usr symlinks with directories.
    excludes = [f"--exclude={path}" for path in _EXCLUDED]
    untar = ["tar", "-x", "--keep-directory-symlink", *excludes, "-C", str(root)]
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as producer:
        try:
            consumer = subprocess.run(untar, check=False, stdin=producer.stdout, capture_output=True, timeout=timeout)
        finally:
            if producer.stdout is not None:
                producer.stdout.close()
        produced = producer.wait(timeout=timeout)
    if produced != 0 or consumer.returncode != 0:
        raise DockerError(
            f"unpacking {deb.name} failed (dpkg-deb exit {produced}, tar exit {consumer.returncode}): "
            f"{consumer.stderr.decode(errors='replace').strip()[-500:]}",
            hint=f"delete {deb} from the cache and build again",
        )


def _link_busybox_applets(root: Path, timeout: float) -> None:
    # Debian's busybox-static installs only the binary; the applets (sh, wget,
    # ps, ...) are links, added here where no package already put a real tool.
    busybox = root / "usr" / "bin" / "busybox"
    applets = _run(
        [str(busybox), "--list-full"], timeout=timeout, what="listing busybox applets", hint=None
    ).stdout.split()
    for applet in applets:
        link = root / applet
        if not os.path.lexists(link) and link.parent.is_dir():
            link.symlink_to("/usr/bin/busybox")


def _write_system_files(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(_PASSWD)
    (etc / "group").write_text(_GROUP)
    (etc / "ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    for name, mode in (("tmp", 0o1777), ("root", 0o700), ("var/tmp", 0o1777)):
        directory = root / name
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(mode)


def _python_version(packages: Sequence[DebPackage]) -> str:
    for package in packages:
        if re.fullmatch(r"python3\.\d+-minimal", package.name):
            return re.split(r"[-+~]", package.version.split(":")[-1])[0]
    raise DockerError("apt's closure has no python3.X-minimal package", hint=APT_HINT)


_IMAGE_ENV = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV LANG=C.UTF-8")


def _base_changes(python_version: str, packages: Sequence[DebPackage]) -> list[str]:
    listed = "\n".join(f"{p.name}={p.version}" for p in packages)
    return [
        *_IMAGE_ENV,
        'CMD ["python3"]',
        f"LABEL {LABEL}python-version={python_version}",
        f"LABEL {LABEL}packages-sha256={hashlib.sha256(listed.encode()).hexdigest()}",
    ]


def _import(engine: Engine, archive: Path, name: str, changes: list[str]) -> str:
    repository, _, tag = name.rpartition(":") if _has_tag(name) else (name, "", "latest")
    errors = import_sdk().errors
    try:
        # An open file, not a path: given a path it cannot read, the SDK would
        # hand the string to the engine as a URL to fetch.
        with archive.open("rb") as data:
            engine.client.api.import_image(src=data, repository=repository, tag=tag, changes=changes)
        return str(engine.client.images.get(name).id)
    except errors.DockerException as exc:
        raise DockerError(f"docker import of {name} failed: {exc}") from exc


def _has_tag(name: str) -> bool:
    return ":" in name.rsplit("/", 1)[-1]


@contextmanager
def _engine_scope(engine: Engine | None) -> Iterator[Engine]:
    """The caller's engine, or a connection of our own that is closed afterwards."""
    if engine is not None:
        yield engine
        return
    with connect() as owned:
        yield owned


def _image_id(engine: Engine, reference: str) -> str | None:
    errors = import_sdk().errors
    try:
        return str(engine.client.images.get(reference).id)
    except errors.ImageNotFound:
        return None
    except errors.DockerException as exc:
        raise DockerError(f"cannot inspect image {reference}: {exc}") from exc


def _default_base(engine: Engine, local_base: str, cache_dir: Path | None) -> str:
    if _image_id(engine, OFFICIAL_BASE_IMAGE) is not None:
        return OFFICIAL_BASE_IMAGE
    if _image_id(engine, local_base) is None:
        build_base_image(local_base, engine=engine, cache_dir=cache_dir)
    return local_base


def _is_build_junk(rel: Path) -> bool:
    parts = rel.parts
    return any(
        part == "__pycache__" or part.startswith(".") or part.endswith(".egg-info") for part in parts
    ) or rel.suffix in (".pyc", ".pyo")


def _runtime_labels(digest: str, base: str, base_id: str) -> dict[str, str]:
    return {
        f"{LABEL}version": chaos.__version__,
        f"{LABEL}source-sha256": digest,
        f"{LABEL}base-image": base,
        f"{LABEL}base-id": base_id,
    }


def _build(
    engine: Engine, sources: Sequence[tuple[str, Path]], dockerfile: bytes, tag: str, base: str, labels: dict[str, str]
) -> str:
    errors = import_sdk().errors
    with tempfile.TemporaryDirectory(prefix="chaoslab-build-") as context:
        _write_context(Path(context), sources, dockerfile)
        try:
            image, _log = engine.client.images.build(
                path=context,
                tag=tag,
                buildargs={"BASE_IMAGE": base},
                labels=labels,
                pull=False,
                rm=True,
                forcerm=True,
            )
        except errors.BuildError as exc:
            lines = [str(entry.get("stream") or entry.get("error") or "").rstrip() for entry in exc.build_log]
            tail = "\n".join(f"    {line}" for line in [line for line in lines if line][-15:])
            raise DockerError(f"building {tag} on {base} failed: {exc.msg}\n{tail}") from exc
        except errors.DockerException as exc:
            raise DockerError(f"building {tag} on {base} failed: {exc}") from exc
    return str(image.id)


def _write_context(context: Path, sources: Sequence[tuple[str, Path]], dockerfile: bytes) -> None:
    (context / "Dockerfile").write_bytes(dockerfile)
    for rel, path in sources:
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _run(
    argv: Sequence[str], *, timeout: float, what: str, cwd: str | Path | None = None, hint: str | None = APT_HINT
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv), check=False, capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise EngineUnavailable(f"{what}: command not found: {argv[0]}", hint=APT_HINT) from exc
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"{what}: `{' '.join(argv)}` did not finish within {timeout:g}s") from exc
    if result.returncode != 0:
        tail = "\n".join(f"    {line}" for line in result.stderr.strip().splitlines()[-15:])
        raise DockerError(f"{what}: `{' '.join(argv)}` failed with exit code {result.returncode}\n{tail}", hint=hint)
    return result
