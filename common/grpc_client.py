"""Moved: `common.grpc.client.open_channel`, `common.tokens.auth_key_loader`. Kept only so the
edge's imports resolve until its branch is merged; delete it then."""

from common.grpc.client import open_channel
from common.tokens import auth_key_loader

__all__ = ["auth_key_loader", "open_channel"]
