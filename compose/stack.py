"""`Stack`: the whole GoVault topology on one machine, from Python.

    stack = Stack(".data", port_offset=0)   # nothing happens yet
    stack.start()    # deps, then auth, files, upload, edge (+ Prometheus); returns once ready
    stack.edge_url, stack.database_urls["auth"], stack.s3_endpoint, stack.service_env("files")
    stack.prometheus_url   # http://127.0.0.1:9090, or None (not installed / prometheus=False)
    stack.cors_origins     # browser origins the edge (and the local store) let in: compose.cors
    stack.stop()     # Prometheus, services, Redis, SeaweedFS, PostgreSQL; frees the data directory
    stack.supervise_once()  # restarts, after a growing delay, whatever died on its own

Supervision: a process of the stack that dies on its own (any of the four GoVault processes,
and PostgreSQL, SeaweedFS, Redis and Prometheus when the stack runs them) is started again with
backoff (compose/restarts.py), as compose's `restart:` policy does in containers. `make up` calls
`supervise_once()` twice a second and prints what happened; `Stack(..., supervise=True)` runs it
in a background thread (test stacks for fault injection). An external server (GOVAULT_PG_ADMIN_URL,
GOVAULT_S3_ENDPOINT, GOVAULT_REDIS_URL) is not the launcher's to restart: while it is down the
services answer 503 and recover by themselves when it returns.

`Stack(..., services=False)` (or `start_deps()` alone) brings up only PostgreSQL, SeaweedFS and
Redis, for integration tests. `Stack(..., store="minio")` runs MinIO (compose/minio.py, the pinned
build of scripts/ensure-minio) as the private store instead of SeaweedFS (docs/stores.md).
With services, a local Prometheus scraping the four processes
(compose/prometheus_local.py) starts last when the `prometheus` binary is installed, unless
`prometheus=False`; `start_prometheus()` / `stop_prometheus()` run it on demand.
`GOVAULT_PG_ADMIN_URL`, `GOVAULT_S3_ENDPOINT` (+ keys) and `GOVAULT_REDIS_URL` in `environ`
replace the matching private server with an existing one.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

from common.s3 import create_bucket
from compose import (
    claims,
    cors,
    credentials,
    minio,
    ports,
    postgres,
    prometheus_local,
    redis,
    seaweed,
)
from compose.errors import StackError
from compose.health import grpc_serving, http_ok
from compose.lock import DataDirLock
from compose.procs import Child, Supervisor, wait_until
from compose.restarts import RestartPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
# Start order: files and upload call auth; upload calls files.
SERVICES = ("auth", "files", "upload")
PROCESSES = (*SERVICES, "edge")  # one instance each; `replicas` adds auth-2, files-2, …
MODULES = {"auth": "svc_auth", "files": "svc_files", "upload": "svc_upload", "edge": "edge"}
DATABASES = {"auth": "govault_auth", "upload": "govault_upload", "files": "govault_files"}
STATE_FILE = "stack.json"
# Handed to no service: the superuser URL stays with the launcher.
_LAUNCHER_ONLY = ("GOVAULT_PG_ADMIN_URL", "GOVAULT_DATABASE_URL", "GOVAULT_PG_BINDIR")
STORES = ("seaweedfs", "minio")  # the private S3 servers a stack can run (docs/stores.md)


class Stack:
    """One stack: a data directory (state, credentials, logs) and a port offset."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] = ".data",
        port_offset: int = 0,
        *,
        services: bool = True,
        environ: Mapping[str, str] | None = None,
        echo: bool = False,
        fast_unsafe_pg: bool = False,
        host: str = "127.0.0.1",
        start_timeout_s: float = 90.0,
        commands: Mapping[str, Sequence[str]] | None = None,
        prometheus: bool = True,
        prometheus_scrape_interval_s: float = 10.0,
        supervise: bool = False,
        replicas: int = 1,
        store: str = "seaweedfs",
    ) -> None:
        if store not in STORES:
            raise ValueError(f"store must be one of {', '.join(STORES)}, got {store!r}")
        self.store = store
        self.data_dir = Path(data_dir).resolve()
        self.port_offset = port_offset
        self.ports = ports.shifted(port_offset)
        self.host = host
        self.with_services = services
        self.with_prometheus = prometheus
        self.prometheus_scrape_interval_s = prometheus_scrape_interval_s
        self.start_timeout_s = start_timeout_s
        self.fast_unsafe_pg = fast_unsafe_pg
        self.environ = dict(os.environ if environ is None else environ)
        # Instances: auth, auth-2, …, files, …, upload, …, then edge (start order).
        self.replicas = replicas
        self.instances = [name for svc in SERVICES for name in ports.replica_names(svc, replicas)]
        self.instances.append("edge")
        # argv per process; default `python -m <module>` (override to profile or stub one)
        self.commands = {name: [sys.executable, "-m", MODULES[_base(name)]]
                         for name in self.instances}
        self.commands.update({name: list(argv) for name, argv in (commands or {}).items()})
        self.log_dir = self.data_dir / "logs"
        self.supervisor = Supervisor(self.log_dir, echo=echo)
        self._lock = DataDirLock(self.data_dir)

        # Known before start.
        self.edge_url = f"http://{host}:{self.ports['edge']}"
        # The first instance of each service (what tools and tests call directly) …
        self.grpc_addrs = {name: f"{host}:{self.ports[name]}" for name in SERVICES}
        # … and every instance: what the edge and the services balance over.
        self.replica_addrs = {svc: [f"{host}:{self.ports[name]}"
                                    for name in ports.replica_names(svc, replicas)]
                              for svc in SERVICES}
        self.metrics_ports = {name: self.ports[f"{name}_metrics"] for name in self.instances}
        self.jwt_private_key_file = self.data_dir / credentials.JWT_KEY_FILE
        self.s3_bucket = self.environ.get("GOVAULT_S3_BUCKET") or "govault"
        self.s3_region = self.environ.get("GOVAULT_S3_REGION") or "us-east-1"
        self.s3_endpoint = self.environ.get("GOVAULT_S3_ENDPOINT") or f"http://{host}:{self.ports['s3']}"
        # Browser origins the edge allows (CORS) and, with the edge's own, the local store.
        self.cors_origins = cors.api_origins(self.environ)

        # Filled by start_deps().
        self.pg_admin_url = ""
        self.database_urls: dict[str, str] = {}
        self.s3_access_key = ""
        self.s3_secret_key = ""
        self.redis_url: str | None = None
        self.service_token = ""
        self.env: dict[str, str] = {}  # GOVAULT_* shared by every process
        # Filled by start_prometheus().
        self.prometheus_url: str | None = None

        self._pg: postgres.LocalPostgres | None = None
        self._s3: seaweed.LocalSeaweed | minio.LocalMinio | None = None
        self._redis: redis.LocalRedis | None = None
        self._processes: dict[str, Child] = {}
        self._prometheus: Child | None = None
        self._prometheus_argv: list[str] = []
        self._deps_up = False
        self._claimed = False
        self._atexit_registered = False
        # Supervision (supervise_once): restarts with backoff, never while stopping.
        self.restart_policy = RestartPolicy()
        self.supervision_events: list[str] = []
        self._supervise = supervise
        self._supervise_lock = threading.Lock()
        self._stopping = False
        self._supervisor_thread: threading.Thread | None = None
        self._halt = threading.Event()

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> Stack:
        """Dependencies, then (unless services=False) the four processes and Prometheus (unless
        prometheus=False or not installed); stops all on failure."""
        try:
            self.start_deps()
            if self.with_services:
                self.start_services()
                if self.with_prometheus:
                    self.start_prometheus()
        except BaseException:
            self.stop()
            raise
        if self._supervise:
            self._halt.clear()
            self._supervisor_thread = threading.Thread(
                target=self._supervise_forever, name="stack-supervisor", daemon=True)
            self._supervisor_thread.start()
        return self

    def start_deps(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            claims.claim(self.port_offset, str(self.data_dir))
            self._claimed = True
            ports.ensure_free(self.ports, self._ports_to_bind(), self.host)
            creds = credentials.load_or_create(self.data_dir)
            credentials.ensure_jwt_key(self.data_dir)
            self.service_token = self.environ.get("GOVAULT_SERVICE_TOKEN") or creds.service_token
            self._start_postgres(creds)
            self._start_s3(creds)
            self._start_redis(creds)
        except BaseException:
            self.stop()
            raise
        self.env = self._common_env()
        self._deps_up = True
        self._write_state()

    def start_services(self) -> None:
        """auth, files, upload (each until its gRPC health says SERVING), then edge until /ready."""
        if not self._deps_up:
            raise StackError("start_deps() first")
        ports.ensure_free(self.ports, ports.service_ports(self.replicas), self.host)
        for name in self.instances:
            child = self.supervisor.spawn(
                name, self.commands[name], self.service_env(name), cwd=REPO_ROOT)
            self._processes[name] = child
            if name == "edge":
                what, url = "edge GET /ready", f"{self.edge_url}/ready"
                ready = lambda url=url: http_ok(url)  # noqa: E731
            else:
                addr = f"{self.host}:{self.ports[name]}"
                what = f"{name} gRPC health on {addr}"
                ready = lambda addr=addr: grpc_serving(addr)  # noqa: E731
            wait_until(what, ready, self.start_timeout_s, list(self.supervisor.children))
        self._write_state()

    def start_prometheus(self, scrape_interval_s: float | None = None) -> str | None:
        """Prometheus scraping the four processes' metrics ports (jobs edge/auth/upload/files, as
        in compose/prometheus.yml), until GET /-/ready; its URL, or None when the `prometheus`
        binary is not installed. Needs the services (start_services() first)."""
        if self._prometheus is not None:
            return self.prometheus_url
        if not self._processes:
            raise StackError("start_services() first: Prometheus scrapes the services")
        interval = scrape_interval_s or self.prometheus_scrape_interval_s
        port = self.ports["prometheus"]
        targets = {job: [f"{self.host}:{self.metrics_ports[name]}" for name in self.instances
                         if _base(name) == job] for job in prometheus_local.JOBS}
        argv = prometheus_local.prometheus_argv(self.data_dir / "prometheus", targets, port,
                                                host=self.host, scrape_interval_s=interval)
        if argv is None:
            return None
        ports.ensure_free(self.ports, ["prometheus"], self.host)
        url = f"http://{self.host}:{port}"
        self._prometheus_argv = argv
        self._prometheus = self.supervisor.spawn("prometheus", argv, self._plain_env())
        wait_until(f"prometheus GET {url}/-/ready", lambda: http_ok(f"{url}/-/ready"),
                   self.start_timeout_s, list(self.supervisor.children))
        self.prometheus_url = url
        self._write_state()
        return url

    def stop_prometheus(self) -> None:
        """Stop Prometheus (if this stack runs one); the rest keeps running."""
        child, self._prometheus, self.prometheus_url = self._prometheus, None, None
        if child is not None:
            self.supervisor.stop(child)
            if self._lock.held and self._deps_up:
                self._write_state()

    def stop(self) -> None:
        """Stop everything this stack started, in order; idempotent, never raises for one step."""
        with self._supervise_lock:
            self._stopping = True  # nothing is restarted from here on
        self._halt.set()
        if self._supervisor_thread is not None:
            self._supervisor_thread.join(timeout=5)
            self._supervisor_thread = None
        steps: list[tuple[str, Callable[[], object]]] = [("stop prometheus", self.stop_prometheus)]
        steps += [
            (f"stop {name}", partial(self.supervisor.stop, child))
            for name in reversed(self.instances)
            if (child := self._processes.get(name)) is not None]
        deps = (("redis", self._redis), (self.store, self._s3), ("postgres", self._pg))
        steps += [(f"stop {name}", dep.stop) for name, dep in deps if dep is not None]
        steps.append(("kill leftovers", self.supervisor.kill_all))
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # keep going: the next server must still be stopped
                print(f"launcher: {what} failed: {exc}", file=sys.stderr)
        self._processes.clear()
        self._pg = self._s3 = self._redis = None
        self._deps_up = False
        self.supervisor.close()
        if self._claimed:
            claims.release(self.port_offset)
            self._claimed = False
        if self._lock.held:
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)
            self._lock.release()
        self._stopping = False

    def kill(self) -> None:
        """SIGKILL every child at once (second Ctrl-C). PostgreSQL recovers on the next start."""
        self.supervisor.kill_all()
        self.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------- supervision
    def supervise_once(self) -> list[str]:
        """Starts again every process of this stack that died on its own, once its backoff delay
        has passed; returns one line per event (died, restarted, restart failed)."""
        events: list[str] = []
        with self._supervise_lock:
            if self._stopping:
                return events
            for name, child, restart in self._watched():
                if child.alive():
                    continue
                if not self.restart_policy.down(name):
                    delay = self.restart_policy.died(name)
                    events.append(f"{child.describe_exit()}; restarting it in {delay:.1f}s "
                                  f"(log: {child.log_path})")
                if not self.restart_policy.due(name):
                    continue
                self.supervisor.forget(child)
                self.restart_policy.started(name)
                try:
                    restart()
                except StackError as exc:
                    events.append(f"restarting {name} failed, will retry: {exc}")
                    continue
                count = self.restart_policy.restarts(name)
                events.append(f"{name} restarted (restart #{count})")
            if events:
                self.supervision_events.extend(events)
                if self._lock.held:
                    self._write_state()
        return events

    def _supervise_forever(self, interval_s: float = 0.5) -> None:
        while not self._halt.wait(interval_s):
            for event in self.supervise_once():
                print(f"launcher: {event}", file=sys.stderr, flush=True)

    def _watched(self) -> list[tuple[str, Child, Callable[[], object]]]:
        """(name, current child, how to start it again) for every process this stack runs."""
        watched: list[tuple[str, Child, Callable[[], object]]] = []
        deps = (("postgres", self._pg), (self.store, self._s3), ("redis", self._redis))
        for name, dep in deps:
            if dep is not None and dep.child is not None:
                watched.append((name, dep.child, dep.start))
        for name, child in self._processes.items():
            watched.append((name, child, partial(self._respawn, name)))
        if self._prometheus is not None and self._prometheus_argv:
            watched.append(("prometheus", self._prometheus, self._respawn_prometheus))
        return watched

    def _respawn(self, name: str) -> None:
        """A GoVault process again, not waiting for it: it reconnects to its dependencies on its
        own, and readiness shows in /ready and the gRPC health service."""
        self._processes[name] = self.supervisor.spawn(
            name, self.commands[name], self.service_env(name), cwd=REPO_ROOT)

    def _respawn_prometheus(self) -> None:
        self._prometheus = self.supervisor.spawn("prometheus", self._prometheus_argv,
                                                 self._plain_env())

    # ----------------------------------------------------------------------------- queries
    def dead_process(self) -> Child | None:
        """The first child that exited on its own (None while all run)."""
        return self.supervisor.first_dead()

    def grpc_target(self, service: str) -> str:
        """The gRPC target for every instance of `service`: `host:port`, or with replicas the
        gRPC name `ipv4:host:port,host:port` (the channel balances over and fails over between
        them)."""
        addrs = self.replica_addrs[service]
        return addrs[0] if len(addrs) == 1 else "ipv4:" + ",".join(addrs)

    def pid(self, name: str) -> int | None:
        """The current process id of `name` (a GoVault process, postgres, seaweedfs or minio,
        redis or prometheus run by this stack), or None."""
        for watched, child, _ in self._watched():
            if watched == name:
                return child.pid
        return None

    def log_path(self, name: str) -> Path:
        """DATA/logs/<name>.log for auth, files, upload, edge, postgres, seaweedfs (or minio),
        redis, prometheus."""
        return self.log_dir / f"{name}.log"

    def bound_ports(self) -> dict[str, int]:
        """Every port this stack binds (deps it runs itself, plus services when enabled)."""
        return {name: self.ports[name] for name in self._ports_to_bind()}

    def still_listening(self) -> dict[str, int]:
        """Ports of this stack that accept connections (after stop(): should be empty)."""
        return ports.listening(self.bound_ports(), self.host)

    def service_env(self, name: str) -> dict[str, str]:
        """The full environment `python -m <module>` runs with for auth, files, upload or edge."""
        env = {k: v for k, v in self.environ.items() if k not in _LAUNCHER_ONLY}
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"  # log lines reach DATA/logs at once
        env["GOVAULT_METRICS_PORT"] = str(self.metrics_ports[name])
        if name == "edge":
            env["GOVAULT_EDGE_PORT"] = str(self.ports["edge"])
        else:
            env["GOVAULT_GRPC_PORT"] = str(self.ports[name])
            env["GOVAULT_DATABASE_URL"] = self.database_urls[_base(name)]
        return env

    def create_database(self, name: str) -> str:
        """A new empty database next to the service ones (for tests); returns its URL."""
        if not self.pg_admin_url:
            raise StackError("PostgreSQL is not running")
        if self._pg is None:  # existing server: the admin role owns it
            postgres.ensure_databases(self.pg_admin_url, [name])
            return postgres.database_url(self.pg_admin_url, name)
        creds = credentials.load_or_create(self.data_dir)
        postgres.ensure_databases(self.pg_admin_url, [name], postgres.APP_ROLE, creds.pg_password)
        return postgres.database_url(self.pg_admin_url, name, postgres.APP_ROLE, creds.pg_password)

    # ----------------------------------------------------------------------------- internals
    def _ports_to_bind(self) -> list[str]:
        names: list[str] = []
        if not self.environ.get("GOVAULT_PG_ADMIN_URL"):
            names.append("postgres")
        if not self.environ.get("GOVAULT_S3_ENDPOINT"):
            names += ports.MINIO_PORTS if self.store == "minio" else ports.SEAWEED_PORTS
        if not self.environ.get("GOVAULT_REDIS_URL") and redis.find_redis_server():
            names.append("redis")
        if self.with_services:
            names += ports.service_ports(self.replicas)
            if self.with_prometheus and prometheus_local.find_prometheus():
                names.append("prometheus")
        return names

    def _plain_env(self) -> dict[str, str]:
        """The launcher's environment without any GOVAULT_* (for third-party servers)."""
        return {k: v for k, v in self.environ.items() if not k.startswith("GOVAULT_")}

    def _start_postgres(self, creds: credentials.Credentials) -> None:
        names = list(DATABASES.values())
        external = self.environ.get("GOVAULT_PG_ADMIN_URL")
        if external:
            wait_until("PostgreSQL at GOVAULT_PG_ADMIN_URL",
                       lambda: postgres.can_connect(external), 15)
            postgres.ensure_databases(external, names)
            self.pg_admin_url = external
            self.database_urls = {svc: postgres.database_url(external, db)
                                  for svc, db in DATABASES.items()}
            return
        self._pg = postgres.LocalPostgres(self.data_dir / "pg", self.ports["postgres"],
                                          creds.pg_admin_password, self.supervisor,
                                          host=self.host, fast_unsafe=self.fast_unsafe_pg)
        self._pg.start()
        self.pg_admin_url = self._pg.admin_url
        postgres.ensure_databases(self.pg_admin_url, names, postgres.APP_ROLE, creds.pg_password)
        self.database_urls = {
            svc: postgres.database_url(self.pg_admin_url, db, postgres.APP_ROLE, creds.pg_password)
            for svc, db in DATABASES.items()}

    def _start_s3(self, creds: credentials.Credentials) -> None:
        if self.environ.get("GOVAULT_S3_ENDPOINT"):
            self.s3_access_key = self.environ.get("GOVAULT_S3_ACCESS_KEY", "")
            self.s3_secret_key = self.environ.get("GOVAULT_S3_SECRET_KEY", "")
            if not (self.s3_access_key and self.s3_secret_key):
                raise StackError("GOVAULT_S3_ENDPOINT is set: set GOVAULT_S3_ACCESS_KEY and "
                                 "GOVAULT_S3_SECRET_KEY too")
            seaweed.wait_s3(self.s3_endpoint, self.s3_access_key, self.s3_secret_key,
                            self.s3_region, f"S3 at {self.s3_endpoint}", 15, [])
        else:
            self.s3_access_key, self.s3_secret_key = creds.s3_access_key, creds.s3_secret_key
            local = minio.LocalMinio if self.store == "minio" else seaweed.LocalSeaweed
            self._s3 = local(self.data_dir / "s3", self.ports, self.s3_access_key,
                             self.s3_secret_key, self.supervisor, host=self.host,
                             allowed_origins=cors.store_origins(self.cors_origins, self.edge_url))
            self._s3.start()
        s3 = seaweed.client(self.s3_endpoint, self.s3_access_key, self.s3_secret_key,
                            self.s3_region)
        create_bucket(s3, self.s3_bucket)

    def _start_redis(self, creds: credentials.Credentials) -> None:
        external = self.environ.get("GOVAULT_REDIS_URL")
        if external:
            wait_until("Redis at GOVAULT_REDIS_URL", lambda: redis.ping(external), 15)
            self.redis_url = external
            return
        binary = redis.find_redis_server()
        if binary is None:
            self.redis_url = None  # the edge keeps its rate-limit budget in-process
            return
        self._redis = redis.LocalRedis(binary, self.data_dir / "redis", self.ports["redis"],
                                       creds.redis_password, self.supervisor, host=self.host)
        self._redis.start()
        self.redis_url = self._redis.url

    def _common_env(self) -> dict[str, str]:
        env = {
            "GOVAULT_LISTEN_HOST": self.host,
            "GOVAULT_AUTH_ADDR": self.grpc_target("auth"),
            "GOVAULT_UPLOAD_ADDR": self.grpc_target("upload"),
            "GOVAULT_FILES_ADDR": self.grpc_target("files"),
            "GOVAULT_SERVICE_TOKEN": self.service_token,
            "GOVAULT_JWT_PRIVATE_KEY_FILE": str(self.jwt_private_key_file),
            "GOVAULT_S3_ENDPOINT": self.s3_endpoint,
            "GOVAULT_S3_PUBLIC_ENDPOINT": self.environ.get("GOVAULT_S3_PUBLIC_ENDPOINT")
            or self.s3_endpoint,
            "GOVAULT_S3_ACCESS_KEY": self.s3_access_key,
            "GOVAULT_S3_SECRET_KEY": self.s3_secret_key,
            "GOVAULT_S3_BUCKET": self.s3_bucket,
            "GOVAULT_S3_REGION": self.s3_region,
            "GOVAULT_LOG_LEVEL": self.environ.get("GOVAULT_LOG_LEVEL") or "info",
            "GOVAULT_CORS_ORIGINS": ",".join(self.cors_origins),
        }
        if self.redis_url:
            env["GOVAULT_REDIS_URL"] = self.redis_url
        return env

    def _write_state(self) -> None:
        """DATA/stack.json (0600): what a client of this stack needs (load tests, scripts)."""
        state = {
            "pid": os.getpid(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "services": bool(self._processes),
            "edge_url": self.edge_url,
            "grpc_addrs": self.grpc_addrs,
            "replica_addrs": self.replica_addrs,
            "metrics_ports": self.metrics_ports,
            "database_urls": self.database_urls,
            "s3_endpoint": self.s3_endpoint,
            "s3_bucket": self.s3_bucket,
            "s3_access_key": self.s3_access_key,
            "s3_secret_key": self.s3_secret_key,
            "redis_url": self.redis_url,
            "prometheus_url": self.prometheus_url,
            "service_token": self.service_token,
            "log_dir": str(self.log_dir),
            "env": self.env,
            "restarts": {name: self.restart_policy.restarts(name)
                         for name, _, _ in self._watched()},
            # Rewritten after every restart: the benchmarks read each process's CPU by pid.
            "store": self.store,
            "pids": {name: child.pid for name, child, _ in self._watched()},
        }
        credentials.write_private(self.data_dir / STATE_FILE, json.dumps(state, indent=2) + "\n")


def _base(name: str) -> str:
    """`auth-2` → `auth` (the service an instance belongs to)."""
    return name.split("-", 1)[0]
