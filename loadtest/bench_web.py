"""The web page's large-file upload, multipart against tus, in the browser (a benchmark, not a
test): decides whether the page should send large files by tus (issue 24).

It starts a stack of its own (port offset --port-offset), opens the page in Debian's Chromium
(Playwright, as tests/browser does) and, alternating for --rounds, uploads one file of --size
(built in the page, never read from disk) with
  multipart  the page's own `Upload` (edge/web/upload.js: a file over PROXY_MAX_BYTES goes
             straight to the store in parts PUT 4 at a time to presigned URLs, then complete)
  tus        tus 1.0 as tus-js-client and Uppy send it by default: POST (creation), then the
             whole file in one PATCH through the edge and the upload service
  tus-N      the same in PATCHes of N MiB (--tus-chunks N,…: what a page would send to keep
             a retried request short)
each answered once the file is stored and registered, and reports MiB/s and the CPU our
processes (edge, upload, files, auth) and the store spent per MiB, all from the same run.

    python -m loadtest.bench_web [--size 256MiB] [--rounds 3] [--tus-chunks 16]
        [--port-offset 5050] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from cli.transfer_commands import parse_bytes
from loadtest.bench_uploads import CLK_TCK, MIB, PASSWORD
from loadtest.settings import BENCH_ENVIRON

OURS = ("edge", "upload", "files", "auth")

# In the page: the page's own modules, a file of `size` bytes, one upload, its duration.
UPLOAD = """async ({ mode, size, chunk, session }) => {
  localStorage.setItem("govault.session", JSON.stringify(session));
  const { Api } = await import("/web/api.js");
  const { Pending, Upload } = await import("/web/upload.js");
  const piece = new Uint8Array(1024 * 1024);
  crypto.getRandomValues(piece.subarray(0, 65536));
  for (let i = 65536; i < piece.length; i += 65536) piece.copyWithin(i, 0, 65536);
  const file = new File(Array(Math.ceil(size / piece.length)).fill(piece).map(
    (p, i) => (i + 1) * p.length > size ? p.subarray(0, size - i * p.length) : p),
    `web-${mode}-${Date.now()}.bin`, { lastModified: Date.now() });
  const api = new Api(() => {});
  const started = performance.now();
  if (mode === "multipart") {
    const upload = new Upload(api, new Pending(session.user.user_id), file, () => {});
    await upload.start();
    if (upload.state !== "completed") throw new Error(`${upload.state}: ${upload.error}`);
    return { ms: performance.now() - started, method: upload.method };
  }
  const auth = { Authorization: `Bearer ${session.token}`, "Tus-Resumable": "1.0.0" };
  const created = await fetch("/api/upload/tus/", { method: "POST", headers: {
    ...auth, "Upload-Length": String(size), "Upload-Metadata": "filename " + btoa(file.name) } });
  if (created.status !== 201) throw new Error(`tus POST ${created.status}`);
  const url = created.headers.get("Location");
  const step = chunk || size;
  for (let offset = 0; offset < size; offset += step) {
    const answer = await fetch(url, { method: "PATCH", body: file.slice(offset, offset + step),
      headers: { ...auth, "Upload-Offset": String(offset),
                 "Content-Type": "application/offset+octet-stream" } });
    if (answer.status !== 204) throw new Error(`PATCH ${answer.status} ${await answer.text()}`);
  }
  return { ms: performance.now() - started, method: "tus" };
}"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def session_for(edge_url: str) -> dict[str, Any]:
    """A new user's session as the page keeps it in localStorage (edge/web/api.js)."""
    tag = uuid.uuid4().hex[:10]
    email = f"web-{tag}@example.com"
    post(f"{edge_url}/auth/signup",
         {"username": f"web_{tag}", "email": email, "password": PASSWORD})
    tokens = post(f"{edge_url}/auth/login", {"email": email, "password": PASSWORD})
    request = urllib.request.Request(f"{edge_url}/auth/me",
                                     headers={"Authorization": f"Bearer {tokens['token']}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        user = json.loads(response.read())
    return {"token": tokens["token"], "refresh_token": tokens["refresh_token"],
            "expires_at": time.time() + tokens.get("expires_in", 900), "user": user}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_web", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="256MiB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tus-chunks", default="16", help="MiB per PATCH, comma-separated "
                        "(besides the whole file); empty: none")
    parser.add_argument("--port-offset", type=int, default=5050)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    size = parse_bytes(args.size)
    modes: list[tuple[str, int]] = [("multipart", 0), ("tus", 0)]
    modes += [(f"tus-{n}", int(n) * MIB) for n in args.tus_chunks.split(",") if n]

    from playwright.sync_api import sync_playwright

    from compose import Stack

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: scripts/ensure-system-deps installs it")

    data_dir = Path(tempfile.mkdtemp(prefix="govault-bench-web-"))
    data_dir.chmod(0o755)  # PostgreSQL's own user must reach its data directory
    stack = Stack(data_dir, args.port_offset, prometheus=False, environ=BENCH_ENVIRON)
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode, _ in modes}
    try:
        stack.start()
        pids = {name: int(stack.pid(name) or 0) for name in (*OURS, "seaweedfs")}
        session = session_for(stack.edge_url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium,
                                                 args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(stack.edge_url + "/")
            for round_ in range(args.rounds):
                for mode, chunk in modes:
                    ours0 = sum(cpu_seconds(pids[n]) for n in OURS)
                    store0 = cpu_seconds(pids["seaweedfs"])
                    done = page.evaluate(UPLOAD, {"mode": mode.split("-")[0], "size": size,
                                                  "chunk": chunk, "session": session})
                    mib = size / MIB
                    run = {"mib_per_s": mib / (done["ms"] / 1000),
                           "our_cpu_ms_per_mib":
                               1000 * (sum(cpu_seconds(pids[n]) for n in OURS) - ours0) / mib,
                           "store_cpu_ms_per_mib":
                               1000 * (cpu_seconds(pids["seaweedfs"]) - store0) / mib}
                    runs[mode].append(run)
                    print(f"round {round_ + 1} {mode:10s} ({done['method']}) "
                          f"{run['mib_per_s']:6.1f} MiB/s  our CPU "
                          f"{run['our_cpu_ms_per_mib']:6.2f} ms/MiB  store CPU "
                          f"{run['store_cpu_ms_per_mib']:6.2f} ms/MiB", flush=True)
            browser.close()
    except Exception:
        for log in sorted(Path(stack.log_dir).glob("*.log")):
            print(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-8:]))
        raise
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    base = statistics.median(r["mib_per_s"] for r in runs["multipart"])
    print(f"\n{args.size} in Chromium, medians of {args.rounds} rounds\n"
          "| mode | MiB/s | ÷ multipart | our CPU ms/MiB | store CPU ms/MiB |\n"
          "|---|---|---|---|---|")
    table = []
    for mode, _ in modes:
        row = {key: round(statistics.median(r[key] for r in runs[mode]), 2)
               for key in runs[mode][0]}
        row["ratio_to_multipart"] = round(row["mib_per_s"] / base, 2)
        table.append({"mode": mode, **row})
        print(f"| {mode} | {row['mib_per_s']} | {row['ratio_to_multipart']} | "
              f"{row['our_cpu_ms_per_mib']} | {row['store_cpu_ms_per_mib']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": table, "runs": runs,
                                               "args": vars(args)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
