"""Upload throughput and cost benchmark (a benchmark, not a test).

For each object size (default 1 MiB and 10 MiB), in one run against one stack, at the same
client concurrency (default 8):
  raw        presigned PUT straight to the S3 store (the ceiling: what the storage can do)
  proxy      POST /api/upload/proxy/session + the chunk(s) (answer = stored and registered)
  multipart  POST /api/upload/multipart/session + PUT part(s) to S3 + /part + /complete
  tus        POST /api/upload/tus/ with the bytes (tus creation-with-upload; answer = stored
             and registered)
  seed-proxy, seed-multipart (not by default)  the seed's iteration without its think times:
             POST /auth/refresh + GET /api/files/me/owned, then the upload above
and reports uploads/s, the ratio to raw, and our CPU per upload (utime+stime of the edge,
upload and files processes, from /proc/<pid>/stat, divided by completed uploads).
Then 100 concurrent 10 MiB proxy chunks, and 100 concurrent tus PATCHes of 10 MiB: peak RSS of
edge + upload (sampled from /proc).

    python -m loadtest.bench_uploads --edge-url http://127.0.0.1:9000 \\
        --pids edge=PID,upload=PID,files=PID [--store-pid PID] [--seconds 15]

S3 access for the raw baseline comes from GOVAULT_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY /
_BUCKET / _REGION (the same variables the services read).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from minio import Minio

MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "Bench@12345"
TUS_METADATA = "filename YmVuY2guYmlu"  # bench.bin


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class Result:
    mode: str
    size: int
    uploads: int
    errors: int
    seconds: float
    cpu_s: float
    store_cpu_s: float
    cpu_by_process: dict[str, float]

    @property
    def rate(self) -> float:
        return self.uploads / self.seconds if self.seconds else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, s3_env: Mapping[str, str] | None = None
                 ) -> None:
        """`s3_env`: the GOVAULT_S3_* variables of the stack (default: this process's)."""
        self.args = args
        self.base = args.edge_url.rstrip("/")
        self.pids = {k: int(v) for k, v in (p.split("=") for p in args.pids.split(","))}
        self.store_pid = args.store_pid
        env = os.environ if s3_env is None else s3_env
        parts = urlsplit(env["GOVAULT_S3_ENDPOINT"])
        self.bucket = env.get("GOVAULT_S3_BUCKET", "govault")
        self.s3 = Minio(parts.netloc, access_key=env["GOVAULT_S3_ACCESS_KEY"],
                        secret_key=env["GOVAULT_S3_SECRET_KEY"],
                        secure=parts.scheme == "https",
                        region=env.get("GOVAULT_S3_REGION", "us-east-1"))
        self.tokens: list[str] = []
        self.refresh_tokens: list[str] = []

    def our_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids.values())

    def cpu_by_process(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def store_cpu(self) -> float:
        return cpu_seconds(self.store_pid) if self.store_pid else 0.0

    async def users(self, http: aiohttp.ClientSession, n: int) -> None:
        for _ in range(n):
            tag = uuid.uuid4().hex[:10]
            email = f"bench-{tag}@example.com"
            async with http.post(f"{self.base}/auth/signup", json={
                    "username": f"bench_{tag}", "email": email, "password": PASSWORD}) as r:
                assert r.status == 200, await r.text()
            async with http.post(f"{self.base}/auth/login",
                                 json={"email": email, "password": PASSWORD}) as r:
                assert r.status == 200, await r.text()
                body = await r.json()
                self.tokens.append(body["token"])
                self.refresh_tokens.append(body["refresh_token"])

    # one upload per mode ----------------------------------------------------------------------

    async def raw(self, http: aiohttp.ClientSession, worker: int, data: bytes,
                  digest: str) -> None:
        url = self.s3.get_presigned_url("PUT", self.bucket, f"bench/raw/{uuid.uuid4()}",
                                        expires=timedelta(minutes=15))
        async with http.put(url, data=data) as r:
            if r.status != 200:
                raise RuntimeError(f"raw PUT {r.status}")
            await r.read()

    async def proxy(self, http: aiohttp.ClientSession, worker: int, data: bytes,
                    digest: str) -> None:
        auth = {"Authorization": f"Bearer {self.tokens[worker]}"}
        async with http.post(f"{self.base}/api/upload/proxy/session", headers=auth,
                             json={"file_name": "bench.bin", "file_size_bytes": len(data)}) as r:
            if r.status != 200:
                raise RuntimeError(f"proxy session {r.status}")
            session = await r.json()
        chunk = session["chunk_size_bytes"]
        for i in range(session["total_chunks"]):
            piece = data[i * chunk:(i + 1) * chunk]
            headers = {**auth, "Upload-UUID": session["upload_uuid"],
                       "Content-Type": "application/octet-stream"}
            if session["total_chunks"] == 1:
                headers["Checksum"] = digest
            async with http.post(f"{self.base}/api/upload/proxy/chunk?id={i}", data=piece,
                                 headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"proxy chunk {r.status}: {await r.text()}")
                body = await r.json()
        if body["status"] != "completed":
            raise RuntimeError("not completed")

    async def multipart(self, http: aiohttp.ClientSession, worker: int, data: bytes,
                        digest: str) -> None:
        auth = {"Authorization": f"Bearer {self.tokens[worker]}"}
        async with http.post(f"{self.base}/api/upload/multipart/session", headers=auth, json={
                "file_name": "bench.bin", "file_size_bytes": len(data),
                "part_size_bytes": self.args.part_size}) as r:
            if r.status != 200:
                raise RuntimeError(f"multipart session {r.status}")
            session = await r.json()
        size = min(self.args.part_size, len(data))
        for part in session["parts"]:
            n = part["part_number"]
            piece = data[(n - 1) * size:n * size]
            async with http.put(part["url"], data=piece) as r:
                if r.status != 200:
                    raise RuntimeError(f"part PUT {r.status}")
                etag = r.headers["ETag"].strip('"')
            async with http.post(f"{self.base}/api/upload/multipart/part", headers=auth, json={
                    "upload_uuid": session["upload_uuid"], "part_number": n,
                    "size_bytes": len(piece), "etag": etag}) as r:
                if r.status != 200:
                    raise RuntimeError(f"register {r.status}")
        async with http.post(f"{self.base}/api/upload/multipart/complete", headers=auth,
                             json={"upload_uuid": session["upload_uuid"]}) as r:
            if r.status != 200:
                raise RuntimeError(f"complete {r.status}")

    async def tus(self, http: aiohttp.ClientSession, worker: int, data: bytes,
                  digest: str) -> None:
        async with http.post(f"{self.base}/api/upload/tus/", data=data, headers={
                "Authorization": f"Bearer {self.tokens[worker]}", "Tus-Resumable": "1.0.0",
                "Upload-Length": str(len(data)), "Upload-Metadata": TUS_METADATA,
                "Content-Type": "application/offset+octet-stream"}) as r:
            if r.status != 201 or r.headers.get("Upload-Offset") != str(len(data)):
                raise RuntimeError(f"tus creation-with-upload {r.status}: {await r.text()}")

    # the seed's iteration without its think times: refresh, list, then the upload --------------

    async def _seed(self, http: aiohttp.ClientSession, worker: int) -> None:
        async with http.post(f"{self.base}/auth/refresh",
                             json={"refresh_token": self.refresh_tokens[worker]}) as r:
            if r.status != 200:
                raise RuntimeError(f"refresh {r.status}")
            body = await r.json()
        self.tokens[worker], self.refresh_tokens[worker] = body["token"], body["refresh_token"]
        async with http.get(f"{self.base}/api/files/me/owned?page=1",
                            headers={"Authorization": f"Bearer {self.tokens[worker]}"}) as r:
            if r.status != 200:
                raise RuntimeError(f"list {r.status}")
            await r.read()

    async def seed_proxy(self, http: aiohttp.ClientSession, worker: int, data: bytes,
                         digest: str) -> None:
        await self._seed(http, worker)
        await self.proxy(http, worker, data, digest)

    async def seed_multipart(self, http: aiohttp.ClientSession, worker: int, data: bytes,
                             digest: str) -> None:
        await self._seed(http, worker)
        await self.multipart(http, worker, data, digest)

    # runs -------------------------------------------------------------------------------------

    async def run_mode(self, http: aiohttp.ClientSession, mode: str, size: int,
                       seconds: float) -> Result:
        op: Callable[[aiohttp.ClientSession, int, bytes, str], Awaitable[None]] = getattr(
            self, mode.replace("-", "_"))
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        await op(http, 0, data, digest)  # warm-up
        uploads = errors = 0
        stop_at = 0.0

        async def worker(w: int) -> None:
            nonlocal uploads, errors
            while time.monotonic() < stop_at:
                try:
                    await op(http, w, data, digest)
                    uploads += 1
                except Exception as exc:
                    errors += 1
                    if errors <= 3:
                        print(f"  {mode} error: {exc}", flush=True)

        cpu0, store0, by0 = self.our_cpu(), self.store_cpu(), self.cpu_by_process()
        start = time.monotonic()
        stop_at = start + seconds
        await asyncio.gather(*(worker(w) for w in range(self.args.concurrency)))
        elapsed = time.monotonic() - start
        by1 = self.cpu_by_process()
        return Result(mode, size, uploads, errors, elapsed, self.our_cpu() - cpu0,
                      self.store_cpu() - store0, {k: by1[k] - by0[k] for k in by1})

    async def sample_rss(self, work: Awaitable[list[int]]) -> tuple[int, dict[str, int]]:
        """Peak RSS of edge + upload (and of each) while `work` runs."""
        peak = 0
        each = {"edge": 0, "upload": 0}
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                now = {name: rss_bytes(self.pids[name]) for name in each}
                peak = max(peak, sum(now.values()))
                for name, value in now.items():
                    each[name] = max(each[name], value)
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        statuses = await work
        done.set()
        await sampler
        bad = [s for s in statuses if s not in (200, 204)]
        if bad:
            print(f"  rss run: {len(bad)} failed answers: {sorted(set(bad))}")
        return peak, each

    async def peak_rss_tus(self, http: aiohttp.ClientSession, n: int) -> tuple[int, dict[str, int]]:
        """n concurrent tus PATCHes of 10 MiB (into 20 MiB uploads: the S3 part path)."""
        data = os.urandom(10 * MIB)
        headers = [{"Authorization": f"Bearer {t}", "Tus-Resumable": "1.0.0"}
                   for t in self.tokens]
        urls = []
        for i in range(n):
            while True:  # a busy machine may refuse one (503): ask again
                async with http.post(f"{self.base}/api/upload/tus/", headers={
                        **headers[i % 8], "Upload-Length": str(20 * MIB),
                        "Upload-Metadata": TUS_METADATA}) as r:
                    if r.status == 201:
                        urls.append((i % 8, self.base + r.headers["Location"]))
                        break
                await asyncio.sleep(0.5)

        async def send(user: int, url: str) -> int:
            async with http.patch(url, data=data, headers={
                    **headers[user], "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream"}) as r:
                await r.read()
                return r.status

        return await self.sample_rss(asyncio.gather(*(send(u, url) for u, url in urls)))

    async def peak_rss(self, http: aiohttp.ClientSession, n: int,
                       chunk_index: int) -> tuple[int, dict[str, int]]:
        """n concurrent 10 MiB proxy chunks (of 20 MiB sessions when chunk_index is 0, so the
        S3 part path; of 10 MiB sessions otherwise, the single-PUT path)."""
        size = 20 * MIB if chunk_index == 0 else 10 * MIB
        data = os.urandom(10 * MIB)
        auth = [{"Authorization": f"Bearer {t}"} for t in self.tokens]
        sessions = []
        for i in range(n):
            async with http.post(f"{self.base}/api/upload/proxy/session", headers=auth[i % 8],
                                 json={"file_name": "rss.bin", "file_size_bytes": size,
                                       "chunk_size_bytes": 10 * MIB}) as r:
                sessions.append((i % 8, (await r.json())["upload_uuid"]))

        async def send(user: int, uid: str) -> int:
            async with http.post(f"{self.base}/api/upload/proxy/chunk?id=0", data=data,
                                 headers={**auth[user], "Upload-UUID": uid}) as r:
                await r.read()
                return r.status

        return await self.sample_rss(asyncio.gather(*(send(u, s) for u, s in sessions)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edge-url", default="http://127.0.0.1:9000")
    parser.add_argument("--pids", required=True, help="edge=PID,upload=PID,files=PID")
    parser.add_argument("--store-pid", type=int, default=0, help="the S3 store's pid (info)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0, help="per mode and size")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--sizes", default="1048576,10485760")
    parser.add_argument("--part-size", type=int, default=100 * MIB,
                        help="multipart part size (the original client: 100 MiB)")
    parser.add_argument("--modes", default="raw,proxy,multipart,tus")
    parser.add_argument("--rss-chunks", type=int, default=100, help="0 skips the RSS run")
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args()
    bench = Bench(args)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await bench.users(http, max(8, args.concurrency))
        results: list[Result] = []
        # Modes are interleaved in rounds so that a change in machine load (a shared box) hits
        # every mode alike; each mode runs --seconds in total.
        for size in (int(s) for s in args.sizes.split(",")):
            per_mode: dict[str, list[Result]] = {}
            for _ in range(args.rounds):
                for mode in args.modes.split(","):
                    per_mode.setdefault(mode, []).append(
                        await bench.run_mode(http, mode, size, args.seconds / args.rounds))
            for mode, runs in per_mode.items():
                result = Result(mode, size, sum(r.uploads for r in runs),
                                sum(r.errors for r in runs), sum(r.seconds for r in runs),
                                sum(r.cpu_s for r in runs), sum(r.store_cpu_s for r in runs),
                                {k: sum(r.cpu_by_process[k] for r in runs)
                                 for k in runs[0].cpu_by_process})
                results.append(result)
                per = max(1, result.uploads)
                print(f"{mode:9s} {size / MIB:6.2f} MiB  {result.rate:7.1f} uploads/s  "
                      f"errors {result.errors}  our CPU {1000 * result.cpu_s / per:6.2f} ms"
                      f"  store CPU {1000 * result.store_cpu_s / per:6.2f} ms per upload  ("
                      + ", ".join(f"{k} {1000 * v / per:.2f}"
                                  for k, v in result.cpu_by_process.items()) + ")",
                      flush=True)
        print("\n| size | mode | uploads/s | ratio to raw | our CPU ms/upload "
              "| store CPU ms/upload | errors |")
        print("|---|---|---|---|---|---|---|")
        table: list[dict[str, Any]] = []
        for r in results:
            raw = next((x for x in results if x.size == r.size and x.mode == "raw"), None)
            ratio = r.rate / raw.rate if raw and raw.rate else float("nan")
            row = {"size_bytes": r.size, "mode": r.mode, "uploads_per_s": round(r.rate, 1),
                   "ratio_to_raw": round(ratio, 3),
                   "our_cpu_ms_per_upload": round(1000 * r.cpu_s / max(1, r.uploads), 2),
                   "store_cpu_ms_per_upload": round(1000 * r.store_cpu_s / max(1, r.uploads), 2),
                   "errors": r.errors}
            table.append(row)
            print(f"| {r.size / MIB:g} MiB | {r.mode} | {row['uploads_per_s']} | "
                  f"{row['ratio_to_raw']} | {row['our_cpu_ms_per_upload']} | "
                  f"{row['store_cpu_ms_per_upload']} | {r.errors} |")
        rss: dict[str, float] = {}
        if args.rss_chunks:
            for label, index in (("part_path", 0), ("single_put_path", 1), ("tus_patch", -1)):
                peak, each = await (bench.peak_rss_tus(http, args.rss_chunks) if index < 0
                                    else bench.peak_rss(http, args.rss_chunks, index))
                rss[label] = round(peak / MIB, 1)
                what = "tus PATCHes" if index < 0 else "proxy chunks"
                print(f"peak RSS edge+upload, {args.rss_chunks} concurrent 10 MiB {what} "
                      f"({label}): {peak / MIB:.0f} MiB (peaks alone: edge "
                      f"{each['edge'] / MIB:.0f}, upload {each['upload'] / MIB:.0f})",
                      flush=True)
        if args.json:
            text = json.dumps({"results": table, "peak_rss_mib": rss, "args": vars(args)},
                              indent=2)
            await asyncio.to_thread(Path(args.json).write_text, text)


if __name__ == "__main__":
    asyncio.run(main())
