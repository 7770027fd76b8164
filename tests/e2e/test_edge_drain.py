"""An edge that is told to stop (SIGTERM) first drains (GOVAULT_DRAIN_S): it keeps answering,
each answer closing its connection, and /ready says 503 `draining`, so a client's next request
goes out on a new connection (to another replica behind a load balancer) instead of on an idle
one the stop is about to close under it. Then it stops cleanly."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import aiohttp

from compose import Stack
from tests.support.processes import start_edge, wait_until
from tests.support.users import new_user


async def test_a_stopping_edge_answers_on_and_closes_each_connection(
        stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "edge-drain.log"
    # a drain far longer than the test needs: every request below lands inside it
    edge, url = start_edge(stack.service_env("edge"), log, drain_s="600")
    assert edge.popen is not None
    try:
        async with aiohttp.ClientSession() as session:
            alice = await new_user(session, url, "drain")
            async with session.get(url + "/api/files/me/owned", headers=alice.auth) as before:
                assert before.status == 200
                assert before.headers.get("Connection", "").lower() != "close"
            async with session.get(url + "/ready") as ready:
                assert ready.status == 200

            edge.popen.send_signal(signal.SIGTERM)
            wait_until("the edge draining", lambda: "edge_draining" in log.read_text(), 60,
                       edge.popen, log)

            # a request on the client's kept-alive connection is still answered, and told to go
            async with session.get(url + "/api/files/me/owned", headers=alice.auth) as during:
                assert during.status == 200
                assert during.headers["Connection"].lower() == "close"
                assert "files" in await during.json()
            async with session.get(url + "/ready") as ready:
                assert ready.status == 503
                assert (await ready.json())["status"] == "draining"
                assert ready.headers["Connection"].lower() == "close"
            # the stack's other edge is not affected
            async with session.get(stack.edge_url + "/ready") as other:
                assert other.status == 200
    finally:
        edge.kill()  # the drain itself is what was under test; its end is the plain stop's
    assert edge.popen.returncode is not None
    assert "Traceback" not in log.read_text()


def test_drain_is_off_by_default_so_a_local_stop_stays_quick(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "edge-nodrain.log"
    edge, _url = start_edge(stack.service_env("edge"), log)
    assert edge.popen is not None
    edge.popen.send_signal(signal.SIGTERM)
    try:
        assert edge.popen.wait(60) == 0
    except subprocess.TimeoutExpired:
        edge.kill()
        raise
    text = log.read_text()
    assert "edge_stopping" in text and "edge_draining" not in text
