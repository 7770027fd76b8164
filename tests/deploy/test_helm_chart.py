"""The Helm chart (deploy/helm/govault) checked offline: no cluster here.

`helm lint` and `helm template` run with the pinned helm (scripts/ensure-helm builds it with
`go install` the first time), and every rendered manifest is validated against the Kubernetes
OpenAPI schemas of the chart's oldest supported and the newest known Kubernetes version
(kubernetes-validate ships them, strict: an unknown or misspelt field fails). The rest reads the
rendered objects the way a reviewer would: probes, resources, PDB/HPA per process, headless gRPC
Services the clients point at, only the edge exposed, NetworkPolicy derived from who calls whom,
credentials referenced from Secrets and never inlined, and each process's environment accepted
by the code that reads it.
"""

from __future__ import annotations

import base64
import importlib
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.config import variable_names
from edge.ratelimit.spec import RateLimitSettings
from svc_auth.tokens import load_private_key

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "govault"
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
# The chart's minimum (Chart.yaml kubeVersion) and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.30.0", "1.37.0")
NAMESPACE = "storage"
RELEASE = "gv"
PROCESSES = {  # process -> (module, port name, port, metrics port), as in docs/configuration.md
    "edge": ("edge", "http", 9000, 9100),
    "auth": ("svc_auth", "grpc", 15051, 9101),
    "upload": ("svc_upload", "grpc", 15052, 9102),
    "files": ("svc_files", "grpc", 15053, 9103),
}
SECRET_LIKE = re.compile(r"TOKEN|SECRET|PASSWORD|ACCESS_KEY|DATABASE_URL|REDIS_URL|PRIVATE_KEY$")
# Kinds without a schema in kubernetes-validate (CRDs): checked structurally below.
CRD_KINDS = {"ServiceMonitor"}


def _jwt_pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


# Credentials given as values: each string is unique, so a leak anywhere is found by search.
PLAIN_SECRETS = {
    "service_token": "svc-token-Q7x2",
    "auth_db": "postgresql://auth:pw-auth-K1@pg.db:5432/govault_auth?sslmode=require",
    "upload_db": "postgresql://upload:pw-upload-K2@pg.db:5432/govault_upload",
    "files_db": "postgresql://files:pw-files-K3@pg.db:5432/govault_files",
    "s3_access": "AKIA-test-K4",
    "s3_secret": "s3-secret-K5",
    "redis": "redis://:pw-redis-K6@redis.cache:6379/0",
}
JWT_PEM = _jwt_pem()

MINIMAL_VALUES: dict[str, Any] = {
    "serviceToken": {"value": PLAIN_SECRETS["service_token"]},
    "jwt": {"privateKey": JWT_PEM},
    "database": {"auth": {"url": PLAIN_SECRETS["auth_db"]},
                 "upload": {"url": PLAIN_SECRETS["upload_db"]},
                 "files": {"url": PLAIN_SECRETS["files_db"]}},
    "s3": {"endpoint": "http://seaweedfs.storage:8333",
           "accessKey": PLAIN_SECRETS["s3_access"], "secretKey": PLAIN_SECRETS["s3_secret"]},
    "redis": {"url": PLAIN_SECRETS["redis"]},
}

