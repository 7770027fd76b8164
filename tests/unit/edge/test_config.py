"""Edge settings from GOVAULT_* variables: the documented names and defaults, lists, and a clear
stop on a malformed value."""

from __future__ import annotations

import pytest

from common.config import ConfigError
from edge.config import EdgeSettings
from edge.ratelimit.spec import Limit

TOKEN = {"GOVAULT_SERVICE_TOKEN": "s3cret"}  # the one variable without a default


def test_defaults() -> None:
    settings = EdgeSettings.from_env(TOKEN)
    assert (settings.listen_host, settings.edge_port, settings.metrics_port) == (
        "127.0.0.1", 9000, 9100)
    assert (settings.auth_addr, settings.upload_addr, settings.files_addr) == (
        "127.0.0.1:15051", "127.0.0.1:15052", "127.0.0.1:15053")
    assert settings.max_json_bytes == 128 * 1024 and settings.upstream_max_in_flight == 2048
    assert settings.listen_backlog == 4096
    assert settings.cors_origins == () and settings.redis_url is None
    assert not settings.trust_forwarded_for
    assert settings.rate_limit.enabled
    assert settings.rate_limit.limits[("auth", "user")] == Limit(20.0, 40)
    assert settings.rate_limit.redis_sync_s == pytest.approx(0.1)


def test_variables_are_read() -> None:
    settings = EdgeSettings.from_env({
        "GOVAULT_EDGE_PORT": "9555", "GOVAULT_CORS_ORIGINS": "http://a:3000, http://b:5173",
        "GOVAULT_TRUST_FORWARDED_FOR": "yes", "GOVAULT_REDIS_URL": "redis://r:6379/0",
        "GOVAULT_RATE_LIMIT_ENABLED": "false", "GOVAULT_RATE_FILES_IP": "off",
        "GOVAULT_RATE_REDIS_SYNC_MS": "0", "GOVAULT_KEEPALIVE_TIMEOUT_S": "2.5",
        "GOVAULT_UNRELATED": "ignored", **TOKEN,
    })
    assert settings.edge_port == 9555
    assert settings.cors_origins == ("http://a:3000", "http://b:5173")
    assert settings.trust_forwarded_for and settings.redis_url == "redis://r:6379/0"
    assert not settings.rate_limit.enabled
    assert settings.rate_limit.limits[("files", "ip")] is None
    assert settings.rate_limit.redis_sync_s == 0
    assert settings.keepalive_timeout_s == 2.5


@pytest.mark.parametrize(("name", "value"), [
    ("GOVAULT_EDGE_PORT", "ninety"), ("GOVAULT_TRUST_FORWARDED_FOR", "maybe"),
    ("GOVAULT_RATE_AUTH_IP", "fast"),
])
def test_a_malformed_value_stops_with_its_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        EdgeSettings.from_env({name: value, **TOKEN})


def test_the_service_credential_is_required() -> None:
    with pytest.raises(ConfigError, match="GOVAULT_SERVICE_TOKEN"):
        EdgeSettings.from_env({})
