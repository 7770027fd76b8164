"""`python -m edge`: read settings, build the app, serve until SIGINT/SIGTERM (graceful)."""

from __future__ import annotations

import asyncio

from common.logging import configure_logging
from common.loop import install_event_loop
from common.metrics import start_metrics_server
from edge.app import build_app
from edge.config import EdgeSettings
from edge.server import serve


def main() -> None:
    settings = EdgeSettings.from_env()
    configure_logging("edge", settings.log_level)
    start_metrics_server(settings.metrics_port, settings.listen_host)
    install_event_loop()
    asyncio.run(serve(build_app(settings), settings))


if __name__ == "__main__":
    main()
