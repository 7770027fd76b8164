"""Load testing GoVault: the seed's k6 method rebuilt on Locust, plus what the seed lacked.

    python -m loadtest.bench                      # baseline, proxy, multipart, tus: fresh stack
    python -m loadtest.report loadtest/results/<timestamp>
    python -m loadtest.audit --stack <data-dir> --results <run-dir>/<strategy>
    python -m loadtest.ghz --stack <data-dir> --out <dir>
    python -m loadtest.runs shape|seed-full|seed-full-minio [--tree <before>]   # quiet machine
    python -m loadtest.ab --before <tree> --after <tree>   # two builds, alternating windows

Modules:
  settings.py   the knobs (SCALE, TIME_FACTOR, SHAPE, STRATEGY, FILE_SIZE, ...), read once from env
  shapes.py     the seed's stress/load/spike stages as pure functions (+ the Locust shape class)
  target.py     where the stack under test is (edge URL, S3 keys, service env), from stack.json
  users.py      concurrent signup + login of the test accounts (asyncio), written to users.json
  payload.py    upload bodies: random bytes, unique per iteration, chunked without big copies
  record.py     truthful counting: checks, iterations, successful uploads, per-stage histograms
  locustfile.py the virtual-user loop (refresh, list, upload, confirm) for each strategy
  audit.py      after a run: reaper, then client successes vs file rows vs objects (ghosts, orphans)
  report.py     the seed's comparative table (+ iterations/s, ratio to baseline, audit) and charts
  bench.py      one command: fresh stack, the strategy matrix, audits, report
  ghz.py        ghz runs of internal gRPC methods (configs in ghz/*.json)
  cpu.py        CPU seconds of every stack process (and the load generator) from /proc
  saturation.py the services' wait histograms (loop lag, pool waits, store calls) per stage
  treestack.py  a stack run from another source tree (the build before a change)
  runs.py       the quiet-machine run sets, each strategy on a fresh stack
  ab.py         two builds side by side, CPU per upload compared in alternating windows
  (profile.py, bench_uploads.py, bench_floor.py, bench_auth.py, bench_cli.py: single-stack
  benchmarks; docs/performance.md says which to use when)

It drives a running stack only over its public interfaces (REST, S3, the services' CLIs and
/metrics, /proc for CPU); it imports no service code and only ever targets 127.0.0.1.
"""
