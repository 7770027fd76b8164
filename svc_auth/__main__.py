"""`python -m svc_auth`: read settings, then run the auth gRPC server until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio

from common.logging import configure_logging
from common.loop import install_event_loop
from common.metrics import start_metrics_server
from svc_auth.config import AuthSettings
from svc_auth.server import run


def main() -> None:
    settings = AuthSettings.from_env()
    configure_logging("auth", settings.server.log_level)
    start_metrics_server(settings.server.metrics_port, settings.server.host)
    install_event_loop()
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
