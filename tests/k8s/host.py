"""What the test cluster changes on the host, and how it is undone.

A Kubernetes node is not a tenant of its machine: the kubelet and kube-proxy write sysctls,
iptables chains, cgroups and mounts, and the CNI plugin makes a bridge. `snapshot()` records the
host's values before the cluster starts (in WORK/host-before.json), and `sweep()` undoes
everything, from a clean shutdown as from a run that was killed halfway (it needs nothing but
the directories and the snapshot file):

- processes: every one whose command line names the cluster's directories (control plane,
  kubelet, kube-proxy, etcd, containerd, its shims), then every process left in the kubelet's
  `kubepods` cgroups (the containers);
- mounts under the cluster's directories (volumes, overlay root filesystems, shm, and the pods'
  network namespaces, which containerd keeps there: `netns_mounts_under_state_dir`; /run/netns
  is not touched);
- the bridge and its veths; the kubelet's and kube-proxy's `KUBE-*` iptables and ip6tables
  chains and the rules jumping to them (nft and legacy back ends; other chains are left alone);
- the `kubepods` cgroups of every hierarchy;
- the sysctls in SYSCTLS and the conntrack hash size, back to the snapshot;
- paths written outside the configured directories (STRAY_PATHS: containerd 1.6's shim
  sockets, the kubelet's device-plugin socket and container log links) when the cluster made
  them;
- the directories themselves.

Shared by concurrent users of the machine: `net.ipv4.ip_forward` is turned on by every CNI
bridge with a gateway, podman's included. It is put back to 0 only when no other bridge exists,
since containers of another network (another test's podman stack) would lose their routed
traffic; otherwise it is left on and the sweep says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import alive

SYSCTLS = (
    # the kubelet (container_manager_linux.go: setupKernelTunables)
    "vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
    # kube-proxy (iptables mode; its conntrack settings are configured to change nothing, but
    # they are recorded all the same)
    "net.ipv4.conf.all.route_localnet", "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
    "net.netfilter.nf_conntrack_tcp_be_liberal",
    "net.netfilter.nf_conntrack_udp_timeout", "net.netfilter.nf_conntrack_udp_timeout_stream",
    # the CNI bridge plugin (gateway) and what Service traffic between pods of one bridge needs
    "net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
SHARED_SYSCTLS = ("net.ipv4.ip_forward",)
CONNTRACK_HASHSIZE = Path("/sys/module/nf_conntrack/parameters/hashsize")
CGROUP_ROOT = Path("/sys/fs/cgroup")
IPTABLES = (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables"),
            ("iptables-legacy-save", "iptables-legacy"),
            ("ip6tables-legacy-save", "ip6tables-legacy"))
TABLES = ("filter", "nat", "mangle", "raw")
CHAIN_PREFIXES = (":KUBE-",)  # the kubelet's and kube-proxy's chains
# The legacy back end's tables that exist: reading a legacy table with iptables-legacy-save
# would instantiate it (and on a kernel without modules it stays until reboot), so only these
# are looked at.
LEGACY_TABLE_NAMES = {"iptables-legacy-save": Path("/proc/net/ip_tables_names"),
                      "ip6tables-legacy-save": Path("/proc/net/ip6_tables_names")}
# Paths some component writes outside its configured directories (hard-coded): containerd
# 1.6's shim sockets, the kubelet's device-plugin socket and its container log symlinks.
# Removed at the end when they did not exist before and hold nothing but sockets, symlinks and
# empty directories.
STRAY_PATHS = (Path("/run/containerd"), Path("/var/lib/kubelet"), Path("/var/log/containers"),
               Path("/var/log/pods"), Path("/usr/libexec/kubernetes"), Path("/run/kubernetes"),
               Path("/etc/kubernetes"))


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    with contextlib.suppress(OSError):
        values["hashsize"] = CONNTRACK_HASHSIZE.read_text().strip()
    return values


def snapshot(path: Path) -> dict[str, object]:
    """Records the host's values before the cluster runs (kept if a killed run left one: that
    one holds the values from before the killed run)."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    state: dict[str, object] = {
        "sysctls": read_sysctls(),
        "existed": [str(p) for p in STRAY_PATHS if p.exists()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2))
    return state


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------------------- processes
def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def processes_naming(markers: tuple[str, ...]) -> list[int]:
    """Pids whose command line contains one of `markers` (the cluster's directories)."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            line = _cmdline(int(entry))
            if any(marker in line for marker in markers):
                found.append(int(entry))
    return found


def kubepods_cgroups() -> list[Path]:
    """Every `kubepods` cgroup directory, deepest first."""
    found: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return found
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / "kubepods"
        if top.is_dir():
            for dirpath, _dirs, _files in os.walk(top, topdown=False):
                found.append(Path(dirpath))
    return found


def cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for group in kubepods_cgroups():
        with contextlib.suppress(OSError):
            pids |= {int(p) for p in (group / "cgroup.procs").read_text().split()}
    return pids



def kill_all(pids: set[int] | list[int], grace_s: float, sig: int = signal.SIGTERM) -> list[int]:
    """`sig`, then SIGKILL to whatever is alive after `grace_s`; returns those still alive."""
    pids = {p for p in pids if alive(p)}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if alive(p)}
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if alive(p)}
        time.sleep(0.1)
    return sorted(pids)


# ------------------------------------------------------------------------------- mounts
def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")


def mounts_under(prefixes: tuple[Path, ...]) -> list[str]:
    """Mount points at or under `prefixes`, deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if any(point == str(p) or point.startswith(f"{p}/") for p in prefixes):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all(prefixes: tuple[Path, ...]) -> list[str]:
    """Unmounts everything under `prefixes` (lazily when busy); returns what is still there."""
    for _ in range(5):
        points = mounts_under(prefixes)
        if not points:
            return []
        for point in points:
            if run(["umount", point]).returncode != 0:
                run(["umount", "-l", point])
    return mounts_under(prefixes)


