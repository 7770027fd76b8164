"""The files service's composition root (all wiring is here): `python -m svc_files` runs the
gRPC server; `python -m svc_files audit [--grace-s N]` prints the rows-vs-objects audit as JSON
(needs GOVAULT_DATABASE_URL and the S3 variables only); `python -m svc_files quota set | show |
list | audit` are the operator's quota commands (quota_admin.py; GOVAULT_DATABASE_URL and
GOVAULT_DEFAULT_QUOTA_BYTES, plus GOVAULT_AUTH_ADDR and GOVAULT_SERVICE_TOKEN for `--email`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from govault.auth.v1 import auth_pb2_grpc

from common import background
from common.config import Settings, load, var
from common.db import DatabaseProbe, DatabaseSettings, open_pool
from common.errors import GoVaultError
from common.grpc.client import open_channel
from common.grpc.server import serve
from common.logging import configure_logging, get_logger
from common.loop import install_event_loop
from common.metrics import start_metrics_server
from common.migrations import apply_migrations
from common.s3 import S3Settings
from common.tokens import TokenVerifier, auth_key_loader
from svc_files.config import FilesSettings, Rules
from svc_files.directory import AuthDirectory
from svc_files.janitor import Janitor
from svc_files.quota_admin import QuotaCommands, parse_quota
from svc_files.s3 import S3Objects
from svc_files.server import FilesServicer, registrar
from svc_files.service import FilesService
from svc_files.store import PgCatalog

SERVICE = "files"
MIGRATIONS = Path(__file__).parent / "migrations"
JANITOR_JOB = "files.janitor"  # the advisory lock of the janitor's passes
log = get_logger(__name__)


async def run(settings: FilesSettings) -> None:
    start_metrics_server(settings.server.metrics_port, settings.server.host)
    await apply_migrations(settings.db.url, MIGRATIONS)
    pool = await open_pool(settings.db, SERVICE)
    auth_channel = open_channel(settings.auth_addr)
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    verifier = TokenVerifier(auth_key_loader(auth, settings.rpc_timeout_s))
    store = PgCatalog(pool, settings.rules.default_quota_bytes)
    objects = S3Objects(settings.s3)
    service = FilesService(
        store, objects, AuthDirectory(auth, settings.service_token, settings.rpc_timeout_s),
        settings.rules,
    )
    janitor = Janitor(store, objects, settings.janitor_batch)
    # With replicas, the janitor runs one pass at a time across all of them; the audit (read
    # only, feeding each replica's own gauges) runs on every replica that has it turned on.
    tasks = [
        background.start(settings.janitor_interval_s, "janitor",
                         background.led(pool, JANITOR_JOB, janitor.run_once)),
        background.start(settings.audit_interval_s, "audit",
                         lambda: janitor.audit(grace_s=settings.audit_grace_s)),
    ]

    database = DatabaseProbe(settings.db)

    async def shutdown() -> None:
        await background.stop(tasks)
        await database.close()
        await objects.close()
        await auth_channel.close()
        await pool.close()

    servicer = FilesServicer(service, verifier, settings.service_token)
    # the database only: listings, shares and links work while the store is down
    await serve(SERVICE, settings.server, [registrar(servicer)], on_shutdown=[shutdown],
                probes={"database": database})


async def audit(grace_s: float) -> dict[str, object]:
    db = load(DatabaseSettings).model_copy(update={"pool_min": 1, "pool_max": 2,
                                                  "call_timeout_s": 0})
    pool = await open_pool(db, SERVICE)
    objects = S3Objects(load(S3Settings))
    try:
        report = await Janitor(PgCatalog(pool), objects).audit(grace_s=grace_s)
        return report.as_dict()
    finally:
        await objects.close()
        await pool.close()


class _AuthLink(Settings):
    """What `quota --email` needs to reach auth ResolveUsers."""

    auth_addr: str = var("AUTH_ADDR", "127.0.0.1:15051")
    service_token: str = var("SERVICE_TOKEN", "", repr=False)
    rpc_timeout_s: float = var("RPC_TIMEOUT_S", 10.0, gt=0)


async def quota(args: argparse.Namespace) -> dict[str, object]:
    db = load(DatabaseSettings).model_copy(update={"pool_min": 1, "pool_max": 2})
    pool = await open_pool(db, SERVICE)
    link = load(_AuthLink)
    channel = open_channel(link.auth_addr) if getattr(args, "email", None) else None
    directory = None
    if channel is not None:
        if not link.service_token:
            raise SystemExit("--email needs GOVAULT_SERVICE_TOKEN (and GOVAULT_AUTH_ADDR) to ask "
                             "the auth service; or name the user with --user-id")
        directory = AuthDirectory(auth_pb2_grpc.AuthServiceStub(channel), link.service_token,
                                  link.rpc_timeout_s)
    commands = QuotaCommands(PgCatalog(pool, load(Rules).default_quota_bytes), directory)
    try:
        if args.action == "set":
            return await commands.set(args.email, args.user_id, args.bytes)
        if args.action == "show":
            return await commands.show(args.email, args.user_id)
        if args.action == "list":
            return await commands.list()
        return await commands.audit(args.fix, args.stale_after_s)
    finally:
        if channel is not None:
            await channel.close()
        await pool.close()


def _quota_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    quota_cmd = sub.add_parser("quota", help="set, show and list storage quotas; audit usage")
    actions = quota_cmd.add_subparsers(dest="action", required=True)

    def who(parser: argparse.ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--email", help="the user's email (asks the auth service)")
        group.add_argument("--user-id", help="the user's id")

    set_cmd = actions.add_parser("set", help="set a user's quota")
    who(set_cmd)
    set_cmd.add_argument("--bytes", required=True, type=_quota_arg,
                         help="50GiB, 1073741824, 0 or unlimited (no quota), default (back to "
                              "GOVAULT_DEFAULT_QUOTA_BYTES)")
    who(actions.add_parser("show", help="a user's quota and usage"))
    actions.add_parser("list", help="every user with usage or a quota, largest first")
    audit_cmd = actions.add_parser(
        "audit", help="recompute usage from the rows and report drift and stale reservations "
                      "(exit 1 when found)")
    audit_cmd.add_argument("--fix", action="store_true",
                           help="also set drifted counters to what the rows say and release "
                                "stale reservations")
    audit_cmd.add_argument("--stale-after-s", type=float, default=2 * 24 * 3600.0,
                           help="a reservation older than this is stale: its session has ended "
                                "and its release was lost (default 172800 = twice the upload "
                                "service's default session TTL; keep it above "
                                "GOVAULT_UPLOAD_SESSION_TTL_S)")


def _quota_arg(text: str) -> int | None:
    try:
        return parse_quota(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m svc_files")
    sub = parser.add_subparsers(dest="command")
    audit_cmd = sub.add_parser("audit", help="compare file rows with bucket objects (JSON)")
    audit_cmd.add_argument("--grace-s", type=float, default=0.0,
                           help="ignore orphan objects younger than this (uploads in flight)")
    _quota_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "quota":
        configure_logging(SERVICE, "warning")
        try:
            result = asyncio.run(quota(args))
        except GoVaultError as exc:
            raise SystemExit(f"error: {exc.message}") from None
        print(json.dumps(result, indent=2))
        if args.action == "audit" and not args.fix and (result["drifted"]
                                                        or result["stale_reservations"]):
            raise SystemExit(1)
        return
    if args.command == "audit":
        configure_logging(SERVICE, "warning")
        print(json.dumps(asyncio.run(audit(args.grace_s)), indent=2))
        return
    settings = FilesSettings.from_env()
    configure_logging(SERVICE, settings.server.log_level)
    install_event_loop()
    asyncio.run(run(settings))


if __name__ == "__main__":
    main(sys.argv[1:])