# An operator's install: credentials in their own Secrets, an ingress with TLS, AWS S3 with a
# public endpoint, Prometheus Operator, fixed replicas for upload, a PDB by minAvailable.
CUSTOM_VALUES: dict[str, Any] = {
    "fullnameOverride": "vault",
    "image": {"repository": "registry.example/govault", "digest": "sha256:" + "ab" * 32},
    "serviceToken": {"existingSecret": "gv-internal", "existingSecretKey": "token"},
    "jwt": {"existingSecret": "gv-jwt", "existingSecretKey": "ed25519.pem"},
    "database": {name: {"existingSecret": f"pg-{name}", "existingSecretKey": "uri"}
                 for name in ("auth", "upload", "files")},
    "s3": {"endpoint": "https://s3.eu-west-1.amazonaws.com",
           "publicEndpoint": "https://s3.eu-west-1.amazonaws.com", "region": "eu-west-1",
           "bucket": "acme-govault", "createBucket": False,
           "existingSecret": "aws-s3", "accessKeyKey": "AWS_ACCESS_KEY_ID",
           "secretKeyKey": "AWS_SECRET_ACCESS_KEY"},
    "redis": {"existingSecret": "redis-auth", "existingSecretKey": "url"},
    "edge": {"service": {"type": "LoadBalancer", "nodePort": 30443}, "trustForwardedFor": True,
             "corsOrigins": ["https://app.example.com", "https://admin.example.com"],
             "env": {"GOVAULT_RATE_AUTH_IP": "50/s"}},
    "auth": {"podDisruptionBudget": {"minAvailable": 1}, "hashWorkers": 2,
             "resources": {"requests": {"cpu": "1", "memory": "512Mi"},
                           "limits": {"cpu": "2", "memory": "1Gi"}}},
    "upload": {"autoscaling": {"enabled": False}, "replicaCount": 3,
               "env": {"GOVAULT_DB_POOL_MAX": "30"}},
    "env": {"GOVAULT_LOG_LEVEL": "debug"},
    "ingress": {"enabled": True, "className": "nginx",
                "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "64m"},
                "hosts": [{"host": "files.example.com",
                           "paths": [{"path": "/", "pathType": "Prefix"}]}],
                "tls": [{"secretName": "files-tls", "hosts": ["files.example.com"]}]},
    "networkPolicy": {"edgeFrom": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}]},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}},
}
VALUE_SETS = {"minimal": MINIMAL_VALUES, "custom": CUSTOM_VALUES}


# ----------------------------------------------------------------------------- helm
def _values_file(tmp_path: Path, values: dict[str, Any], name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return path


def _helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def _template(helm: str, values_file: Path,
              kube_version: str = KUBE_VERSIONS[-1]) -> subprocess.CompletedProcess[str]:
    return _helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                 "--kube-version", kube_version, "-f", str(values_file))


