"""The transport floor of an upload (a benchmark, not a test): what the libraries GoVault is built
on cost on this machine for the calls an upload makes, with no GoVault code around them.

Each part runs a trivial server in a process of its own (uvloop, as the services run) and loads
it from this process with 8 concurrent callers; CPU is utime+stime from /proc for the server and
this process's CPU for the client (its gRPC poller thread included):

  grpc unary     a unary call with a small protobuf message (grpc.aio client and server)
  grpc stream    a client-streaming call carrying 1 MiB as 4 frames of 256 KiB (the proxy chunk;
                 --frame-bytes changes the frame)
  http request   a small aiohttp request (server side: the edge's share per REST call)
  http 1 MiB     an aiohttp request with a 1 MiB body (the proxy chunk into the edge)
  s3-style call  an aiohttp client request (the upload service's share of each S3 call), and
                 one with a 1 MiB body (its PUT of a proxy chunk)
  sha-256        hashing 1 MiB (the proxy chunk's checksum)

It then adds them up for the calls each flow makes (counted from the code, listed in FLOWS): the
CPU the flows cannot go below with these libraries and this architecture, before any rule,
PostgreSQL statement, log line or metric.

    python -m loadtest.bench_floor [--calls 4000] [--frame-bytes 262144] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loadtest.bench_auth import free_port, wait_port

MIB = 1024 * 1024
FRAME = 256 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENCY = 8
UNARY = "/govault.floor.v1.Floor/Unary"
STREAM = "/govault.floor.v1.Floor/Stream"

# The calls each flow makes, per 1 MiB upload (what the code does today; see svc_upload/).
FLOWS: dict[str, dict[str, int]] = {
    "proxy (session + 1 chunk)": {
        # edge: POST session, POST chunk (1 MiB body)
        "http request": 1, "http 1 MiB": 1,
        # edge → upload CreateProxySession; upload → files ReserveQuota, RegisterFile
        "grpc unary": 3,
        # edge → upload UploadChunk (header + 4 × 256 KiB)
        "grpc stream": 1,
        # upload → store: one PUT of 1 MiB
        "s3-style 1 MiB": 1,
        "sha-256": 1,
    },
    "multipart (session + PUT + part + complete)": {
        "http request": 3,  # edge: POST session, POST part, POST complete
        # edge → upload CreateMultipartSession, RegisterPart, CompleteMultipart;
        # upload → files ReserveQuota, RegisterFile
        "grpc unary": 5,
        "s3-style call": 3,  # upload → store: create, complete, HEAD
    },
}


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# ----------------------------------------------------------------------------- servers
def serve_grpc(port: int) -> None:
    import grpc
    from govault.upload.v1 import upload_pb2
    from grpc_health.v1 import health_pb2

    from common.loop import install_event_loop

    async def unary(request: health_pb2.HealthCheckRequest,
                    _context: Any) -> health_pb2.HealthCheckResponse:
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    async def stream(requests: Any, _context: Any) -> upload_pb2.UploadChunkResponse:
        received = 0
        async for message in requests:
            received += len(message.data)
        return upload_pb2.UploadChunkResponse(received_bytes=received)

    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * MIB)])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "govault.floor.v1.Floor", {
                "Unary": grpc.unary_unary_rpc_method_handler(
                    unary, health_pb2.HealthCheckRequest.FromString,
                    health_pb2.HealthCheckResponse.SerializeToString),
                "Stream": grpc.stream_unary_rpc_method_handler(
                    stream, upload_pb2.UploadChunkRequest.FromString,
                    upload_pb2.UploadChunkResponse.SerializeToString),
            }),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    install_event_loop()
    asyncio.run(main())


def serve_http(port: int) -> None:
    from aiohttp import web

    from common.loop import install_event_loop

    async def tiny(_request: web.Request) -> web.Response:
        return web.json_response({"upload_uuid": "00000000-0000-0000-0000-000000000000",
                                  "total_chunks": 1})

    async def sink(request: web.Request) -> web.Response:
        received = 0
        while chunk := await request.content.read(FRAME):
            received += len(chunk)
        return web.json_response({"received": received})

    app = web.Application(client_max_size=8 * MIB)
    app.router.add_get("/tiny", tiny)
    app.router.add_post("/sink", sink)
    install_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ----------------------------------------------------------------------------- clients
async def _load(calls: int, one: Callable[[], Awaitable[None]]) -> None:
    async def worker(n: int) -> None:
        for _ in range(n):
            await one()
    await asyncio.gather(*(worker(calls // CONCURRENCY) for _ in range(CONCURRENCY)))


async def _measure(name: str, server_pid: int, calls: int,
                   one: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    await _load(max(CONCURRENCY, calls // 20), one)  # warm up: connections, prepared paths
    server0, client0, wall0 = _cpu(server_pid), time.process_time(), time.perf_counter()
    await _load(calls, one)
    server1, client1, wall1 = _cpu(server_pid), time.process_time(), time.perf_counter()
    done = calls // CONCURRENCY * CONCURRENCY
    return {"part": name, "calls": done, "per_s": round(done / (wall1 - wall0), 1),
            "client_ms": round(1000 * (client1 - client0) / done, 3),
            "server_ms": round(1000 * (server1 - server0) / done, 3)}


def _spawn(kind: str, port: int) -> subprocess.Popen[bytes]:
    """The trivial server in a process of its own, once it listens (run in a thread)."""
    proc = subprocess.Popen([sys.executable, "-m", "loadtest.bench_floor", "--serve", kind,
                             str(port)], stdout=subprocess.DEVNULL)
    wait_port(port, 15.0)
    return proc


async def measure_grpc(calls: int, frame: int = FRAME) -> list[dict[str, Any]]:
    import grpc
    from govault.upload.v1 import upload_pb2
    from grpc_health.v1 import health_pb2

    port = free_port()
    proc = await asyncio.to_thread(_spawn, "grpc", port)
    try:
        async with grpc.aio.insecure_channel(
                f"127.0.0.1:{port}",
                options=[("grpc.max_send_message_length", 8 * MIB)]) as channel:
            unary = channel.unary_unary(
                UNARY, request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString)
            stream = channel.stream_unary(
                STREAM, request_serializer=upload_pb2.UploadChunkRequest.SerializeToString,
                response_deserializer=upload_pb2.UploadChunkResponse.FromString)
            payload = os.urandom(MIB)

            async def one_unary() -> None:
                await unary(health_pb2.HealthCheckRequest(service="upload"))

            async def one_stream() -> None:
                call = stream()
                await call.write(upload_pb2.UploadChunkRequest(
                    header=upload_pb2.ChunkHeader(upload_uuid="x", content_length=MIB)))
                for offset in range(0, MIB, frame):
                    await call.write(upload_pb2.UploadChunkRequest(
                        data=payload[offset:offset + frame]))
                await call.done_writing()
                await call

            return [await _measure("grpc unary", proc.pid, calls, one_unary),
                    await _measure("grpc stream", proc.pid, calls // 4, one_stream)]
    finally:
        proc.terminate()
        proc.wait()


async def measure_http(calls: int) -> list[dict[str, Any]]:
    import aiohttp

    port = free_port()
    proc = await asyncio.to_thread(_spawn, "http", port)
    base = f"http://127.0.0.1:{port}"
    body = os.urandom(MIB)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            async def one_request() -> None:
                async with http.get(f"{base}/tiny") as response:
                    await response.read()

            async def one_mib() -> None:
                async with http.post(f"{base}/sink", data=body) as response:
                    await response.read()

            small = await _measure("http request", proc.pid, calls, one_request)
            big = await _measure("http 1 MiB", proc.pid, calls // 4, one_mib)
        # The same requests seen from the client: the upload service's side of an S3 call.
        return [{**small, "client_ms": 0.0}, {**big, "client_ms": 0.0},
                {**small, "part": "s3-style call", "server_ms": 0.0},
                {**big, "part": "s3-style 1 MiB", "server_ms": 0.0}]
    finally:
        proc.terminate()
        proc.wait()


def measure_sha(rounds: int = 200) -> dict[str, Any]:
    data = os.urandom(MIB)
    start = time.process_time()
    for _ in range(rounds):
        hashlib.sha256(data).hexdigest()
    return {"part": "sha-256", "calls": rounds, "per_s": None,
            "client_ms": 0.0, "server_ms": round(1000 * (time.process_time() - start) / rounds, 3)}


def floors(parts: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {flow: round(sum(count * (parts[name]["client_ms"] + parts[name]["server_ms"])
                            for name, count in calls.items()), 2)
            for flow, calls in FLOWS.items()}


async def run(calls: int, frame: int = FRAME) -> dict[str, Any]:
    rows = [*await measure_grpc(calls, frame), *await measure_http(calls), measure_sha()]
    return {"parts": rows, "floor_ms_per_upload": floors({r["part"]: r for r in rows}),
            "flows": FLOWS, "stream_frame_bytes": frame, "load_average": os.getloadavg(),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4000, help="small calls per part")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--frame-bytes", type=int, default=FRAME,
                        help="bytes per message of the 1 MiB client stream")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from common.runtime import prepare_process

    prepare_process()  # gRPC's settings as the services run with them (before grpc is imported)
    if args.serve:
        (serve_grpc if args.serve[0] == "grpc" else serve_http)(int(args.serve[1]))
        return 0
    from common.loop import install_event_loop

    install_event_loop()
    result = asyncio.run(run(args.calls, args.frame_bytes))
    print("| part | calls | per s | client CPU ms | server CPU ms |\n|---|---|---|---|---|")
    for row in result["parts"]:
        print(f"| {row['part']} | {row['calls']} | {row['per_s'] or '–'} | {row['client_ms']} "
              f"| {row['server_ms']} |")
    print()
    for flow, ms in result["floor_ms_per_upload"].items():
        print(f"floor of {flow}: {ms} ms of CPU per 1 MiB upload (without PostgreSQL)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
