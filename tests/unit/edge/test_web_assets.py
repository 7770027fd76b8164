"""The web page's files as the edge loads them: everything the HTML and the modules refer to is
there, and the page's Content-Security-Policy lets it reach the store and nothing else."""

from __future__ import annotations

import re

from edge.routes.web import load_assets, load_web_page


def test_every_referenced_file_is_served() -> None:
    assets = load_assets()
    html = assets["index.html"].body.decode()
    referenced = set(re.findall(r'(?:src|href)="/web/([^"]+)"', html))
    for name, asset in assets.items():
        if name.endswith(".js"):
            referenced |= set(re.findall(r'from "\./([^"]+)"', asset.body.decode()))
    assert referenced >= {"app.js", "style.css", "api.js", "upload.js"}
    assert referenced <= set(assets)


def test_the_policy_allows_the_store_it_is_told_about() -> None:
    page = load_web_page("https://s3.example.com:8333/")
    policy = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' https://s3.example.com:8333;" in policy
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy


def test_without_a_store_endpoint_any_http_origin_may_be_reached() -> None:
    policy = load_web_page(None).headers["Content-Security-Policy"]
    assert "connect-src 'self' http: https:;" in policy
