# The two commands a fresh machine needs (README.md):
#   make run    - install into .venv and run the daemon on tyk.conf.example (in-memory state)
#   make test   - install what the tests need (redis-server included) and run them
.PHONY: run test coverage lint bench bench-ab bench-setup bench-targets clean soak soak-fuzz soak-udp soak-lossless

run:
	./scripts/setup.sh
	.venv/bin/tykevents run -c tyk.conf.example

# The test command: the tools that keep the shape, then the suite on two workers (a file's
# tests stay on one worker: they share its fixtures and daemons). Coverage is its own target:
# tracing doubles the suite's time and slows the daemons the tests time.
test:
	./scripts/setup.sh --test
	$(MAKE) --no-print-directory lint
	.venv/bin/python -m pytest -n 2 --dist loadfile

# The suite with its coverage figure (the daemons the end-to-end tests start are measured too).
coverage:
	rm -f .coverage .coverage.*
	.venv/bin/python -m pytest -n 2 --dist loadfile --cov --cov-report=term

# ruff (lint and format), mypy and the import contract (layers, no cycles): CONTRIBUTING.md.
lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports --no-cache

# Benchmarks live outside the test run; each prints figures beside a same-run reference.
bench:
	.venv/bin/python -m pytest bench/bench_*.py --benchmark-enable -q
	.venv/bin/python bench/udp_throughput.py
	.venv/bin/python bench/bench_ingest_loop.py
	.venv/bin/python bench/bench_webhook.py
	.venv/bin/python bench/bench_jsvm.py
	.venv/bin/python bench/quota_throughput.py
	.venv/bin/python bench/bench_cooldown_store.py
	.venv/bin/python bench/bench_deadlines.py
	.venv/bin/python bench/bench_webhook_workers.py
	if command -v strace >/dev/null; then .venv/bin/python bench/bench_syscalls.py; \
	else echo "bench_syscalls: skipped, strace is not installed (make bench-setup)"; fi

# The webhook targets in one run, each beside its same-run reference (bench/bench_targets.py,
# docs/operations.md#benchmarking-the-webhook-path; `make bench-targets ARGS=--quick`).
# bench-setup installs Go (Debian's golang-go: only the bench needs it, never the tests) and
# builds Tyk's Go event path, tyk-anchor, into build/bench/ (git-ignored); it also installs
# strace, which bench/bench_syscalls.py counts with.
TYK_ANCHOR_SRC ?= ../shared/tools/tyk-anchor
BENCH_DIR := build/bench
bench-setup:
	command -v go >/dev/null || (apt-get update && apt-get install -y golang-go)
	command -v strace >/dev/null || (apt-get update && apt-get install -y strace)
	mkdir -p $(BENCH_DIR)
	cd $(TYK_ANCHOR_SRC) && GOCACHE=$(abspath $(BENCH_DIR))/gocache GOTOOLCHAIN=local \
		go build -o $(abspath $(BENCH_DIR))/tyk-anchor .

# This tree against another revision (default: the commit before), bursts on each in turn
# (bench/bench_ab.py; `make bench-ab BASE=4550755 ARGS="--redis --rounds 10"`).
BASE ?= HEAD~1
bench-ab:
	.venv/bin/python bench/bench_ab.py --base $(BASE) $(ARGS)

bench-targets:
	TYK_ANCHOR_SRC=$(abspath $(TYK_ANCHOR_SRC)) .venv/bin/python bench/bench_targets.py \
		--tyk-anchor $(BENCH_DIR)/tyk-anchor $(ARGS)

clean:
	rm -rf .venv build *.egg-info var .coverage .coverage.* .mypy_cache .ruff_cache tykevents/_fast/*.so tykevents/_fast/*_c.c bench/loadgen

# Soak runs: long, outside the test run, each stops by itself and exits non-zero on a failure.
soak: soak-fuzz soak-udp soak-lossless

# 10^6 generated records (valid, deep, bad UTF-8, wrong types, garbage...) over every
# transport against the real daemon; asserts every record is accounted (bench/fuzz_ingest.py).
soak-fuzz:
	.venv/bin/python bench/fuzz_ingest.py --records 1000000

# UDP at twice the deliverable rate for 60 s: every record handled or counted as dropped.
soak-udp:
	.venv/bin/python bench/udp_overload.py --seconds 60

# 200,000 events over TCP to a slow receiver: all delivered once, the sender held back.
soak-lossless:
	.venv/bin/python bench/lossless_tcp.py --count 200000

# The coprocess gRPC modules (tykevents/ingest/grpc/): regenerate them after editing
# coprocess.proto (grpcio-tools and mypy-protobuf, from the test extra); a test fails while
# the committed ones are stale.
.PHONY: proto
proto:
	.venv/bin/python -m tykevents.ingest.grpc.generate