def _render(helm: str, tmp_path: Path, values: dict[str, Any],
            kube_version: str = KUBE_VERSIONS[-1]) -> list[dict[str, Any]]:
    result = _template(helm, _values_file(tmp_path, values), kube_version)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class Rendered:
    """The rendered objects of one install, looked up the way the checks need them."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        [found] = [d for d in self.of(kind) if d["metadata"]["name"] == name]
        return found

    def deployment(self, process: str) -> dict[str, Any]:
        [found] = [d for d in self.of("Deployment")
                   if d["spec"]["template"]["metadata"]["labels"].get(
                       "app.kubernetes.io/component") == process]
        return found

    def container(self, process: str) -> dict[str, Any]:
        containers: list[dict[str, Any]] = \
            self.deployment(process)["spec"]["template"]["spec"]["containers"]
        [container] = containers
        return container

    def env(self, process: str) -> dict[str, dict[str, Any]]:
        entries = self.container(process)["env"]
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"{process}: a variable is set twice: {names}"
        return {e["name"]: e for e in entries}

    def pods_selected(self, selector: dict[str, str]) -> list[str]:
        """Processes whose pods carry every label of `selector`."""
        return [d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                for d in self.of("Deployment")
                if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]


@pytest.fixture(scope="module")
def rendered(helm: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    tmp = tmp_path_factory.mktemp("helm")
    return {name: Rendered(_render(helm, tmp, values)) for name, values in VALUE_SETS.items()}


@pytest.fixture(params=sorted(VALUE_SETS))
def install(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    return rendered[request.param]


# ----------------------------------------------------------------------------- lint, render
@pytest.mark.parametrize("values", sorted(VALUE_SETS))
def test_helm_lint_is_clean(helm: str, tmp_path: Path, values: str) -> None:
    result = _helm(helm, "lint", str(CHART), "--strict", "--namespace", NAMESPACE,
                   "--kube-version", KUBE_VERSIONS[-1],
                   "-f", str(_values_file(tmp_path, VALUE_SETS[values])))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_the_chart_refuses_a_cluster_older_than_it_supports(helm: str, tmp_path: Path) -> None:
    result = _template(helm, _values_file(tmp_path, MINIMAL_VALUES), "1.29.0")
    assert result.returncode != 0
    assert "kubeVersion" in result.stderr


@pytest.mark.parametrize(("drop", "message"), [
    (("serviceToken",), "serviceToken.value"),
    (("jwt",), "jwt.privateKey"),
    (("database", "upload"), "database.upload.url"),
    (("s3", "endpoint"), "s3.endpoint"),
    (("s3", "secretKey"), "s3.secretKey"),
])
def test_a_missing_credential_fails_the_render_naming_it(
        helm: str, tmp_path: Path, drop: tuple[str, ...], message: str) -> None:
    values = yaml.safe_load(yaml.safe_dump(MINIMAL_VALUES))
    parent = values
    for key in drop[:-1]:
        parent = parent[key]
    del parent[drop[-1]]
    result = _template(helm, _values_file(tmp_path, values))
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("bad", [
    {"edge": {"replicaCount": "two"}},
    {"auth": {"grpcPort": 70000}},
    {"edge": {"service": {"type": "Public"}}},
    {"replicas": 3},  # a typo at the top level
])
def test_the_values_schema_rejects_nonsense(helm: str, tmp_path: Path,
                                            bad: dict[str, Any]) -> None:
    base = _values_file(tmp_path, MINIMAL_VALUES)
    result = _helm(helm, "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSIONS[-1],
                   "-f", str(base), "-f", str(_values_file(tmp_path, bad, "bad.yaml")))
    assert result.returncode != 0
    assert "schema" in result.stderr.lower()


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", sorted(VALUE_SETS))
def test_every_manifest_matches_the_kubernetes_schemas(
        helm: str, tmp_path: Path, values: str, kube_version: str) -> None:
    docs = _render(helm, tmp_path, VALUE_SETS[values], kube_version)
    unchecked = set()
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unchecked.add(doc["kind"])
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} invalid for Kubernetes "
                        f"{kube_version}: {path}: {exc.message}")
    assert unchecked <= CRD_KINDS
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy",
            "ServiceAccount"} <= kinds


def test_names_fit_dns_labels_even_for_the_longest_release_name(helm: str,
                                                                 tmp_path: Path) -> None:
    longest = "r" * 53  # helm's limit for release names
    result = _helm(helm, "template", longest, str(CHART), "--namespace", NAMESPACE,
                   "--kube-version", KUBE_VERSIONS[-1],
                   "-f", str(_values_file(tmp_path, CUSTOM_VALUES | {"fullnameOverride": ""})))
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    names = [doc["metadata"]["name"] for doc in docs]
    assert len(names) == len({(d["kind"], d["metadata"]["name"]) for d in docs})
    for name in names:
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name), name


# ----------------------------------------------------------------------------- processes
def test_one_deployment_per_process_from_one_image(install: Rendered) -> None:
    images = set()
    for process, (module, port_name, port, metrics_port) in PROCESSES.items():
        container = install.container(process)
        images.add(container["image"])
        assert container["command"] == ["python", "-m", module]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {port_name: port, "metrics": metrics_port}
    assert len(install.of("Deployment")) == len(PROCESSES)
    assert len(images) == 1


def test_the_image_is_pinned_by_digest_when_given(rendered: dict[str, Rendered]) -> None:
    digest = CUSTOM_VALUES["image"]["digest"]
    assert rendered["custom"].container("edge")["image"] == f"registry.example/govault@{digest}"
    assert rendered["minimal"].container("edge")["image"] == "govault:0.1.0"


def test_services_are_probed_over_grpc_health_and_the_edge_over_http(install: Rendered) -> None:
    for process, (_, _, port, _) in PROCESSES.items():
        container = install.container(process)
        probes = {kind: container[f"{kind}Probe"] for kind in ("startup", "readiness", "liveness")}
        if process == "edge":
            assert probes["readiness"]["httpGet"] == {"path": "/ready", "port": "http"}
            assert probes["liveness"]["httpGet"] == {"path": "/health", "port": "http"}
            assert probes["startup"]["httpGet"]["path"] == "/health"
        else:
            # readiness follows the dependencies; startup and liveness only the process
            assert probes["readiness"]["grpc"] == {"port": port}
            for kind in ("startup", "liveness"):
                assert probes[kind]["grpc"] == {"port": port, "service": "liveness"}
        # Migrations run before a service serves: the startup probe waits a minute at least.
        startup = probes["startup"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_every_container_has_requests_and_limits(install: Rendered) -> None:
    for process in PROCESSES:
        resources = install.container(process)["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[bound]), (process, bound)


def test_password_hashing_threads_follow_the_cpu_limit_not_the_node(install: Rendered) -> None:
    env = install.env("auth")
    limit = install.container("auth")["resources"]["limits"]["cpu"]
    assert 1 <= int(env["GOVAULT_HASH_WORKERS"]["value"]) <= float(limit)


def _selects(selector: dict[str, Any], deployment: dict[str, Any]) -> bool:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return bool(selector["matchLabels"].items() <= labels.items())


def test_every_process_has_a_disruption_budget(install: Rendered) -> None:
    budgets = install.of("PodDisruptionBudget")
    for deployment in install.of("Deployment"):
        [budget] = [b for b in budgets if _selects(b["spec"]["selector"], deployment)]
        spec = budget["spec"]
        assert ("minAvailable" in spec) != ("maxUnavailable" in spec)
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert install.deployment("edge")["spec"]["selector"]["matchLabels"] != \
        install.deployment("auth")["spec"]["selector"]["matchLabels"]


def test_autoscaled_processes_leave_replicas_to_their_autoscaler(
        rendered: dict[str, Rendered]) -> None:
    for name, install in rendered.items():
        scalers = {h["spec"]["scaleTargetRef"]["name"]: h
                   for h in install.of("HorizontalPodAutoscaler")}
        for deployment in install.of("Deployment"):
            scaler = scalers.get(deployment["metadata"]["name"])
            if scaler is None:  # only the custom install's upload runs a fixed count
                assert name == "custom"
                assert deployment["metadata"]["name"] == "vault-upload"
                assert deployment["spec"]["replicas"] == 3
                continue
            assert scaler["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            assert "replicas" not in deployment["spec"]  # an upgrade must not reset the scale
            assert 2 <= scaler["spec"]["minReplicas"] <= scaler["spec"]["maxReplicas"]
            [metric] = scaler["spec"]["metrics"]
            assert metric["resource"]["name"] == "cpu"
        assert len(scalers) == (3 if name == "custom" else 4)


def test_rollouts_never_drop_below_the_wanted_replicas_and_drain_in_time(
        install: Rendered) -> None:
    for process in PROCESSES:
        spec = install.deployment(process)["spec"]
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        pod = spec["template"]["spec"]
        env = install.env(process)
        grace = float(env["GOVAULT_SHUTDOWN_GRACE_S"]["value"])
        sleep = install.container(process)["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > grace + sleep


# ----------------------------------------------------------------------------- network
def _service_for(install: Rendered, host: str, port: int) -> dict[str, Any]:
    """The Service a `<name>.<namespace>.svc.cluster.local` address points at."""
    name, namespace, rest = host.split(".", 2)
    assert (namespace, rest) == (NAMESPACE, "svc.cluster.local")
    service = install.one("Service", name)
    assert port in [p["port"] for p in service["spec"]["ports"]]
    return service


def _grpc_targets(install: Rendered) -> dict[str, set[str]]:
    """gRPC service -> the processes configured to call it (read from their environment)."""
    callers: dict[str, set[str]] = {}
    for process in PROCESSES:
        for name, entry in install.env(process).items():
            if not name.endswith("_ADDR"):
                continue
            match = re.fullmatch(r"dns:///([^:/]+):(\d+)", entry["value"])
            assert match, f"{process} {name}={entry['value']}: not a dns:/// target"
            service = _service_for(install, match.group(1), int(match.group(2)))
            [target] = install.pods_selected(service["spec"]["selector"])
            assert target == name.removeprefix("GOVAULT_").removesuffix("_ADDR").lower()
            callers.setdefault(target, set()).add(process)
    return callers


def test_clients_reach_grpc_services_through_headless_services(install: Rendered) -> None:
    callers = _grpc_targets(install)
    assert callers == {"auth": {"edge", "upload", "files"}, "upload": {"edge"},
                       "files": {"edge", "upload"}}
    for process in callers:
        service = install.one("Service", install.deployment(process)["metadata"]["name"])
        # No virtual IP: DNS answers every pod, and the client balances over those its health
        # checks find serving. Not-ready pods are listed too: a client that looked the name up
        # while none was ready would otherwise back off its lookups (tests/k8s measured ~55 s).
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is True
        grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        assert grpc_port["targetPort"] == "grpc"
        assert grpc_port["appProtocol"] == "grpc"


def test_the_edge_service_takes_a_fixed_node_port_when_given(
        rendered: dict[str, Rendered]) -> None:
    def http_port(install: Rendered) -> dict[str, Any]:
        edge = install.one("Service", install.deployment("edge")["metadata"]["name"])
        port: dict[str, Any] = edge["spec"]["ports"][0]
        return port

    assert http_port(rendered["custom"])["nodePort"] == 30443
    assert "nodePort" not in http_port(rendered["minimal"])  # ClusterIP


def test_helm_test_asks_the_edge_service_for_ready(install: Rendered) -> None:
    [pod] = install.of("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    [container] = spec["containers"]
    assert container["image"] == install.container("edge")["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    edge = install.deployment("edge")["metadata"]["name"]
    script = container["command"][-1]
    assert f"http://{edge}.{NAMESPACE}.svc.cluster.local:80" in script and "/ready" in script
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "helm-test"


def test_only_the_edge_is_exposed(install: Rendered) -> None:
    for service in install.of("Service"):
        [process] = install.pods_selected(service["spec"]["selector"])
        if service["spec"].get("clusterIP") == "None":
            continue
        assert process == "edge"
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    for ingress in install.of("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                [process] = install.pods_selected(
                    install.one("Service", backend["name"])["spec"]["selector"])
                assert (process, backend["port"]) == ("edge", {"name": "http"})
    exposed = [s for s in install.of("Service")
               if s["spec"].get("type") in ("LoadBalancer", "NodePort")]
    assert all(install.pods_selected(s["spec"]["selector"]) == ["edge"] for s in exposed)


def test_the_custom_install_has_a_tls_ingress_and_public_links_on_its_host(
        rendered: dict[str, Rendered]) -> None:
    install = rendered["custom"]
    [ingress] = install.of("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["files.example.com"], "secretName": "files-tls"}]
    env = install.env("files")
    assert env["GOVAULT_PUBLIC_BASE_URL"]["value"] == "https://files.example.com"
    assert not rendered["minimal"].of("Ingress")


def _policy_for(install: Rendered, process: str) -> dict[str, Any]:
    [policy] = [p for p in install.of("NetworkPolicy")
                if _selects(p["spec"]["podSelector"], install.deployment(process))]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    return policy


def _peer_admits(peer: dict[str, Any], labels: dict[str, str], same_namespace: bool) -> bool:
    if "namespaceSelector" not in peer and not same_namespace:
        return False
    selector = peer.get("podSelector", {})
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _admitted(install: Rendered, process: str, port: str) -> set[str]:
    """Which of the release's processes the policy lets reach `port` of `process`."""
    allowed = set()
    for rule in _policy_for(install, process)["spec"]["ingress"]:
        if port not in [p["port"] for p in rule["ports"]]:
            continue
        for other in PROCESSES:
            labels = install.deployment(other)["spec"]["template"]["metadata"]["labels"]
            if "from" not in rule or any(_peer_admits(peer, labels, True)
                                         for peer in rule["from"]):
                allowed.add(other)
    return allowed


