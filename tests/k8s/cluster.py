"""A one-node Kubernetes cluster run as host processes, for the chart's test (tests/k8s).

The binaries come from scripts/ensure-k8s (built from the Go module proxy, cached outside the
repository); containerd, runc and etcd are Debian's. Nothing is pulled from a registry: the
pause and CoreDNS images are built here with podman from the cached binaries (`FROM scratch`)
and, like GoVault's images, imported into containerd; pods use `imagePullPolicy: Never`.

Everything is private to the cluster:
- directories WORK (/var/lib/govault-k8s: certificates, configuration, etcd, containerd's
  images, the kubelet's root, logs) and STATE (/run/govault-k8s: containerd's sockets, runc's
  state and the pods' network namespaces);
- addresses: the bridge BRIDGE (made here, 10.244.0.1/24) is the node's address; every server
  (etcd, the API server, the kubelet, the controllers' health ports, kube-proxy) listens on it,
  NodePorts open only on it (kube-proxy `nodePortAddresses`), so no loopback port of anyone
  else on the machine can be taken or intercepted. Pods get 10.244.0.2-254, Services 10.96/16;
- the host's side effects are recorded first and undone at the end, also after a killed run
  (tests/k8s/host.py).

What had to be set for this machine (docs/kubernetes.md, ../shared/reference/kubernetes-local.md):
cgroup v1 (`failCgroupV1: false`, the cgroupfs driver), no CAP_SYS_RESOURCE (containerd's
`restrict_oom_score_adj`, oomScoreAdj 0 for the kubelet and kube-proxy), image garbage
collection off and small eviction thresholds (a busy shared disk must not evict the pause image).

    python -m tests.k8s.cluster up | down | sweep | status    (by hand; tests use the fixture)
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.k8s import host
from tests.k8s.pki import Authority

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(os.environ.get("GOVAULT_K8S_WORK", "/var/lib/govault-k8s"))
STATE = Path(os.environ.get("GOVAULT_K8S_STATE", "/run/govault-k8s"))
LOCK_FILE = Path("/run/lock/govault-k8s.lock")
BRIDGE = "gvk8s0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
DNS_IP = "10.96.0.10"
NODE_NAME = "govault-node"
CLUSTER_DOMAIN = "cluster.local"
PORTS = {"etcd": 26379, "etcd-peer": 26380, "apiserver": 26443, "kubelet": 26450,
         "kubelet-healthz": 26448, "controller-manager": 26457, "scheduler": 26459,
         "proxy-healthz": 26456, "proxy-metrics": 26449}
# Free space needed under WORK: containerd's unpacked images (GoVault's, the stand-ins, pause,
# CoreDNS: about 2 GB), etcd, the kubelet's eviction headroom, logs.
MIN_FREE_GB = 6
COREDNS_VERSION = "v1.15.0"
TIMINGS: dict[str, float] = {}


class ClusterError(AssertionError):
    """The cluster could not be brought up (the message says what is missing or which log)."""


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[step] = round(time.monotonic() - start, 1)


def run(argv: Sequence[str | Path], *, timeout: float = 300, check: bool = True,
        env: dict[str, str] | None = None, input_bytes: bytes | None = None
        ) -> subprocess.CompletedProcess[str]:
    try:
        raw = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout,
                             env=env, input=input_bytes, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"{' '.join(map(str, argv))} did not finish in {timeout:.0f} s") from exc
    result = subprocess.CompletedProcess(raw.args, raw.returncode,
                                         raw.stdout.decode(errors="replace"),
                                         raw.stderr.decode(errors="replace"))
    if check and result.returncode != 0:
        raise ClusterError(f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def ensure_binaries() -> Path:
    """scripts/ensure-k8s: apt packages, then the built binaries (cached); their directory."""
    with timed("ensure-k8s (apt packages; Kubernetes binaries, built when not cached)"):
        proc = subprocess.run([str(ROOT / "scripts" / "ensure-k8s")], capture_output=True,
                              text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"scripts/ensure-k8s failed:\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def exclusive(timeout_s: float = 1800) -> Iterator[None]:
    """One cluster per machine (the bridge, the iptables chains and the ports are the machine's):
    waits for another run's cluster to finish, loudly, within `timeout_s`."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("a+") as handle:
        deadline = time.monotonic() + timeout_s
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    handle.seek(0)
                    print(f"k8s: waiting for another test cluster ({handle.read().strip()})",
                          file=sys.stderr, flush=True)
                    said = True
                if time.monotonic() > deadline:
                    raise ClusterError(f"another test cluster held {LOCK_FILE} for "
                                       f"{timeout_s:.0f} s") from None
                time.sleep(2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def preflight(bin_dir: Path) -> None:
    """Everything the cluster needs that is not built here, with what to do about it."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (a kubelet manages cgroups, mounts and iptables)")
    for tool in ("containerd", "containerd-shim-runc-v2", "runc", "etcd", "ctr", "iptables",
                 "ip6tables", "iptables-save", "ip", "conntrack", "mount", "umount", "podman"):
        if not shutil.which(tool):
            problems.append(f"`{tool}` not found (scripts/ensure-k8s installs containerd, runc, "
                            "etcd-server and conntrack; podman: make system-deps)")
    for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
                   "kube-proxy", "kubectl", "coredns", "pause"):
        if not (bin_dir / binary).is_file():
            problems.append(f"{bin_dir / binary} missing (scripts/ensure-k8s builds it)")
    for plugin in ("bridge", "host-local", "loopback"):
        if not Path(f"/usr/lib/cni/{plugin}").is_file():
            problems.append(f"CNI plugin /usr/lib/cni/{plugin} missing "
                            "(apt-get install containernetworking-plugins)")
    for controller in ("cpu", "memory", "pids", "cpuset"):
        if not (host.CGROUP_ROOT / controller).is_dir() and not (
                host.CGROUP_ROOT / "cgroup.controllers").exists():
            problems.append(f"cgroup controller {controller} is not mounted")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append("br_netfilter is not loaded (modprobe br_netfilter): Service traffic "
                        "between pods of one bridge would bypass kube-proxy's rules")
    WORK.parent.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(WORK.parent).free / 1e9
    if free_gb < MIN_FREE_GB:
        problems.append(f"{free_gb:.1f} GB free under {WORK.parent}; the cluster needs "
                        f"{MIN_FREE_GB} GB (images, etcd, kubelet eviction headroom)")
    taken = _overlapping_routes()
    if taken:
        problems.append(f"the cluster's networks {POD_CIDR} / {SERVICE_CIDR} overlap routes of "
                        f"this machine: {taken}")
    if problems:
        raise ClusterError("the test cluster cannot start:\n- " + "\n- ".join(problems))


def _overlapping_routes() -> list[str]:
    ours = [ipaddress.ip_network(POD_CIDR), ipaddress.ip_network(SERVICE_CIDR)]
    found = []
    for line in run(["ip", "-4", "route", "show"], check=False).stdout.splitlines():
        words = line.split()
        if not words or words[0] == "default" or f"dev {BRIDGE}" in line:
            continue
        try:
            net = ipaddress.ip_network(words[0], strict=False)
        except ValueError:
            continue
        if any(net.overlaps(o) for o in ours):
            found.append(line)
    return found


class Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.pki = WORK / "pki"
        self.logs = WORK / "logs"
        self.admin_kubeconfig = WORK / "admin.kubeconfig"
        self.containerd_socket = STATE / "containerd.sock"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pause_image = self.coredns_image = ""
        self.server = f"https://{NODE_IP}:{PORTS['apiserver']}"
        self.env = {**os.environ, "KUBECONFIG": str(self.admin_kubeconfig),
                    "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}

    # ---------------------------------------------------------------------------- clients
    def kubectl(self, *args: str, timeout: float = 120, check: bool = True,
                input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return run([self.bin / "kubectl", "--kubeconfig", self.admin_kubeconfig,
                    "--request-timeout", f"{int(timeout)}s", *args], timeout=timeout + 15,
                   check=check, input_bytes=input_text.encode() if input_text else None)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def apply(self, objects: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(objects))

    def ctr(self, *args: str | Path, timeout: float = 600, input_bytes: bytes | None = None
            ) -> subprocess.CompletedProcess[str]:
        return run(["ctr", "--address", self.containerd_socket, "--namespace", "k8s.io", *args],
                   timeout=timeout, input_bytes=input_bytes)

    # ---------------------------------------------------------------------------- lifecycle
    def up(self) -> None:
        """From a swept host to a Ready node with CoreDNS serving. Fails with the log of the
        process that did not come up."""
        problems = host.sweep(WORK, STATE, BRIDGE)
        if problems:
            raise ClusterError("leftovers of an earlier run could not be removed:\n"
                               + "\n".join(problems))
        preflight(self.bin)
        for directory in (WORK, STATE, self.logs):
            directory.mkdir(parents=True, exist_ok=True)
        WORK.chmod(0o700)
        host.snapshot(WORK / "host-before.json")
        with timed("cluster: pause and CoreDNS images (podman, cached)"):
            system_images = self._system_images()
        with timed("cluster: bridge, certificates, configuration"):
            self._bridge()
            self._certificates()
            self._write_configs()
        with timed("cluster: etcd, containerd, control plane"):
            self._start("etcd", self._etcd_argv())
            self._start("containerd", ["containerd", "--config", WORK / "containerd.toml"])
            self._wait(lambda: self.containerd_socket.exists()
                       and run(["ctr", "--address", self.containerd_socket, "version"],
                               check=False, timeout=20).returncode == 0, "containerd", 60)
            self._wait(lambda: self._http_ok(f"http://{NODE_IP}:{PORTS['etcd']}/health"),
                       "etcd", 60)
            self._start("kube-apiserver", self._apiserver_argv())
            self._wait(lambda: self._https_ok("/readyz"), "kube-apiserver", 180)
            self._start("kube-controller-manager", self._controller_manager_argv())
            self._start("kube-scheduler", self._scheduler_argv())
        with timed("cluster: pause and CoreDNS images imported"):
            self.import_images(system_images)
        with timed("cluster: kubelet and kube-proxy until the node is Ready"):
            self._start("kubelet", self._kubelet_argv())
            self._start("kube-proxy", [self.bin / "kube-proxy", "--config",
                                       WORK / "kube-proxy.yaml", "--v=1"])
            self._wait(self._node_ready, "kubelet", 180)
        with timed("cluster: CoreDNS ready"):
            self.apply(self._coredns_objects())
            self.wait_rollout("kube-system", "deployment/coredns", 180)

    def down(self) -> list[str]:
        """Deletes every pod through the API first (the kubelet tears their networks, mounts
        and cgroups down itself), then stops everything and sweeps the host; returns what could
        not be undone."""
        notes: list[str] = []
        if self.procs.get("kubelet") and self.procs["kubelet"].poll() is None:
            with timed("teardown: pods deleted through the API"):
                # controllers first, so that nothing recreates the pods; the pods with a short
                # grace (the kubelet tears their sandboxes, mounts and cgroups down itself)
                self.kubectl("delete", "deployments,replicasets,statefulsets,daemonsets,jobs",
                             "--all", "--all-namespaces", "--wait=false", check=False)
                self.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1",
                             "--wait=true", "--timeout=90s", check=False, timeout=100)
        with timed("teardown: processes stopped, host swept"):
            proxy = self.procs.get("kube-proxy")
            if proxy:
                self._stop(proxy)
                run([self.bin / "kube-proxy", "--cleanup", "--v=0"], check=False, timeout=60)
            for name in ("kubelet", "kube-scheduler", "kube-controller-manager",
                         "kube-apiserver", "containerd", "etcd"):
                if name in self.procs:
                    self._stop(self.procs[name])
            problems = host.sweep(WORK, STATE, BRIDGE, notes)
        return notes + [f"PROBLEM: {p}" for p in problems]

    def _start(self, name: str, argv: list[str | Path]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen([str(a) for a in argv], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, cwd=WORK)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def _wait(self, ready: Any, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise ClusterError(f"{name} exited {proc.returncode}:\n{self.log_tail(name)}")
            try:
                if ready():
                    return
            except (OSError, ClusterError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"{name} not ready within {timeout_s:.0f} s:\n"
                                   f"{self.log_tail(name)}")
            time.sleep(0.5)

    @staticmethod
    def _http_ok(url: str) -> bool:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)

    def _https_ok(self, path: str) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        with urllib.request.urlopen(self.server + path, timeout=5, context=context) as response:
            return bool(response.status == 200)

    def _node_ready(self) -> bool:
        node = self.get_json("node", NODE_NAME)
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in node["status"].get("conditions", []))

    def wait_rollout(self, namespace: str, target: str, timeout_s: float) -> None:
        result = self.kubectl("-n", namespace, "rollout", "status", target,
                              f"--timeout={int(timeout_s)}s", check=False, timeout=timeout_s)
        if result.returncode != 0:
            pods = self.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
            events = self.kubectl("-n", namespace, "get", "events", "--sort-by=.lastTimestamp",
                                  check=False).stdout[-3000:]
            raise ClusterError(f"{target} in {namespace} not rolled out in {timeout_s:.0f} s:\n"
                               f"{result.stderr}\n{pods}\n{events}\nkubelet:\n"
                               f"{self.log_tail('kubelet', 2000)}")

    # ---------------------------------------------------------------------------- images
    def import_images(self, refs: list[str]) -> None:
        """podman images into containerd's k8s.io namespace: one docker-archive holding them
        all (the layers they share, Debian's base, are written and unpacked once)."""
        from tests.containers import engine
        podman = engine.Podman(engine.cache_dir())
        with tempfile.TemporaryDirectory(dir=WORK) as tmp:
            archive = Path(tmp) / "images.tar"
            podman("save", "--multi-image-archive", "--format", "docker-archive", "-o", archive,
                   *refs, timeout=900)
            self.ctr("images", "import", archive, timeout=900)

    def _system_images(self) -> list[str]:
        """pause and CoreDNS, `FROM scratch` around the cached static binaries."""
        from tests.containers import engine
        podman = engine.Podman(engine.cache_dir())
        refs = []
        for name, binary, version in (("pause", "pause", "k8s"), ("coredns", "coredns",
                                                                  COREDNS_VERSION)):
            path = self.bin / binary
            tag = f"localhost/govault-k8s/{name}:{version}-{engine.digest(path)[:12]}"
            if not podman.image_exists(tag):
                with tempfile.TemporaryDirectory(dir=engine.cache_dir()) as tmp:
                    shutil.copy2(path, Path(tmp) / binary)
                    (Path(tmp) / "Containerfile").write_text(
                        f"FROM scratch\nCOPY {binary} /{binary}\nENTRYPOINT [\"/{binary}\"]\n")
                    podman.build(tag, Path(tmp), Path(tmp) / "Containerfile")
            refs.append(tag)
        self.pause_image, self.coredns_image = refs
        return refs

    # ---------------------------------------------------------------------------- setup
    def _bridge(self) -> None:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])

    def _certificates(self) -> None:
        ca = Authority(self.pki)
        ca.service_account_keys()
        ca.issue("apiserver", "kube-apiserver", client=False, server=True,
                 dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                      f"kubernetes.default.svc.{CLUSTER_DOMAIN}", "localhost"),
                 ips=(NODE_IP, str(next(ipaddress.ip_network(SERVICE_CIDR).hosts())),
                      "127.0.0.1"))
        ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
        ca.issue("kubelet-serving", NODE_NAME, client=False, server=True, dns=(NODE_NAME,),
                 ips=(NODE_IP,))
        identities = {
            "admin": ("govault-k8s-admin", "system:masters"),
            "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
            "controller-manager": ("system:kube-controller-manager", None),
            "scheduler": ("system:kube-scheduler", None),
            "kube-proxy": ("system:kube-proxy", None),
        }
        for name, (user, group) in identities.items():
            pair = ca.issue(name, user, group)
            ca.kubeconfig(WORK / f"{name}.kubeconfig", self.server, user, pair)

    def _write_configs(self) -> None:
        (WORK / "cni").mkdir(exist_ok=True)
        (WORK / "cni" / "10-govault.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "govault-k8s",
            "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True,
                 "ipam": {"type": "host-local", "dataDir": str(WORK / "cni-ipam"),
                          "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "loopback"},
            ]}, indent=2))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        (WORK / "containerd.toml").write_text(f"""\
version = 2
root = "{WORK}/containerd"
state = "{STATE}/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.containerd_socket}"

[ttrpc]
  address = "{STATE}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{WORK}/containerd-opt"

[{cri}]
  sandbox_image = "{self.pause_image}"
  # no CAP_SYS_RESOURCE here: the kubelet asks for oom_score_adj -998 on every sandbox
  restrict_oom_score_adj = true
  # the pods' network namespaces live under STATE, not /run/netns (shared with podman)
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_unprivileged_ports = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{WORK}/cni"

[{cri}.containerd]
  snapshotter = "overlayfs"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  Root = "{STATE}/runc"
  SystemdCgroup = false
""")
        kubelet = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": NODE_IP, "port": PORTS["kubelet"], "readOnlyPort": 0,
            "healthzBindAddress": NODE_IP, "healthzPort": PORTS["kubelet-healthz"],
            "tlsCertFile": str(self.pki / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(self.pki / "kubelet-serving.key"),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.pki / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            # cgroup v1 on this machine: refused by default since 1.35
            "failCgroupV1": False, "cgroupDriver": "cgroupfs",
            "clusterDNS": [DNS_IP], "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(WORK / "resolv.conf"),
            # images are imported, never pulled: nothing may garbage-collect them
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "256Mi", "nodefs.available": "512Mi",
                             "imagefs.available": "512Mi", "nodefs.inodesFree": "1%",
                             "imagefs.inodesFree": "1%"},
            "evictionPressureTransitionPeriod": "30s",
            "failSwapOn": False, "oomScoreAdj": 0, "protectKernelDefaults": False,
            "podLogsDir": str(WORK / "pod-logs"),
            "volumePluginDir": str(WORK / "volume-plugins"),
            "serializeImagePulls": False, "registerNode": True, "rotateCertificates": False,
            "maxPods": 60, "podPidsLimit": 4096,
            "nodeStatusReportFrequency": "10s", "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s", "fileCheckFrequency": "20s",
            "shutdownGracePeriod": "0s",
        }
        (WORK / "resolv.conf").write_text(f"# pods resolve cluster names only\nsearch "
                                          f"{CLUSTER_DOMAIN}\n")
        (WORK / "kubelet.yaml").write_text(yaml.safe_dump(kubelet))
        proxy = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(WORK / "kube-proxy.kubeconfig")},
            "mode": "iptables", "hostnameOverride": NODE_NAME, "clusterCIDR": POD_CIDR,
            "bindAddress": NODE_IP,
            "healthzBindAddress": f"{NODE_IP}:{PORTS['proxy-healthz']}",
            "metricsBindAddress": f"{NODE_IP}:{PORTS['proxy-metrics']}",
            # NodePorts answer on the bridge address only: no port of this machine's loopback
            # or outside address is intercepted, and route_localnet stays untouched
            "nodePortAddresses": [f"{NODE_IP}/32"],
            "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
            "oomScoreAdj": 0,
            # leave the machine's conntrack limits and timeouts as they are
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                          "tcpCloseWaitTimeout": "0s"},
        }
        (WORK / "kube-proxy.yaml").write_text(yaml.safe_dump(proxy))

    def _etcd_argv(self) -> list[str | Path]:
        client = f"http://{NODE_IP}:{PORTS['etcd']}"
        peer = f"http://{NODE_IP}:{PORTS['etcd-peer']}"
        return ["etcd", "--name", "govault", "--data-dir", WORK / "etcd",
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"govault={peer}", "--initial-cluster-state", "new",
                # a throwaway test cluster on a busy shared disk
                "--unsafe-no-fsync", "--quota-backend-bytes", str(1 << 30),
                "--log-level", "warn"]

    def _apiserver_argv(self) -> list[str | Path]:
        pki = self.pki
        return [
            self.bin / "kube-apiserver",
            f"--etcd-servers=http://{NODE_IP}:{PORTS['etcd']}",
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}",
            f"--secure-port={PORTS['apiserver']}", f"--cert-dir={WORK / 'apiserver'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--profiling=false", "--v=1",
        ]

    def _controller_argv(self, name: str, port: int) -> list[str | Path]:
        kubeconfig = WORK / f"{name}.kubeconfig"
        return [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}", f"--bind-address={NODE_IP}",
                f"--secure-port={port}", "--leader-elect=false", "--profiling=false", "--v=1"]

    def _controller_manager_argv(self) -> list[str | Path]:
        return [self.bin / "kube-controller-manager",
                *self._controller_argv("controller-manager", PORTS["controller-manager"]),
                f"--root-ca-file={self.pki / 'ca.crt'}",
                f"--service-account-private-key-file={self.pki / 'sa.key'}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={self.pki / 'ca.crt'}",
                f"--cluster-signing-key-file={self.pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--flex-volume-plugin-dir={WORK / 'volume-plugins'}",
                "--allocate-node-cidrs=false"]

    def _scheduler_argv(self) -> list[str | Path]:
        return [self.bin / "kube-scheduler",
                *self._controller_argv("scheduler", PORTS["scheduler"])]

    def _kubelet_argv(self) -> list[str | Path]:
        return [self.bin / "kubelet", f"--config={WORK / 'kubelet.yaml'}",
                f"--kubeconfig={WORK / 'kubelet.kubeconfig'}", f"--root-dir={WORK / 'kubelet'}",
                f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}", "--v=1"]

    def _coredns_objects(self) -> list[dict[str, Any]]:
        labels = {"k8s-app": "kube-dns"}
        # kubeadm's default Corefile without `forward`: nothing leaves the machine
        corefile = (".:53 {\n    errors\n    health :8080\n    ready :8181\n"
                    f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
                    "        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n"
                    "        ttl 30\n    }\n    cache 30\n    loop\n    reload\n}\n")
        meta = {"name": "coredns", "namespace": "kube-system"}
        return [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": "system:coredns"},
             "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods",
                                                          "namespaces"],
                        "verbs": ["list", "watch"]},
                       {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                        "verbs": ["list", "watch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": "system:coredns"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": "system:coredns"},
             "subjects": [{"kind": "ServiceAccount", "name": "coredns",
                           "namespace": "kube-system"}]},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
             "data": {"Corefile": corefile}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {**meta,
                                                                          "labels": labels},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": {
                          "serviceAccountName": "coredns", "dnsPolicy": "Default",
                          "priorityClassName": "system-cluster-critical",
                          "containers": [{
                              "name": "coredns", "image": self.coredns_image,
                              "imagePullPolicy": "Never",
                              "args": ["-conf", "/etc/coredns/Corefile"],
                              "ports": [{"name": "dns", "containerPort": 53,
                                         "protocol": "UDP"},
                                        {"name": "dns-tcp", "containerPort": 53,
                                         "protocol": "TCP"}],
                              "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                            "limits": {"memory": "170Mi"}},
                              "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181},
                                                 "periodSeconds": 2},
                              "livenessProbe": {"httpGet": {"path": "/health", "port": 8080},
                                                "periodSeconds": 10},
                              "volumeMounts": [{"name": "config",
                                                "mountPath": "/etc/coredns"}]}],
                          "volumes": [{"name": "config",
                                       "configMap": {"name": "coredns"}}]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
             "spec": {"clusterIP": DNS_IP, "selector": labels,
                      "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}},
        ]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((NODE_IP, port))
        except OSError:
            return False
    return True


