# The two commands: `make run` (the whole system on this machine) and `make test` (every test).
# Both install what they need first; nothing here needs Docker or an AWS account.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
LOCAL       ?= .local
MOTO_PORT   ?= 5000
INVOKE_PORT ?= 9000
API_PORT    ?= 3000
STRIPE_PORT ?= 8420
ENDPOINT    := http://127.0.0.1:$(MOTO_PORT)
export LOCAL MOTO_PORT INVOKE_PORT API_PORT STRIPE_PORT
export PY := $(PY)
export PATH := $(CURDIR)/$(VENV)/bin:$(HOME)/.cargo/bin:$(PATH)

MOTO_VERSION        := 5.2.1
LOCALSTRIPE_VERSION := 1.15.10
CARGO_LAMBDA_VERSION := 1.9.2
CARGO_DENY_VERSION  := 0.20.2

.PHONY: help deps rust-tools run stop cost test lint fmt clippy deny build

help:
	@echo "make run    the whole system on loopback: moto, tables/queues from template.yaml, demo catalog,"
	@echo "            every function under cargo lambda watch, the local API on http://127.0.0.1:3000"
	@echo "make stop   stop a stack left running"
	@echo "make cost   with make run running: time one order to COMPLETED and count what it cost"
	@echo "make test   install what is missing, run every test (unit, property, handler, adapter, API, saga; moto + localstripe)"
	@echo "make lint   cargo fmt --check, clippy -D warnings, cargo deny"

# ---------------------------------------------------------------- installs
$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		"moto[server]==$(MOTO_VERSION)" "localstripe==$(LOCALSTRIPE_VERSION)" \
		"cargo-lambda==$(CARGO_LAMBDA_VERSION)"
	touch $@

deps: $(VENV)/.installed

# cargo-deny builds from crates.io once per machine (a few minutes on 2 cores).
rust-tools:
	@command -v cargo-deny >/dev/null || cargo install --locked cargo-deny --version $(CARGO_DENY_VERSION)
	@../shared/tools/install-advisory-db >/dev/null 2>&1 || true

# ---------------------------------------------------------------- run
run: deps
	@bash infra/local/run.sh

stop:
	@bash infra/local/stop.sh

cost:
	@bash infra/local/order-cost.sh

# ---------------------------------------------------------------- test
build:
	cargo build --workspace --all-targets

test: deps
	PYTHON=$(CURDIR)/$(PY) cargo test --workspace

# ---------------------------------------------------------------- lint
fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# cargo metadata (used by cargo deny) needs every platform's crates in the local registry.
deny: rust-tools
	cargo fetch --locked --quiet
	cargo deny --offline check

lint: fmt clippy deny
	cfn-lint template.yaml
