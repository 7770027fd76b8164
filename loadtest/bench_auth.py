"""Auth benchmarks (not a timed test; run by hand, figures go in reports).

1. Authenticated `GET /auth/me` requests/s through the edge (edge → JWT check → gRPC GetUser →
   auth verifies the token again → one PostgreSQL read) against a bare aiohttp JSON endpoint
   served the same way (uvloop, `web.run_app`, no access log) and loaded the same way in the
   same run. Reports the ratio.
2. Logins/s with the configured Argon2id parameters (clients loop `POST /auth/login` flat out),
   and the p95 of `GET /auth/me` probed at a steady rate (open loop, default 100 req/s) while
   the logins run, as a ratio to the same probe's p95 when idle.

Load generator: `wrk` when it is on PATH (C, little CPU of its own), else a small aiohttp loop
(`--tool python`). The stack must be running (`make up` or compose/local.py); the per-user auth
rate limit must not cap the single benchmark user, e.g. start the edge with
`GOVAULT_RATE_AUTH_USER=off`.

    python -m loadtest.bench_auth --edge-url http://127.0.0.1:9000 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import aiohttp

PASSWORD = "Bench@12345"


# ------------------------------------------------------------------------- bare server
def serve_bare(port: int) -> None:
    """A bare aiohttp JSON endpoint served like the edge (uvloop, run_app, no access log)."""
    from aiohttp import web

    from common.loop import install_event_loop

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"user_id": "00000000-0000-0000-0000-000000000000",
                                  "username": "bench", "email": "bench@example.com",
                                  "created_at": "2026-01-01T00:00:00Z"})

    app = web.Application()
    app.router.add_get("/me", handler)
    install_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


# ------------------------------------------------------------------------- load tools
@dataclass
class Throughput:
    requests_per_s: float
    non_2xx: int
    p50_ms: float | None = None
    p99_ms: float | None = None


def run_wrk(url: str, headers: dict[str, str], seconds: float, connections: int,
            threads: int) -> Throughput:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)

    def pct(label: str) -> float | None:
        match = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return None
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    return Throughput(rps, int(non2xx.group(1)) if non2xx else 0, pct("50"), pct("99"))


async def run_python(url: str, headers: dict[str, str], seconds: float,
                     connections: int) -> Throughput:
    done = 0
    bad = 0
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal done, bad
            while time.perf_counter() < stop:
                start = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status >= 300:
                        bad += 1
                latencies.append(time.perf_counter() - start)
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return Throughput(done / elapsed, bad, latencies[len(latencies) // 2] * 1000,
                      latencies[int(len(latencies) * 0.99)] * 1000)


# ------------------------------------------------------------------------- auth helpers
async def make_user(session: aiohttp.ClientSession, edge: str, prefix: str = "bench"
                    ) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    email = f"{prefix}-{tag}@example.com"
    async with session.post(f"{edge}/auth/signup", json={
            "username": f"{prefix}_{tag}", "email": email, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
    async with session.post(f"{edge}/auth/login",
                            json={"email": email, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return email, (await r.json())["token"]


async def probe(session: aiohttp.ClientSession, url: str, token: str, rate: float,
                seconds: float) -> list[float]:
    """Open-loop GETs at a steady rate; returns latencies (s) of 200 answers."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}

    async def one() -> None:
        nonlocal errors
        start = time.perf_counter()
        async with session.get(url, headers=headers) as response:
            await response.read()
            if response.status == 200:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    tasks = []
    interval = 1.0 / rate
    began = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = began + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    if errors:
        print(f"  probe: {errors} non-200 answers", file=sys.stderr)
    return latencies


