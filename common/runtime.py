"""Settings a GoVault process needs before any library reads them: imported by the package of
each process (edge, svc_auth, svc_upload, svc_files) first, before `grpc` is imported anywhere.

gRPC's EventEngine experiments for the client, the listener and the callback completion queue
are turned off (`GRPC_EXPERIMENTS`, documented in gRPC's doc/environment_variables.md; read
once, when grpc is imported): each of our calls then takes the long-standing iomgr paths. With
grpcio pinned (constraints.txt) the names are known to it (a test checks that no stack process
logs an unknown experiment). Measured with `python -m loadtest.ab` (docs/performance.md): ~4 %
less CPU in every GoVault process per upload. A GRPC_EXPERIMENTS already set is kept.
"""

from __future__ import annotations

import os

GRPC_EXPERIMENTS = "-event_engine_client,-event_engine_listener,-event_engine_callback_cq"


def prepare_process() -> None:
    os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)
