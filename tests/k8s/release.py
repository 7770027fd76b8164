"""GoVault on the test cluster: its images, the dependencies the chart expects, the chart's
values for a two-core node, and what the tests ask of the running release.

- Images: GoVault's from compose/Dockerfile and the PostgreSQL, SeaweedFS and Redis stand-ins
  of compose/images, built (or reused) by the container test's harness
  (tests/containers/engine.py), re-tagged `localhost/govault-k8s/<name>:<image id>` and imported
  into containerd. The upgrade's "new version" is the same image under a second tag.
- Dependencies (namespace DEPS_NS), as docker-compose.yml runs them: three PostgreSQL
  Deployments (one database and user each), SeaweedFS with its S3 API on a NodePort (the
  address presigned URLs carry, reachable from this host), Redis with a password.
- The release (namespace NS): 2 replicas of every process, no autoscaler, small requests, the
  edge on a NodePort; the fault tests' short timers (tests/faults/checks.py fault_env) so that
  abandoned sessions expire and the reaper and janitor pass within the test.
"""

from __future__ import annotations

import secrets
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.containers import engine
from tests.faults.checks import fault_env, json_summary
from tests.k8s.cluster import CLUSTER_DOMAIN, NODE_IP, WORK, Cluster, ClusterError, run, timed

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "govault"
NS = "govault"
DEPS_NS = "govault-deps"
RELEASE = "govault"
EDGE_NODE_PORT = 30080
S3_NODE_PORT = 30333
PROCESSES = ("edge", "auth", "upload", "files")
SERVICES = ("auth", "upload", "files")
SESSION_TTL_S = 25


@dataclass
class Images:
    app: str  # repository:tag
    app_next: str  # the same image under the upgrade's tag
    postgres: str
    seaweedfs: str
    redis: str

    def all(self) -> list[str]:
        return [self.app, self.app_next, self.postgres, self.seaweedfs, self.redis]


def build_images() -> Images:
    """GoVault's image and the stand-ins (cached by the container test's harness), re-tagged
    under localhost/govault-k8s/ with their image ids."""
    engine.ensure_system_packages()
    cache = engine.cache_dir()
    podman = engine.Podman(cache)
    with timed("images: GoVault and stand-ins (podman, cached by inputs)"):
        # each compose service -> the tag of this checkout's image for it (by content hash; a
        # shared name such as govault:local may hold another checkout's build)
        built = engine.ensure_images(podman, cache)
    tags = {}
    for name, service in (("govault", "edge"), ("postgres", "auth-db"), ("seaweedfs", "s3"),
                          ("redis", "redis")):
        image_id = podman.image_id(built[service]).removeprefix("sha256:")[:12]
        tags[name] = f"localhost/govault-k8s/{name}:{image_id}"
        podman("tag", built[service], tags[name])
    app_next = f"{tags['govault']}-next"
    podman("tag", tags["govault"], app_next)
    return Images(tags["govault"], app_next, tags["postgres"], tags["seaweedfs"],
                  tags["redis"])


@dataclass
class Credentials:
    db: dict[str, str] = field(default_factory=lambda: {
        s: secrets.token_hex(12) for s in SERVICES})
    s3_access: str = field(default_factory=lambda: secrets.token_hex(10))
    s3_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    redis: str = field(default_factory=lambda: secrets.token_hex(12))
    service_token: str = field(default_factory=lambda: secrets.token_hex(32))
    jwt_pem: str = field(default_factory=lambda: ed25519.Ed25519PrivateKey.generate()
                         .private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode())


def _svc(name: str) -> str:
    return f"{name}.{DEPS_NS}.svc.{CLUSTER_DOMAIN}"


def database_url(service: str, creds: Credentials, host: str | None = None) -> str:
    return (f"postgresql://{service}:{creds.db[service]}@{host or _svc(f'pg-{service}')}:5432/"
            f"govault_{service}")


def _deployment(name: str, image: str, container: dict[str, Any],
                volumes: list[dict[str, Any]]) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": DEPS_NS, "labels": labels},
            "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                     "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "enableServiceLinks": False, "automountServiceAccountToken": False,
                         "containers": [{"name": name, "image": image,
                                         "imagePullPolicy": "Never", **container}],
                         "volumes": volumes}}}}


