"""The upload service's composition root: `python -m svc_upload` serves; `python -m svc_upload
reap` runs one reaper pass and prints a JSON summary. All wiring is here and nowhere else."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from govault.auth.v1 import auth_pb2_grpc
from govault.files.v1 import files_pb2_grpc
from govault.upload.v1 import upload_pb2, upload_pb2_grpc
from psycopg_pool import AsyncConnectionPool

from common import background
from common.db import DatabaseProbe, open_pool
from common.grpc.client import open_channel
from common.grpc.readiness import STORE_SPACE
from common.grpc.server import serve
from common.logging import configure_logging
from common.loop import install_event_loop
from common.metrics import start_metrics_server
from common.migrations import apply_migrations
from common.tokens import TokenVerifier, auth_key_loader
from svc_upload.config import UploadSettings
from svc_upload.files_client import GrpcFilesRegistry
from svc_upload.reaper import Reaper
from svc_upload.s3 import S3Objects
from svc_upload.seams import Deps
from svc_upload.server import UploadServicer
from svc_upload.service import UploadService
from svc_upload.store import PgLedger
from svc_upload.tus import TusUploads
from svc_upload.tus_store import PgTusLedger

SERVICE = "upload"
MIGRATIONS = Path(__file__).parent / "migrations"
REAPER_JOB = "upload.reaper"  # the advisory lock of the reaper's passes


@dataclass(frozen=True)
class Parts:
    service: UploadService
    tus: TusUploads
    reaper: Reaper
    objects: S3Objects
    pool: AsyncConnectionPool


@asynccontextmanager
async def parts(settings: UploadSettings) -> AsyncIterator[Parts]:
    """Pool, S3, the files channel and what is built on them; closed in reverse order."""
    async with AsyncExitStack() as opened:
        pool = await open_pool(settings.db, SERVICE)
        opened.push_async_callback(pool.close)
        objects = await S3Objects.open(settings.s3)
        opened.push_async_callback(objects.close)
        files_channel = open_channel(settings.files_addr)
        opened.push_async_callback(files_channel.close)
        files = GrpcFilesRegistry(files_pb2_grpc.FilesServiceStub(files_channel),
                                  settings.service_token, settings.register_timeout_s)
        ledger = PgLedger(pool)
        deps = Deps(ledger, objects, files, settings.rules)
        service = UploadService(deps)
        tus = TusUploads(deps, PgTusLedger(pool))
        reaper = Reaper(service, ledger, settings.rules.completing_lease_s,
                        settings.reaper_batch,
                        sweep=(tus, settings.rules.tus_sweep_grace_s),
                        orphan_grace_s=settings.orphan_grace_s)
        yield Parts(service, tus, reaper, objects, pool)


async def run(settings: UploadSettings) -> None:
    """Start-up order: migrations, pool, S3, channels; then serve; shutdown in reverse."""
    await apply_migrations(settings.db.url, MIGRATIONS)
    async with parts(settings) as built:
        auth_channel = open_channel(settings.auth_addr)
        verifier = TokenVerifier(auth_key_loader(auth_pb2_grpc.AuthServiceStub(auth_channel),
                                                 settings.rpc_timeout_s))
        # With replicas, one pass at a time across all of them (common.background.led).
        reaper_task = background.start(settings.reaper_interval_s, "reaper",
                                       background.led(built.pool, REAPER_JOB,
                                                      built.reaper.run_once))
        start_metrics_server(settings.server.metrics_port, settings.server.host)

        def register(server: grpc.aio.Server) -> str:
            upload_pb2_grpc.add_UploadServiceServicer_to_server(
                UploadServicer(built.service, built.tus, verifier,
                               settings.rules.max_file_size_bytes), server)
            return str(upload_pb2.DESCRIPTOR.services_by_name["UploadService"].full_name)

        database = DatabaseProbe(settings.db)

        async def shutdown() -> None:
            await background.stop([reaper_task])
            await auth_channel.close()
            await database.close()

        await serve(SERVICE, settings.server, [register], [shutdown],
                    probes={"database": database, "object_store": built.objects.probe},
                    advisory={STORE_SPACE: built.objects.check_space})


async def reap_once(settings: UploadSettings) -> dict[str, object]:
    """One reaper pass with the service's own configuration (the `reap` command): after the
    pass a replica may be running (the job's lock is waited for, not skipped)."""
    async with parts(settings) as built:
        summary = await background.led(built.pool, REAPER_JOB, built.reaper.run_once,
                                       wait=True)()
        assert summary is not None
        return summary.as_dict()


def main(argv: list[str]) -> int:
    settings = UploadSettings.from_env()
    configure_logging(SERVICE, settings.server.log_level)
    if argv[:1] == ["reap"]:
        summary = asyncio.run(reap_once(settings))
        print(json.dumps(summary), flush=True)
        return 0
    if argv:
        print("usage: python -m svc_upload [reap]", file=sys.stderr)
        return 2
    install_event_loop()
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
