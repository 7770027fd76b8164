"""Load testing GoVault: the seed's k6 method rebuilt on Locust, plus what the seed lacked.

    python -m loadtest.bench                      # baseline, proxy, multipart, tus: fresh stack
    python -m loadtest.report loadtest/results/<timestamp>
    python -m loadtest.audit --stack <data-dir> --results <run-dir>/<strategy>
    python -m loadtest.ghz --stack <data-dir> --out <dir>

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

It drives a running stack only over its public interfaces (REST, S3, the services' CLIs); it
imports no service code and only ever targets 127.0.0.1.
"""