def _service(name: str, port: int, node_port: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name},
                            "ports": [{"name": "main", "port": port, "targetPort": port}]}
    if node_port:
        spec["type"] = "NodePort"
        spec["ports"][0]["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": DEPS_NS}, "spec": spec}


# Small requests; memory limits with room: SeaweedFS (master, volume, filer and S3 in one
# process) was OOM-killed at 512Mi under the pod-kill load.
SMALL = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}}
S3_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "3Gi"}}


def dependency_objects(images: Images, creds: Credentials) -> list[dict[str, Any]]:
    """PostgreSQL ×3, SeaweedFS (S3 on a NodePort) and Redis, as docker-compose.yml runs them."""
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEPS_NS}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "deps",
                                                            "namespace": DEPS_NS},
         "stringData": {**{f"{s}-db-password": p for s, p in creds.db.items()},
                        "s3-access-key": creds.s3_access, "s3-secret-key": creds.s3_secret,
                        "redis-password": creds.redis}}]

    def secret(key: str) -> dict[str, Any]:
        return {"secretKeyRef": {"name": "deps", "key": key}}

    for service in SERVICES:
        name = f"pg-{service}"
        objects.append(_deployment(name, images.postgres, {
            "args": ["postgres", "-c", "max_connections=80", "-c", "shared_buffers=32MB",
                     "-c", "fsync=off", "-c", "synchronous_commit=off"],
            "env": [{"name": "POSTGRES_USER", "value": service},
                    {"name": "POSTGRES_DB", "value": f"govault_{service}"},
                    {"name": "POSTGRES_PASSWORD", "valueFrom": secret(f"{service}-db-password")}],
            "ports": [{"containerPort": 5432}],
            "readinessProbe": {"exec": {"command": [
                "pg_isready", "-h", "127.0.0.1", "-U", service, "-d", f"govault_{service}"]},
                "periodSeconds": 2},
            "resources": SMALL,
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]},
            [{"name": "data", "emptyDir": {}}]))
        objects.append(_service(name, 5432))
    weed = ("set -eu; umask 077; printf '{\"identities\":[{\"name\":\"govault\",\"credentials\":"
            "[{\"accessKey\":\"%s\",\"secretKey\":\"%s\"}],\"actions\":[\"Admin\",\"Read\","
            "\"Write\",\"List\",\"Tagging\"]}]}' \"$S3_ACCESS_KEY\" \"$S3_SECRET_KEY\" "
            "> /tmp/s3.json; exec weed server -dir=/data -ip=127.0.0.1 -ip.bind=127.0.0.1 "
            "-s3 -s3.port=8333 -s3.ip.bind=0.0.0.0 -s3.port.iceberg=0 -s3.port.lance=0 "
            "-s3.config=/tmp/s3.json -master.volumeSizeLimitMB=1024 -volume.max=0 "
            "-master.telemetry=false")
    objects.append(_deployment("s3", images.seaweedfs, {
        "command": ["/bin/sh", "-c", weed],
        "env": [{"name": "S3_ACCESS_KEY", "valueFrom": secret("s3-access-key")},
                {"name": "S3_SECRET_KEY", "valueFrom": secret("s3-secret-key")}],
        "ports": [{"containerPort": 8333}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8333}, "periodSeconds": 2},
        "resources": S3_RESOURCES,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp",
                                                                  "mountPath": "/tmp"}]},
        # the store keeps its data across a restart (the janitor test stops it for a while)
        [{"name": "data", "hostPath": {"path": str(WORK / "volumes" / "s3"),
                                       "type": "DirectoryOrCreate"}},
         {"name": "tmp", "emptyDir": {}}]))
    objects.append(_service("s3", 8333, S3_NODE_PORT))
    objects.append(_deployment("redis", images.redis, {
        "command": ["sh", "-c", "exec redis-server --requirepass \"$REDIS_PASSWORD\" --save '' "
                    "--appendonly no --maxmemory 64mb --maxmemory-policy volatile-ttl"],
        "env": [{"name": "REDIS_PASSWORD", "valueFrom": secret("redis-password")}],
        "ports": [{"containerPort": 6379}],
        "readinessProbe": {"exec": {"command": [
            "sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli ping | grep -q PONG"]},
            "periodSeconds": 2},
        "resources": SMALL}, []))
    objects.append(_service("redis", 6379))
    return objects