def test_grpc_ports_admit_exactly_their_callers(install: Rendered) -> None:
    callers = _grpc_targets(install)
    for process in ("auth", "upload", "files"):
        assert _admitted(install, process, "grpc") == callers[process]
        for rule in _policy_for(install, process)["spec"]["ingress"]:
            assert "from" in rule, f"{process}: a rule open to everyone"
            for peer in rule["from"]:
                selector = peer["podSelector"]
                release = {**selector.get("matchLabels", {}),
                           **{e["key"]: e["values"][0] for e in selector.get("matchExpressions",
                                                                             [])}}
                if "grpc" in [p["port"] for p in rule["ports"]]:
                    assert "namespaceSelector" not in peer
                    assert release["app.kubernetes.io/instance"] == RELEASE


def test_metrics_ports_admit_the_release_and_the_monitoring_namespace(install: Rendered) -> None:
    for process in PROCESSES:
        assert _admitted(install, process, "metrics") == set(PROCESSES)
        [rule] = [r for r in _policy_for(install, process)["spec"]["ingress"]
                  if "metrics" in [p["port"] for p in r["ports"]]]
        outside = [peer for peer in rule["from"] if "namespaceSelector" in peer]
        assert outside == [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {}}]
        stranger = {"app.kubernetes.io/name": "govault", "app.kubernetes.io/instance": "other"}
        assert not any(_peer_admits(peer, stranger, True) for peer in rule["from"]
                       if "namespaceSelector" not in peer)


