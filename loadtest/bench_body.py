"""What the minimum-rate body clock (`edge.body`) costs per byte (a benchmark, not a test).

    python -m loadtest.bench_body [--mib 10] [--bodies 40] [--rounds 5]

One process serves two routes that read a proxy chunk's body the way the edge does (exact
256 KiB frames): one from aiohttp's stream directly, one through `edge.body.Body`. A client in
the same process posts the same bodies to both, interleaved in rounds (a change in machine load
hits both alike), and the process's CPU time is taken around each batch: both figures include
the same client and HTTP work, so their difference is what the clock adds per MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import aiohttp
from aiohttp import web

from common.config import load
from edge.body import body
from edge.config import EdgeSettings
from edge.keys import SETTINGS
from edge.streaming import FRAME_BYTES

MIB = 1024 * 1024


async def _read(request: web.Request, clocked: bool) -> web.Response:
    remaining = request.content_length or 0
    reader = body(request) if clocked else request.content
    while remaining:
        frame = await reader.readexactly(min(FRAME_BYTES, remaining))
        remaining -= len(frame)
    return web.Response(text="ok")


async def plain(request: web.Request) -> web.Response:
    return await _read(request, clocked=False)


async def clocked(request: web.Request) -> web.Response:
    return await _read(request, clocked=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=10, help="size of one body")
    parser.add_argument("--bodies", type=int, default=40, help="per route and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    app = web.Application(client_max_size=2 * args.mib * MIB)
    app[SETTINGS] = load(EdgeSettings, {})
    app.router.add_post("/plain", plain)
    app.router.add_post("/clocked", clocked)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    data = os.urandom(args.mib * MIB)
    spent = {"plain": 0.0, "clocked": 0.0}
    async with aiohttp.ClientSession() as http:
        for _ in range(args.rounds):
            for route in spent:
                start = time.process_time()
                for _ in range(args.bodies):
                    async with http.post(f"http://127.0.0.1:{port}/{route}", data=data) as r:
                        assert r.status == 200, await r.text()
                spent[route] += time.process_time() - start
    await runner.cleanup()
    total_mib = args.rounds * args.bodies * args.mib
    per = {route: 1000 * seconds / total_mib for route, seconds in spent.items()}
    print(f"{total_mib} MiB per route in {FRAME_BYTES // 1024} KiB frames; CPU (client and "
          f"server): plain {per['plain']:.3f} ms/MiB, clocked {per['clocked']:.3f} ms/MiB "
          f"(difference {per['clocked'] - per['plain']:+.3f} ms/MiB, "
          f"ratio {per['clocked'] / per['plain']:.3f})")


if __name__ == "__main__":
    asyncio.run(main())
