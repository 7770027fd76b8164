# GoVault task runner. Every target first makes sure .venv matches pyproject.toml
# (scripts/ensure-venv reinstalls only when pyproject.toml or the package list changed).
#
#   make up      the whole stack on this machine, no Docker, + Prometheus when installed
#                (Ctrl-C stops it; UP_ARGS=--no-prometheus without Prometheus; REPLICAS=2 runs
#                two instances of each gRPC service behind the edge)
#   make deps    only PostgreSQL + SeaweedFS (+ Redis), e.g. to run one service by hand
#   make test    the whole suite in named stages, each timed (scripts/test-stages): setup, lint,
#                unit, integration, e2e, cli, browser, faults, tooling, containers, k8s (own
#                stacks, other ports); `scripts/test-stages e2e` runs one stage
#   make compose-test  only the container test (docker-compose.yml built and run with podman)
#   make k8s-test  only the Helm chart on a one-node Kubernetes cluster built here (root; the
#                binaries are built once into ~/.cache/govault/k8s; docs/kubernetes.md)
#   make k8s-sweep undo what a killed k8s-test left on the host (processes, mounts, iptables…)
#   make gen     regenerate gen/ from proto/
#   make docs    regenerate docs/configuration.md's variable table from the settings classes
#   make lint    gen/ freshness, ruff, mypy (strict for the product), buf lint (when npx exists)
#   make bench   load test (SCALE=0.1 TIME_FACTOR=0.1 make bench for a short run)
#   make ghz     ghz against the running `make up` stack (installs ghz with `go install` if missing)
#   make profile CPU per upload per process + py-spy flame graphs (PROFILE_OUT=folder)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= .data
PORT_OFFSET ?= 0
REPLICAS ?= 1
PYTEST_ARGS ?=
SOURCES := $(wildcard common edge svc_auth svc_upload svc_files client cli compose loadtest tests) \
	scripts/settings_doc.py

.PHONY: help venv system-deps up deps test compose-test k8s-test k8s-prebuild k8s-sweep gen \
	check-gen docs lint bench ghz profile

help:
	@sed -n 's/^#   /  /p' $(MAKEFILE_LIST)

venv:
	@scripts/ensure-venv

system-deps:
	@scripts/ensure-system-deps

up: venv
	$(PY) -m compose.local up --data-dir $(DATA_DIR) --port-offset $(PORT_OFFSET) \
		--replicas $(REPLICAS) $(UP_ARGS)

deps: venv
	$(PY) -m compose.local deps --data-dir $(DATA_DIR) --port-offset $(PORT_OFFSET) $(UP_ARGS)

test:
	@PY=$(PY) PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test-stages

# On a machine without the cached Kubernetes binaries, their build (18 CPU-minutes: ~10-12 min
# on two idle cores, 52 min measured on a busy shared one) starts in the background, niced, so
# that it overlaps lint and the other tests; tests/k8s runs last and waits for it
# (scripts/ensure-k8s). Instant once the cache is there: a CI that keeps ~/.cache/govault/k8s
# (0.6 GB) between runs never builds again (docs/kubernetes.md, "In CI").
k8s-prebuild:
	@scripts/ensure-k8s --background

compose-test: venv system-deps
	$(PY) -m pytest -m containers tests/containers $(PYTEST_ARGS)

# `make test` runs tests/k8s as its last stage (scripts/test-stages); this runs it alone.
k8s-test: venv system-deps
	$(PY) -m pytest -m k8s tests/k8s $(PYTEST_ARGS)

k8s-sweep: venv
	$(PY) -m tests.k8s.cluster sweep

gen: venv
	PYTHON=$(PY) scripts/gen-protos

check-gen: venv
	PYTHON=$(PY) scripts/gen-protos --check

docs: venv
	$(PY) scripts/settings_doc.py

lint: venv check-gen
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(SOURCES)
	@if command -v npx >/dev/null 2>&1; then \
		echo "npx --yes @bufbuild/buf lint"; npx --yes @bufbuild/buf lint; \
	else \
		echo "lint: npx not found, skipping buf lint"; \
	fi

bench: venv
	$(if $(SCALE),SCALE=$(SCALE)) $(if $(TIME_FACTOR),TIME_FACTOR=$(TIME_FACTOR)) \
		$(PY) -m loadtest.bench $(BENCH_ARGS)

GHZ_OUT ?= loadtest/results/ghz-$(shell date -u +%Y%m%dT%H%M%SZ)

ghz: venv
	$(PY) -m loadtest.ghz --stack $(DATA_DIR) --out $(GHZ_OUT)

PROFILE_OUT ?= loadtest/results/profile-$(shell date -u +%Y%m%dT%H%M%SZ)

profile: venv
	$(PY) -m loadtest.profile --out $(PROFILE_OUT) $(PROFILE_ARGS)