# Requests that fit 8 GoVault pods, a surge pod per Deployment during the upgrade, 5
# dependency pods and CoreDNS on 2 cores; limits high enough not to throttle a busy pod.
POD_RESOURCES = {"requests": {"cpu": "50m", "memory": "96Mi"},
                 "limits": {"cpu": "1", "memory": "512Mi"}}


def chart_values(images: Images, creds: Credentials) -> dict[str, Any]:
    repository, tag = images.app.rsplit(":", 1)
    env = {**fault_env(session_ttl_s=SESSION_TTL_S),
           # the janitor test stops the store for ~20 s: the services stay in rotation
           # meanwhile (default: out after 2 failed probes, 2 s apart), so that the deletes
           # made during the outage reach them and leave their objects to the janitor
           "GOVAULT_READINESS_FAILURES": "20"}
    process = {"replicaCount": 2, "autoscaling": {"enabled": False},
               "resources": POD_RESOURCES}
    values: dict[str, Any] = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "serviceToken": {"value": creds.service_token},
        "jwt": {"privateKey": creds.jwt_pem},
        "database": {s: {"url": database_url(s, creds)} for s in SERVICES},
        "s3": {"endpoint": f"http://{_svc('s3')}:8333",
               "publicEndpoint": f"http://{NODE_IP}:{S3_NODE_PORT}",
               "accessKey": creds.s3_access, "secretKey": creds.s3_secret},
        "redis": {"url": f"redis://:{creds.redis}@{_svc('redis')}:6379/0"},
        "env": env,
        "edge": {**process, "service": {"type": "NodePort", "nodePort": EDGE_NODE_PORT}},
        "auth": process, "upload": process,
        "files": {**process, "publicBaseUrl": f"http://{NODE_IP}:{EDGE_NODE_PORT}"},
    }
    return values