# ------------------------------------------------------------------------------- network
def delete_bridge(bridge: str) -> None:
    listed = run(["ip", "-o", "link", "show", "master", bridge])
    for line in listed.stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        run(["ip", "link", "delete", name])
    if Path(f"/sys/class/net/{bridge}").exists():
        run(["ip", "link", "delete", bridge])


def other_bridges(ours: str) -> list[str]:
    net = Path("/sys/class/net")
    return sorted(p.name for p in net.iterdir() if (p / "bridge").is_dir() and p.name != ours)


def _tables(save: str) -> tuple[str, ...]:
    names = LEGACY_TABLE_NAMES.get(save)
    if names is None:
        return TABLES
    try:
        present = set(names.read_text().split())
    except OSError:
        return ()
    return tuple(t for t in TABLES if t in present)


def kube_chains() -> dict[str, list[str]]:
    """`KUBE-*` chains left in any iptables back end: {"iptables/nat": [chains]}."""
    left: dict[str, list[str]] = {}
    for save, _ in IPTABLES:
        if not shutil.which(save):
            continue
        for table in _tables(save):
            dump = run([save, "-t", table])
            chains = [line[1:].split()[0] for line in dump.stdout.splitlines()
                      if line.startswith(CHAIN_PREFIXES)]
            if chains:
                left[f"{save.removesuffix('-save')}/{table}"] = chains
    return left


def remove_kube_chains() -> None:
    """Deletes the rules of built-in (and other) chains that jump to a KUBE-* chain, then
    flushes and deletes the KUBE-* chains, in every back end and table."""
    for save, tool in IPTABLES:
        if not shutil.which(save) or not shutil.which(tool):
            continue
        for table in _tables(save):
            dump = run([save, "-t", table]).stdout.splitlines()
            chains = [line[1:].split()[0] for line in dump if line.startswith(CHAIN_PREFIXES)]
            if not chains:
                continue
            ours = set(chains)
            for line in dump:
                if not line.startswith("-A "):
                    continue
                words = shlex.split(line)
                targets = {words[i + 1] for i, word in enumerate(words[:-1])
                           if word in ("-j", "-g", "--jump", "--goto")}
                if words[1] not in ours and targets & ours:
                    run([tool, "-w", "5", "-t", table, "-D", *words[1:]])
            for chain in chains:
                run([tool, "-w", "5", "-t", table, "-F", chain])
            for chain in chains:
                run([tool, "-w", "5", "-t", table, "-X", chain])