def test_the_edge_http_port_is_open_or_limited_to_the_ingress_controller(
        rendered: dict[str, Rendered]) -> None:
    def http_rule(install: Rendered) -> dict[str, Any]:
        rules: list[dict[str, Any]] = _policy_for(install, "edge")["spec"]["ingress"]
        [rule] = [r for r in rules if "http" in [p["port"] for p in r["ports"]]]
        return rule

    assert "from" not in http_rule(rendered["minimal"])
    test_pod = {"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "govault", "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": "helm-test"}}}
    assert http_rule(rendered["custom"])["from"] == [
        *CUSTOM_VALUES["networkPolicy"]["edgeFrom"], test_pod]


# ----------------------------------------------------------------------------- credentials
def _secret_data(install: Rendered) -> dict[str, dict[str, str]]:
    return {s["metadata"]["name"]: {k: base64.b64decode(v).decode()
                                   for k, v in s.get("data", {}).items()}
            for s in install.of("Secret")}


def test_credentials_are_referenced_from_secrets_never_inlined(install: Rendered) -> None:
    stored = _secret_data(install)
    for process in PROCESSES:
        for name, entry in install.env(process).items():
            if name == "GOVAULT_JWT_PRIVATE_KEY_FILE":
                continue  # a path; the key itself is a mounted Secret
            if SECRET_LIKE.search(name):
                assert "value" not in entry, f"{process}: {name} inlined"
                ref = entry["valueFrom"]["secretKeyRef"]
                if ref["name"] in stored:  # the chart's own Secret: the key must be there
                    assert ref["key"] in stored[ref["name"]]
    outside = yaml.safe_dump_all([d for d in install.docs if d["kind"] != "Secret"])
    for value in [*PLAIN_SECRETS.values(), *JWT_PEM.splitlines()[1:-1]]:
        assert value not in outside


def test_the_edge_holds_the_service_credential_but_no_store_credentials(
        install: Rendered) -> None:
    """The edge presents the service credential on auth Login (the client address it reports
    decides throttling, issue 22); it reaches no database and no store."""
    env = install.env("edge")
    assert "secretKeyRef" in env["GOVAULT_SERVICE_TOKEN"]["valueFrom"]
    assert "GOVAULT_DATABASE_URL" not in env
    assert not any(name.startswith("GOVAULT_S3_") for name in env)


def test_existing_secrets_are_used_as_given_and_nothing_is_copied(
        rendered: dict[str, Rendered]) -> None:
    install = rendered["custom"]
    assert not install.of("Secret")
    refs = {(process, name): entry["valueFrom"]["secretKeyRef"]
            for process in PROCESSES for name, entry in install.env(process).items()
            if "valueFrom" in entry}
    assert refs[("auth", "GOVAULT_DATABASE_URL")] == {"name": "pg-auth", "key": "uri"}
    assert refs[("files", "GOVAULT_DATABASE_URL")] == {"name": "pg-files", "key": "uri"}
    assert refs[("upload", "GOVAULT_SERVICE_TOKEN")] == {"name": "gv-internal", "key": "token"}
    assert refs[("upload", "GOVAULT_S3_SECRET_KEY")] == {"name": "aws-s3",
                                                          "key": "AWS_SECRET_ACCESS_KEY"}
    assert refs[("edge", "GOVAULT_REDIS_URL")] == {"name": "redis-auth", "key": "url"}
    [jwt] = [v for v in install.deployment("auth")["spec"]["template"]["spec"]["volumes"]
             if v["name"] == "jwt"]
    assert jwt["secret"]["secretName"] == "gv-jwt"
    assert jwt["secret"]["items"][0]["key"] == "ed25519.pem"


def test_pods_restart_when_a_chart_held_credential_changes(
        helm: str, tmp_path: Path, rendered: dict[str, Rendered]) -> None:
    def checksums(install: Rendered) -> set[str]:
        return {d["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
                for d in install.of("Deployment")}

    rotated = {**MINIMAL_VALUES, "serviceToken": {"value": "rotated-token"}}
    before = checksums(rendered["minimal"])
    after = checksums(Rendered(_render(helm, tmp_path, rotated)))
    assert len(before) == len(after) == 1
    assert before != after


def test_auth_loads_the_signing_key_from_the_mounted_secret(
        rendered: dict[str, Rendered], tmp_path: Path) -> None:
    install = rendered["minimal"]
    pod = install.deployment("auth")["spec"]["template"]["spec"]
    path = Path(install.env("auth")["GOVAULT_JWT_PRIVATE_KEY_FILE"]["value"])
    [mount] = [m for m in pod["containers"][0]["volumeMounts"]
               if path.is_relative_to(m["mountPath"])]
    assert mount["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    [item] = [i for i in volume["secret"]["items"]
              if Path(mount["mountPath"]) / i["path"] == path]
    pem = _secret_data(install)[volume["secret"]["secretName"]][item["key"]]
    copy = tmp_path / "key.pem"
    copy.write_text(pem)
    public = load_private_key(str(copy)).public_key()
    expected = serialization.load_pem_private_key(JWT_PEM.encode(), None).public_key()
    assert public == expected
    # Only auth signs: no other process mounts the key.
    for process in ("edge", "upload", "files"):
        volumes = install.deployment(process)["spec"]["template"]["spec"]["volumes"]
        assert all("secret" not in v for v in volumes)


# ----------------------------------------------------------------------------- pods
def test_no_field_is_left_empty(install: Rendered) -> None:
    """A dangling `key:` renders as null: legal, but a template slip a reviewer would flag."""
    def walk(node: Any, path: str) -> None:
        assert node is not None, f"{path} is null"
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    for doc in install.docs:
        walk(doc, f"{doc['kind']}/{doc['metadata']['name']}")


def test_pods_run_unprivileged_on_a_read_only_root(install: Rendered) -> None:
    for process in PROCESSES:
        pod = install.deployment(process)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's govault user
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        context = install.container(process)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        [tmp] = [m for m in install.container(process)["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert any(v["name"] == tmp["name"] and "emptyDir" in v for v in pod["volumes"])


SETTINGS = {"edge": ("edge.config", "EdgeSettings"), "auth": ("svc_auth.config", "AuthSettings"),
            "upload": ("svc_upload.config", "UploadSettings"),
            "files": ("svc_files.config", "FilesSettings")}


def _reads(process: str) -> set[str]:
    """The GOVAULT_* variables the process's typed settings read (common.config.Settings)."""
    module, cls = SETTINGS[process]
    names = variable_names(getattr(importlib.import_module(module), cls))
    if process == "edge":  # GOVAULT_RATE_<GROUP>_<SCOPE>, built from the groups and scopes
        names |= variable_names(RateLimitSettings)
    return names


def test_every_variable_the_chart_sets_is_one_the_process_reads(install: Rendered) -> None:
    for process in PROCESSES:
        read = _reads(process)
        unread = [name for name in install.env(process) if name not in read]
        assert not unread, f"{process}: set but read nowhere in its code: {unread}"


def test_each_process_gets_what_compose_gives_it_and_it_reads(install: Rendered) -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for process in PROCESSES:
        read = _reads(process)
        wanted = {name for name, value in services[process]["environment"].items()
                  if name in read and not re.fullmatch(r"\$\{\w+:-\}", str(value))}
        missing = wanted - set(install.env(process))
        assert not missing, f"{process}: {sorted(missing)}"


def test_upload_settings_the_custom_install_overrides(rendered: dict[str, Rendered]) -> None:
    env = {k: e.get("value") for k, e in rendered["custom"].env("upload").items()}
    assert env["GOVAULT_DB_POOL_MAX"] == "30"  # the process's own env wins over the chart
    assert env["GOVAULT_LOG_LEVEL"] == "debug"  # the shared env too
    assert env["GOVAULT_S3_CREATE_BUCKET"] == "false"
    assert env["GOVAULT_S3_REGION"] == "eu-west-1"
    edge = {k: e.get("value") for k, e in rendered["custom"].env("edge").items()}
    assert edge["GOVAULT_CORS_ORIGINS"] == "https://app.example.com,https://admin.example.com"
    assert edge["GOVAULT_TRUST_FORWARDED_FOR"] == "true"
    assert edge["GOVAULT_RATE_AUTH_IP"] == "50/s"


# ----------------------------------------------------------------------------- monitoring
def test_the_service_monitor_scrapes_every_process(rendered: dict[str, Rendered]) -> None:
    install = rendered["custom"]
    [monitor] = install.of("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    spec = monitor["spec"]
    assert set(spec) == {"selector", "namespaceSelector", "endpoints"}
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = spec["endpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
    scraped: dict[str, int] = {}
    for service in install.of("Service"):
        labels = service["metadata"]["labels"]
        if spec["selector"]["matchLabels"].items() <= labels.items():
            [process] = install.pods_selected(service["spec"]["selector"])
            [port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
            scraped[process] = port["port"]
    assert scraped == {process: facts[3] for process, facts in PROCESSES.items()}
    assert not rendered["minimal"].of("ServiceMonitor")

