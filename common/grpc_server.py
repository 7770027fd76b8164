"""Moved: `common.loop.install_event_loop`, `common.grpc.server`. Kept only so the edge's
imports resolve until its branch is merged; delete it then."""

from common.loop import install_event_loop

__all__ = ["install_event_loop"]
