# climate-tracker — the two commands a newcomer needs are `make run` and `make test`.

CARGO ?= cargo
BIND ?= 127.0.0.1:8080
DATABASE_URL ?= sqlite://climate-tracker.db?mode=rwc
VENV := target/venv

.PHONY: run demo test test-tools check fmt clippy openapi openapi-check openapi-validate build clean bench

## Build and serve on SQLite with the reference data.
run:
	$(CARGO) build --release
	CLIMATE_TRACKER_DATABASE_URL='$(DATABASE_URL)' CLIMATE_TRACKER_BIND='$(BIND)' ./target/release/climate-tracker serve

## The demo: reference data plus marked sample projects, grants and payments on
## climate-tracker-demo.db, served with a fixed demo admin token and a new viewer token.
DEMO_DATABASE_URL ?= sqlite://climate-tracker-demo.db?mode=rwc
DEMO_ADMIN_TOKEN ?= ctk_demo-admin-not-a-secret
demo:
	$(CARGO) build --release
	CLIMATE_TRACKER_DATABASE_URL='$(DEMO_DATABASE_URL)' ./target/release/climate-tracker seed demo
	@viewer=$$(CLIMATE_TRACKER_DATABASE_URL='$(DEMO_DATABASE_URL)' ./target/release/climate-tracker token create --name 'demo viewer' --role viewer 2>/dev/null) && \
	echo && \
	echo "  climate-tracker demo: sample data, the amounts are not real" && \
	echo "  dashboard  http://$(BIND)/       paste the viewer token" && \
	echo "  API docs   http://$(BIND)/docs   Authorize with either token" && \
	echo "  viewer token (new, read-only):  $$viewer" && \
	echo "  admin token (fixed, demo only): $(DEMO_ADMIN_TOKEN)" && \
	echo && \
	CLIMATE_TRACKER_DATABASE_URL='$(DEMO_DATABASE_URL)' CLIMATE_TRACKER_BIND='$(BIND)' \
	CLIMATE_TRACKER_ADMIN_TOKEN='$(DEMO_ADMIN_TOKEN)' ./target/release/climate-tracker serve

## Every test, on SQLite; on PostgreSQL too when TEST_POSTGRES_URL is set.
## The browser test needs Chromium and chromedriver, the IATI export test xmllint (Debian packages).
test: test-tools
	$(CARGO) test --workspace --all-targets

test-tools:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v xmllint >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver libxml2-utils)

## fmt, clippy -D warnings and the OpenAPI drift check (what CI checks).
check: fmt clippy openapi-check

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Regenerate the committed OpenAPI document from the code.
openapi:
	$(CARGO) run --quiet -- openapi > openapi/openapi.json

openapi-check:
	$(CARGO) run --quiet -- openapi | diff -u openapi/openapi.json - \
		|| (echo "openapi/openapi.json is stale: run 'make openapi'" && exit 1)

## Validate the document with a real OpenAPI validator (openapi-spec-validator from PyPI).
openapi-validate:
	test -x $(VENV)/bin/openapi-spec-validator || (python3 -m venv $(VENV) && $(VENV)/bin/pip install --quiet openapi-spec-validator)
	$(VENV)/bin/openapi-spec-validator openapi/openapi.json

build:
	$(CARGO) build --release

clean:
	$(CARGO) clean

## Benchmarks: synthetic data at SCALE (default 10), wrk at 64 connections, both backends -> BENCHMARKS.md.
bench:
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(CARGO) build --release --bins
	python3 bench/bench.py

.PHONY: fuzz-api soak bench-slowlink

## The dashboard and a partner's project status in headless Chromium over an emulated satellite
## link (600 ms RTT, 1 Mbit/s down, 256 kbit/s up, 1% loss), and a POST whose answer is lost,
## retried with its Idempotency-Key -> the "Slow link" section of BENCHMARKS.md. Needs root.
bench-slowlink: test-tools
	$(CARGO) build --release --bin climate-tracker
	python3 bench/slowlink.py

## Schemathesis from the service's own /openapi.json, SQLite then a fresh PostgreSQL database
## (TEST_POSTGRES_URL): no 5xx, every response as documented. FUZZ_SECONDS per backend (default 90).
fuzz-api:
	scripts/fuzz-api.sh

## Sustained mixed read/write load on the release build: wrk, 64 connections, 60 s per backend,
## server memory sampled every 5 s, books checked afterwards -> SOAK.md.
soak:
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(CARGO) build --release --bin climate-tracker
	python3 scripts/soak.py