def main(argv: list[str]) -> int:
    """By hand: `up` keeps the cluster running until Ctrl-C, then tears it down; `sweep`
    removes what a killed run left; `status` lists what is left on the host."""
    command = argv[0] if argv else "status"
    if command == "sweep":
        notes: list[str] = []
        problems = host.sweep(WORK, STATE, BRIDGE, notes)
        print("\n".join(notes + problems) or "nothing left")
        return 1 if problems else 0
    if command == "status":
        print(json.dumps({"processes": len(host.processes_naming((f"{WORK}/", f"{STATE}/"))),
                          "mounts": len(host.mounts_under((WORK, STATE))),
                          "iptables_chains": {k: len(v) for k, v in host.kube_chains().items()},
                          "kubepods_cgroups": len(host.kubepods_cgroups()),
                          "bridge": Path(f"/sys/class/net/{BRIDGE}").exists()}, indent=2))
        return 0
    if command == "up":
        cluster = Cluster(ensure_binaries())
        with exclusive(), host.signals_as_interrupts():
            try:
                cluster.up()
                print(f"cluster up: KUBECONFIG={cluster.admin_kubeconfig} "
                      f"{cluster.bin}/kubectl get pods -A   (Ctrl-C tears it down)", flush=True)
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
            finally:
                with host.signals_ignored():
                    print("\n".join(cluster.down()))
                print(json.dumps(TIMINGS, indent=2))
        return 0
    print(main.__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
