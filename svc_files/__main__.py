"""The files service's composition root (all wiring is here): `python -m svc_files` runs the
gRPC server; `python -m svc_files audit [--grace-s N]` prints the rows-vs-objects audit as JSON
(needs GOVAULT_DATABASE_URL and the S3 variables only)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from govault.auth.v1 import auth_pb2_grpc

from common import background
from common.config import load
from common.db import DatabaseProbe, DatabaseSettings, open_pool
from common.grpc.client import open_channel
from common.grpc.server import serve
from common.logging import configure_logging, get_logger
from common.loop import install_event_loop
from common.metrics import start_metrics_server
from common.migrations import apply_migrations
from common.s3 import S3Settings
from common.tokens import TokenVerifier, auth_key_loader
from svc_files.config import FilesSettings
from svc_files.directory import AuthDirectory
from svc_files.janitor import Janitor
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
    store = PgCatalog(pool)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m svc_files")
    sub = parser.add_subparsers(dest="command")
    audit_cmd = sub.add_parser("audit", help="compare file rows with bucket objects (JSON)")
    audit_cmd.add_argument("--grace-s", type=float, default=0.0,
                           help="ignore orphan objects younger than this (uploads in flight)")
    args = parser.parse_args(argv)
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