def p95_ms(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[94] * 1000


async def logins_flat_out(session: aiohttp.ClientSession, edge: str, email: str,
                          concurrency: int, seconds: float) -> dict[str, float]:
    counts: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop:
            async with session.post(f"{edge}/auth/login",
                                    json={"email": email, "password": PASSWORD}) as r:
                await r.read()
                counts[r.status] = counts.get(r.status, 0) + 1
                if r.status == 429:
                    await asyncio.sleep(0.05)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {"logins_per_s": counts.get(200, 0) / elapsed,
            **{f"status_{k}": float(v) for k, v in sorted(counts.items())}}


# ------------------------------------------------------------------------- main
async def _throughput(args: argparse.Namespace, edge: str, auth: dict[str, str],
                      results: dict[str, object]) -> None:
    port = free_port()
    bare = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.bench_auth", "--serve-bare", str(port))
    try:
        await asyncio.to_thread(wait_port, port)
        rounds: list[dict[str, Throughput]] = []
        # Alternate bare and edge runs: on a shared machine the background load drifts,
        # and each round's ratio compares two runs a few seconds apart.
        for _ in range(args.rounds):
            runs: dict[str, Throughput] = {}
            for name, url, headers in (("bare", f"http://127.0.0.1:{port}/me", {}),
                                       ("edge_auth_me", f"{edge}/auth/me", auth)):
                if args.tool == "wrk":
                    runs[name] = await asyncio.to_thread(
                        run_wrk, url, headers, args.duration, args.connections, args.threads)
                else:
                    runs[name] = await run_python(url, headers, args.duration,
                                                  args.connections)
                print(f"  {name}: {runs[name]}", file=sys.stderr)
            rounds.append(runs)
    finally:
        bare.terminate()
        await bare.wait()
    ratios = [r["edge_auth_me"].requests_per_s / r["bare"].requests_per_s for r in rounds]
    results["bare_rps"] = [round(r["bare"].requests_per_s) for r in rounds]
    results["edge_me_rps"] = [round(r["edge_auth_me"].requests_per_s) for r in rounds]
    results["edge_me_non_2xx"] = sum(r["edge_auth_me"].non_2xx for r in rounds)
    results["edge_me_p50_ms"] = [r["edge_auth_me"].p50_ms for r in rounds]
    results["ratio_me_to_bare"] = [round(x, 3) for x in ratios]
    results["ratio_me_to_bare_median"] = round(statistics.median(ratios), 3)


async def bench(args: argparse.Namespace) -> dict[str, object]:
    edge = args.edge_url.rstrip("/")
    results: dict[str, object] = {"tool": args.tool, "connections": args.connections,
                                  "duration_s": args.duration}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        _email, token = await make_user(session, edge)
        auth = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{edge}/auth/me", headers=auth) as r:
            assert r.status == 200, await r.text()

        # (1) throughput: bare vs edge, same tool, same settings, same run
        if args.rounds > 0:
            await _throughput(args, edge, auth, results)

        # (2) logins flat out, /auth/me p95 at a steady rate: idle vs during logins
        results["load_average"] = os.getloadavg()
        if args.login_seconds > 0:
            me_url = f"{edge}/auth/me"
            idle = await probe(session, me_url, token, args.probe_rps, args.login_seconds)
            login_email, _ = await make_user(session, edge, "benchlogin")
            logins_task = asyncio.create_task(logins_flat_out(
                session, edge, login_email, args.login_concurrency, args.login_seconds + 1))
            await asyncio.sleep(0.5)
            busy = await probe(session, me_url, token, args.probe_rps, args.login_seconds)
            logins = await logins_task
            results.update(logins)
            results["login_concurrency"] = args.login_concurrency
            results["probe_rps"] = args.probe_rps
            results["me_p95_idle_ms"] = round(p95_ms(idle), 2)
            results["me_p95_during_logins_ms"] = round(p95_ms(busy), 2)
            results["me_p95_ratio"] = round(p95_ms(busy) / p95_ms(idle), 2)
            results["load_average_after"] = os.getloadavg()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edge-url", default=os.environ.get("GOVAULT_EDGE_URL",
                                                             "http://127.0.0.1:9000"))
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/edge rounds")
    parser.add_argument("--tool", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--login-seconds", type=float, default=15.0)
    parser.add_argument("--login-concurrency", type=int, default=8)
    parser.add_argument("--probe-rps", type=float, default=100.0)
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    print(json.dumps(asyncio.run(bench(args)), indent=2))


if __name__ == "__main__":
    main()
