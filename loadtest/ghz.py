"""ghz runs of internal gRPC methods, straight at the services (no edge in the path).

    python -m loadtest.ghz --stack .data --out loadtest/results/ghz-<timestamp>

Configurations live in loadtest/ghz/*.json (ghz's own config format) with `${NAME}`
placeholders, filled in here: service addresses from the stack, a fresh test account (`EMAIL`,
`PASSWORD`), its access token (`TOKEN`, sent as `authorization: Bearer …` metadata as every
service verifies the caller itself) and, for Refresh, one fresh refresh token per request
(`REFRESH_TOKENS`: rotation makes a reused token a theft signal that revokes the family, so
ghz round-robins over a list as long as the run) and, for Login, the stack's service credential
(`SERVICE_TOKEN`: Login trusts the client address it is told only from a credential holder).
Protos come from proto/ (`--proto`, `--import-paths proto`), so reflection is not needed.

ghz is found on PATH or in $(go env GOPATH)/bin, and installed with
`go install github.com/bojand/ghz/cmd/ghz@latest` when missing. Each run writes
<out>/<config>.json (ghz's JSON report) and <out>/summary.md (count, RPS, p50/p95/p99, errors).
CreateMultipartSession opens real S3 multipart uploads; they stay pending until their sessions
expire and the reaper aborts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from loadtest.target import REPO_ROOT, Target, TargetError
from loadtest.users import PASSWORD, register

CONFIG_DIR = Path(__file__).resolve().parent / "ghz"
GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz@latest"
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def find_ghz(install: bool = True) -> str:
    found = shutil.which("ghz")
    if found:
        return found
    go = shutil.which("go")
    gopath = ""
    if go:
        gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True,
                                check=False).stdout.strip()
        candidate = Path(gopath) / "bin" / "ghz"
        if candidate.exists():
            return str(candidate)
    if not install or not go:
        raise TargetError("ghz not found and Go is not installed to build it "
                          f"(go install {GHZ_MODULE})")
    print(f"ghz: installing with go install {GHZ_MODULE} …", file=sys.stderr)
    subprocess.run([go, "install", GHZ_MODULE], check=True)
    return str(Path(gopath) / "bin" / "ghz")


def fill(value: Any, values: dict[str, Any]) -> Any:
    """Replace ${NAME} placeholders: a string that is exactly one placeholder takes the value's
    JSON type (a list, a number); otherwise placeholders are substituted as text."""
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), value)
    return value


async def _credentials(edge: str, refresh_count: int) -> dict[str, Any]:
    [account] = await register(edge, 1, f"ghz{uuid.uuid4().hex[:8]}")
    tokens: list[dict[str, str]] = []
    async with aiohttp.ClientSession() as session:
        sem = asyncio.Semaphore(8)

        async def login() -> None:
            async with sem, session.post(f"{edge}/auth/login", json={
                    "email": account["email"], "password": PASSWORD}) as resp:
                resp.raise_for_status()
                tokens.append({"refresh_token": (await resp.json())["refresh_token"]})
        await asyncio.gather(*(login() for _ in range(refresh_count)))
    return {"EMAIL": account["email"], "PASSWORD": PASSWORD, "TOKEN": account["token"],
            "REFRESH_TOKENS": tokens, "REFRESH_TOKENS_COUNT": len(tokens)}


def redact(data: dict[str, Any]) -> dict[str, Any]:
    """ghz echoes its options (tokens in metadata, refresh tokens in data) and every request's
    details; the saved report keeps the numbers, not the credentials nor 5000 detail rows."""
    options = data.get("options") or {}
    metadata = options.get("metadata")
    if isinstance(metadata, dict):
        if "authorization" in metadata:
            metadata["authorization"] = "Bearer <redacted>"
        if "x-govault-service" in metadata:
            metadata["x-govault-service"] = "<redacted>"
    if "data" in options:
        options["data"] = "<redacted>"
    data.pop("details", None)
    return data


def summarize(name: str, data: dict[str, Any]) -> dict[str, Any]:
    lat = {f"p{int(d['percentage'])}": d["latency"] / 1e6
           for d in data.get("latencyDistribution") or []}
    return {
        "config": name, "name": data.get("name", name), "count": data.get("count", 0),
        "rps": round(float(data.get("rps", 0.0)), 1),
        "average_ms": round(data.get("average", 0) / 1e6, 2),
        "p50_ms": round(lat.get("p50", 0.0), 2), "p95_ms": round(lat.get("p95", 0.0), 2),
        "p99_ms": round(lat.get("p99", 0.0), 2),
        "status": data.get("statusCodeDistribution", {}),
        "errors": data.get("errorDistribution") or {},
    }


def run_all(target: Target, out: Path, configs: list[str] | None = None,
            refresh_count: int = 200) -> list[dict[str, Any]]:
    ghz = find_ghz()
    out.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "AUTH_ADDR": target.grpc_addrs["auth"], "FILES_ADDR": target.grpc_addrs["files"],
        "UPLOAD_ADDR": target.grpc_addrs["upload"],
        # Login trusts the client address only from a holder of the service credential
        "SERVICE_TOKEN": target.env.get("GOVAULT_SERVICE_TOKEN", ""),
        **asyncio.run(_credentials(target.edge_url, refresh_count)),
    }
    results: list[dict[str, Any]] = []
    for path in sorted(CONFIG_DIR.glob("*.json")):
        if configs and path.stem not in configs:
            continue
        config = fill(json.loads(path.read_text()), values)
        config["proto"] = str(REPO_ROOT / config["proto"])
        config["import-paths"] = [str(REPO_ROOT / p) for p in config.get("import-paths", [])]
        report_path = out / f"{path.stem}.json"
        config.update({"format": "json", "output": str(report_path)})
        resolved = out / f"{path.stem}.config.json"
        resolved.write_text(json.dumps(config, indent=1) + "\n")
        os.chmod(resolved, 0o600)  # holds a live token
        print(f"ghz: {config['call']} ({config.get('total')} calls, "
              f"concurrency {config.get('concurrency')}) …", file=sys.stderr, flush=True)
        proc = subprocess.run([ghz, "--config", str(resolved)], cwd=REPO_ROOT,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not report_path.exists():
            results.append({"config": path.stem, "error": (proc.stderr or proc.stdout)[-1000:]})
            continue
        data = redact(json.loads(report_path.read_text()))
        # Keep saved reports free of this checkout's absolute path (ghz echoes the proto paths).
        text = json.dumps(data, indent=1).replace(f"{REPO_ROOT}/", "")
        report_path.write_text(text + "\n")
        results.append(summarize(path.stem, data))
    lines = ["| method | calls | RPS | avg | p50 | p95 | p99 | status codes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['config']} | — | — | — | — | — | — | error: "
                         f"{r['error'].strip().splitlines()[-1] if r['error'].strip() else '?'} |")
            continue
        lines.append(f"| {r['name']} | {r['count']} | {r['rps']} | {r['average_ms']} ms "
                     f"| {r['p50_ms']} ms | {r['p95_ms']} ms | {r['p99_ms']} ms | {r['status']} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.ghz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="launcher data dir or its stack.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", default="", help="comma-separated config names")
    parser.add_argument("--refresh-tokens", type=int, default=200)
    args = parser.parse_args(argv)
    only = [c for c in args.only.split(",") if c] or None
    results = run_all(Target.from_stack_file(args.stack), Path(args.out), only,
                      args.refresh_tokens)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
