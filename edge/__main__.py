"""`python -m edge`: read settings, build the app, serve until SIGINT/SIGTERM (graceful)."""

from __future__ import annotations

from aiohttp import web

from common.grpc_server import install_event_loop
from common.logging import configure_logging
from common.metrics import start_metrics_server
from edge.app import build_app
from edge.config import EdgeSettings


def main() -> None:
    settings = EdgeSettings.from_env()
    configure_logging("edge", settings.log_level)
    start_metrics_server(settings.metrics_port, settings.listen_host)
    install_event_loop()
    web.run_app(
        build_app(settings),
        host=settings.listen_host,
        port=settings.edge_port,
        access_log=None,
        shutdown_timeout=settings.shutdown_grace_s,
        print=None,
    )


if __name__ == "__main__":
    main()