# ------------------------------------------------------------------------------- cgroups
def remove_kubepods_cgroups() -> list[str]:
    left: list[str] = []
    for _ in range(20):
        left = []
        for group in kubepods_cgroups():
            try:
                group.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left.append(str(group))
        if not left:
            return []
        kill_all(cgroup_pids(), grace_s=0, sig=signal.SIGKILL)
        time.sleep(0.2)
    return left


# ------------------------------------------------------------------------------- the sweep
def restore_sysctls(before: dict[str, str], bridge: str) -> list[str]:
    """Writes back what changed; returns notes on what was deliberately left."""
    notes = []
    now = read_sysctls()
    for name, value in before.items():
        if now.get(name) == value:
            continue
        if name in SHARED_SYSCTLS and value == "0":
            others = other_bridges(bridge)
            if others:
                notes.append(f"left {name}={now.get(name)} (was {value}): bridges "
                             f"{', '.join(others)} of other networks route through it")
                continue
        path = CONNTRACK_HASHSIZE if name == "hashsize" else _sysctl_path(name)
        try:
            path.write_text(value)
        except OSError as exc:
            notes.append(f"could not restore {name}={value}: {exc}")
    return notes


def only_sockets_and_links(top: Path) -> bool:
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = Path(dirpath) / name
            if not (path.is_symlink() or path.is_socket()):
                return False
    return True


def sweep(work: Path, state: Path, bridge: str, log: list[str] | None = None) -> list[str]:
    """Undoes everything the cluster did to the host (see the module docstring); idempotent.
    Returns what could not be undone (empty when the host is as it was)."""
    log = log if log is not None else []
    problems: list[str] = []
    snapshot_file = work / "host-before.json"
    before = json.loads(snapshot_file.read_text()) if snapshot_file.exists() else None
    markers = (f"{work}/", f"{state}/")

    ours = processes_naming(markers)
    if ours:
        log.append(f"stopping {len(ours)} cluster processes")
        # the kubelet first, so that it restarts nothing; then the rest
        kubelets = [p for p in ours if "kubelet" in _cmdline(p).split(" ")[0]]
        kill_all(kubelets, grace_s=10)
        kill_all([p for p in ours if p not in kubelets], grace_s=10)
    pods = cgroup_pids()
    if pods:
        log.append(f"killing {len(pods)} container processes")
        kill_all(pods, grace_s=0, sig=signal.SIGKILL)
    if left := processes_naming(markers):
        kill_all(left, grace_s=0, sig=signal.SIGKILL)

    if left_mounts := unmount_all((work, state)):
        problems.append(f"mounts left: {left_mounts}")
    delete_bridge(bridge)
    remove_kube_chains()
    if chains := kube_chains():
        problems.append(f"iptables chains left: {chains}")
    if groups := remove_kubepods_cgroups():
        problems.append(f"cgroups left: {groups[:5]}")
    run(["conntrack", "-D", "-s", "10.244.0.0/24"])
    run(["conntrack", "-D", "-d", "10.244.0.0/24"])

    if before is not None:
        notes = restore_sysctls(dict(before["sysctls"]), bridge)
        log.extend(notes)
        problems += [n for n in notes if n.startswith("could not")]
        existed = set(before.get("existed", []))
        for path in STRAY_PATHS:
            if str(path) not in existed and path.exists():
                if only_sockets_and_links(path):
                    shutil.rmtree(path)
                else:
                    log.append(f"left {path}: it holds files the cluster did not make")
    links = Path("/var/log/containers")
    if links.is_dir():
        for link in links.iterdir():
            if link.is_symlink() and str(os.readlink(link)).startswith(f"{work}/"):
                link.unlink()

    if not mounts_under((work, state)):
        for directory in (state, work):
            shutil.rmtree(directory, ignore_errors=True)
    return problems


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt while inside, so that teardown code runs when
    the test run is stopped (Ctrl-C already does)."""
    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Teardown is not interrupted by a second Ctrl-C or SIGTERM."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