class Release:
    """The installed chart, its dependencies and the questions the tests ask of them."""

    def __init__(self, cluster: Cluster, helm: str, images: Images, workdir: Path) -> None:
        self.cluster = cluster
        self.helm_bin = helm
        self.images = images
        self.creds = Credentials()
        self.workdir = workdir
        self.values_file = workdir / "values.yaml"
        self.values = chart_values(images, self.creds)
        self.values_file.write_text(yaml.safe_dump(self.values))
        self.values_file.chmod(0o600)
        self.edge_url = f"http://{NODE_IP}:{EDGE_NODE_PORT}"
        self.s3_endpoint = f"http://{NODE_IP}:{S3_NODE_PORT}"
        self.s3_bucket = "govault"
        self.s3_access_key = self.creds.s3_access
        self.s3_secret_key = self.creds.s3_secret
        self.database_urls: dict[str, str] = {}  # from this host, once the databases run

    def helm(self, *args: str, timeout: float = 600, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        return run([self.helm_bin, *args, "--kubeconfig", str(self.cluster.admin_kubeconfig)],
                   timeout=timeout, check=check)

    def install(self) -> None:
        """`helm install --wait`; on failure, what the pods and events say."""
        result = self.helm("install", RELEASE, str(CHART), "--namespace", NS,
                           "--create-namespace", "-f", str(self.values_file), "--wait",
                           "--timeout", "8m", timeout=600, check=False)
        if result.returncode != 0:
            raise ClusterError(f"helm install failed: {result.stderr.strip()}\n"
                               f"{self.diagnose()}")

    def diagnose(self) -> str:
        """The release's pods, recent events and the end of the logs of pods not ready."""
        kubectl = self.cluster.kubectl
        parts = [kubectl("-n", NS, "get", "pods", "-o", "wide", check=False).stdout,
                 kubectl("-n", NS, "get", "events", "--sort-by=.lastTimestamp",
                         check=False).stdout[-4000:]]
        for pod in self.cluster.get_json("pods", "-n", NS)["items"]:
            if not self.ready(pod):
                name = pod["metadata"]["name"]
                parts.append(f"--- {name} (not ready):\n"
                             + kubectl("-n", NS, "logs", name, "--tail=30", check=False).stdout)
        return "\n".join(parts)

    def install_dependencies(self) -> None:
        self.cluster.apply(dependency_objects(self.images, self.creds))
        for name in ("pg-auth", "pg-upload", "pg-files", "s3", "redis"):
            self.cluster.wait_rollout(DEPS_NS, f"deployment/{name}", 300)
        self.database_urls = {s: database_host_url(self.cluster, s, self.creds)
                              for s in SERVICES}

    def command(self, service: str, *args: str) -> dict[str, Any]:
        """`python -m svc_<service> <args>` in one of the release's pods (kubectl exec, the
        pod's own environment); its JSON summary."""
        return self.exec_json(service, "python", "-m", f"svc_{service}", *args)

    # -------------------------------------------------------------------------- pods
    def pods(self, component: str, namespace: str = NS) -> list[dict[str, Any]]:
        listed = self.cluster.get_json("pods", "-n", namespace, "-l",
                                       f"app.kubernetes.io/instance={RELEASE},"
                                       f"app.kubernetes.io/component={component}")
        return list(listed["items"])

    @staticmethod
    def ready(pod: dict[str, Any]) -> bool:
        if pod["metadata"].get("deletionTimestamp"):
            return False
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in pod.get("status", {}).get("conditions", []))

    def ready_pods(self, component: str) -> list[dict[str, Any]]:
        return [p for p in self.pods(component) if self.ready(p)]

    def wait_ready_replicas(self, component: str, count: int, timeout_s: float,
                            exclude: frozenset[str] = frozenset()) -> float:
        """Seconds until `count` pods of `component`, none of them in `exclude`, are Ready."""
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            ready = [p for p in self.ready_pods(component)
                     if p["metadata"]["name"] not in exclude]
            if len(ready) >= count:
                return time.monotonic() - start
            if time.monotonic() > deadline:
                raise ClusterError(f"{component}: {len(ready)}/{count} ready pods after "
                                   f"{timeout_s:.0f} s:\n" + self.cluster.kubectl(
                                       "-n", NS, "get", "pods", "-o", "wide",
                                       check=False).stdout)
            time.sleep(0.5)

    def exec_json(self, component: str, *argv: str, timeout: float = 180) -> dict[str, Any]:
        """`kubectl exec` into a ready pod of `component`; the command's JSON summary."""
        pod = self.ready_pods(component)[0]["metadata"]["name"]
        result = self.cluster.kubectl("-n", NS, "exec", pod, "--", *argv, timeout=timeout)
        return json_summary(result.stdout)

    def logs(self, pod: str, previous: bool = False) -> str:
        args = ["-n", NS, "logs", pod] + (["--previous"] if previous else [])
        return self.cluster.kubectl(*args, check=False).stdout

    def metrics(self, component: str) -> dict[str, str]:
        """The Prometheus text of every ready pod of `component`, by pod name (pod IPs are
        routed to the bridge from this host)."""
        port = {"edge": 9100, "auth": 9101, "upload": 9102, "files": 9103}[component]
        texts = {}
        for pod in self.ready_pods(component):
            url = f"http://{pod['status']['podIP']}:{port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as answer:
                texts[pod["metadata"]["name"]] = answer.read().decode()
        return texts

    def objects_of_release(self) -> list[str]:
        """Every namespaced object (any kind the API lists) labelled with the release."""
        kinds = self.cluster.kubectl("api-resources", "--verbs=list", "--namespaced", "-o",
                                     "name").stdout.split()
        kinds = [k for k in kinds if k not in ("events", "events.events.k8s.io")]
        listed = self.cluster.kubectl("-n", NS, "get", ",".join(kinds), "-o", "name", "-l",
                                      f"app.kubernetes.io/instance={RELEASE}", check=False)
        return listed.stdout.split()


def metric_sum(texts: dict[str, str], name: str, labels: dict[str, str] | None = None) -> float:
    """The sum over pods of every sample of `name` whose labels include `labels`."""
    total = 0.0
    for text in texts.values():
        for line in text.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric, _, label_text = head.partition("{")
            if metric != name:
                continue
            found = dict(part.split("=", 1) for part in label_text.rstrip("}").split(",")
                         if "=" in part)
            found = {k: v.strip('"') for k, v in found.items()}
            if all(found.get(k) == v for k, v in (labels or {}).items()):
                total += float(value)
    return total


def pod_names(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in pods}


def database_host_url(cluster: Cluster, service: str, creds: Credentials) -> str:
    """A URL reaching the service's PostgreSQL pod from this host (its pod IP)."""
    pod = cluster.get_json("pods", "-n", DEPS_NS, "-l", f"app=pg-{service}")["items"][0]
    return database_url(service, creds, pod["status"]["podIP"])

