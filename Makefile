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
# The machine's own PATH, before the virtualenv's tools shadow its (its cfn-lint, say).
MACHINE_PATH := $(PATH)
export PATH := $(CURDIR)/$(VENV)/bin:$(HOME)/.cargo/bin:$(PATH)

MOTO_VERSION        := 5.2.1
LOCALSTRIPE_VERSION := 1.15.10
CARGO_LAMBDA_VERSION := 1.9.2
CARGO_DENY_VERSION  := 0.20.2
SAM_VERSION         := 1.170.0
SCHEMATHESIS_VERSION := 4.32.5
MATPLOTLIB_VERSION  := 3.9.2

# aws-sam-cli has its own virtualenv, so it cannot upgrade the boto/moto packages the tests use.
SAM_VENV ?= .venv-sam
SAM      := $(CURDIR)/$(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
# Validation and builds read credentials and a region but call no AWS API.
OFFLINE_AWS := env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=offline \
	AWS_SECRET_ACCESS_KEY=offline AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

# Every Lambda function is a crate under functions/; its folder is its binary's name.
FUNCTIONS := $(notdir $(wildcard functions/*))
STAGE     ?= dev

.PHONY: help deps rust-tools sam-deps fuzz-deps bench-deps arm64 run stop cost admin flags test openapi fuzz-api chaos dr-drill bench lint fmt clippy deny deny-fresh build \
	validate package sam-build deploy deploy-built

help:
	@echo "make run    the whole system on loopback: moto, tables/queues from template.yaml, demo catalog,"
	@echo "            every function under cargo lambda watch, the local API on http://127.0.0.1:3000"
	@echo "make stop   stop a stack left running"
	@echo "make cost   with make run running: time one order to COMPLETED and count what it cost"
	@echo "make flags [SET=\"acceptOrders=false ...\"]  with make run running: show or change the feature flags"
	@echo "make admin ARGS=\"orders stuck\"  with make run running: order-admin on the local stack (ARGS=--help lists its commands)"
	@echo "make test   install what is missing, run every test (unit, property, handler, adapter, API, saga; moto + localstripe)"
	@echo "make chaos  the fault matrix at full length (within 15 minutes): docs/reliability.md"
	@echo "make dr-drill [ORDERS=30]  the restore runbook rehearsed locally: back up, delete, restore, repoint; recovery time"
	@echo "make lint   cargo fmt --check, clippy -D warnings, cargo deny, cfn-lint, sam validate --lint"
	@echo "make openapi  regenerate docs/openapi.json from the code"
	@echo "make fuzz-api [EXAMPLES=20 SEED=1]  schemathesis against the local service: case count, server errors"
	@echo "make bench  docs/benchmarks.md: cold start, size, memory, CPU, AWS calls and cost per order, latency, load (long)"
	@echo "make package  every function as a Lambda zip for arm64 (release), with its size"
	@echo "make sam-build  sam build of template.yaml (offline), as make deploy runs it"
	@echo "make deploy STAGE=dev|staging|prod  sam build + sam deploy --config-env STAGE (needs AWS credentials)"

# ---------------------------------------------------------------- installs
$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		"moto[server]==$(MOTO_VERSION)" "localstripe==$(LOCALSTRIPE_VERSION)" \
		"cargo-lambda==$(CARGO_LAMBDA_VERSION)"
	touch $@

deps: $(VENV)/.installed

$(SAM_VENV)/.installed: Makefile
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check "aws-sam-cli==$(SAM_VERSION)"
	touch $@

sam-deps: $(SAM_VENV)/.installed

# schemathesis (make fuzz-api and its bounded run in make test) has its own virtualenv too: its
# hypothesis and jsonschema pins are not moto's.
FUZZ_VENV ?= .venv-fuzz
export SCHEMATHESIS := $(CURDIR)/$(FUZZ_VENV)/bin/schemathesis
$(FUZZ_VENV)/.installed: Makefile
	python3 -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check "schemathesis==$(SCHEMATHESIS_VERSION)"
	touch $@

fuzz-deps: $(FUZZ_VENV)/.installed

# The arm64 standard library, for the Graviton functions (cargo-lambda cross-links with zig).
arm64:
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
		|| rustup target add aarch64-unknown-linux-gnu

# cargo-deny builds from crates.io once per machine (a few minutes on 2 cores).
# The load test's plot (infra/bench/plot_load.py) draws with matplotlib, in the test virtualenv.
bench-deps: deps
	@$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install --quiet "matplotlib==$(MATPLOTLIB_VERSION)"

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

# order-admin on the local stack while `make run` runs, with its names and endpoint from the
# environment file: `make admin ARGS="dead-letters list"` (`make admin ARGS=--help` lists them).
admin:
	@env $$(grep -E '^(AWS_[A-Z_]+|[A-Z_]+_(TABLE|URL|SECRET|SECRET_ID|PARAMETER))=' $(LOCAL)/env | xargs) \
		cargo run --quiet -p order-admin -- $(ARGS)

# The local stack's feature flags (docs/flags.md): `make flags` shows them,
# `make flags SET="acceptOrders=false"` changes them (applies within 30 s).
flags:
	@$(MAKE) --no-print-directory admin ARGS="flags $(if $(SET),set $(SET),get)"

# ---------------------------------------------------------------- test
build:
	cargo build --workspace --all-targets

test: deps fuzz-deps
	PYTHON=$(CURDIR)/$(PY) cargo test --workspace

# docs/openapi.json from the request and view types (a test fails when the two differ).
openapi:
	cargo run --quiet -p system-tests --bin openapi > docs/openapi.json

# schemathesis against the service on loopback, as a customer and as an admin, EXAMPLES cases per
# operation and phase (SEED to vary them): prints the case count and the server errors.
fuzz-api: deps fuzz-deps
	@mkdir -p $(LOCAL)
	PYTHON=$(CURDIR)/$(PY) cargo run --quiet -p system-tests --bin fuzz_api -- $(or $(EXAMPLES),20) \
		$(or $(SEED),1) > $(LOCAL)/fuzz-api.log

# Every scenario of the fault matrix at full length, on loopback (moto, localstripe, fault proxies);
# progress and the report on the terminal, the functions' logs in $(LOCAL)/chaos.log.
chaos: deps
	@mkdir -p $(LOCAL)
	PYTHON=$(CURDIR)/$(PY) cargo run --quiet -p system-tests --bin chaos -- $(CHAOS_FLAGS) > $(LOCAL)/chaos.log

# The restore runbook rehearsed on its own local stack (docs/runbooks/restore-table.md): orders
# placed, backed up, the live table deleted, restored, the stage repointed; prints the recovery time.
dr-drill: deps
	@mkdir -p $(LOCAL)
	PYTHON=$(CURDIR)/$(PY) cargo run --quiet -p system-tests --bin dr_drill -- $(or $(ORDERS),30) \
		> $(LOCAL)/dr-drill.log

# docs/benchmarks.md and docs/benchmarks.json (and the load plot): cold start and memory of the
# release binaries against the bare hello-world, the arm64 zips of `make package`, the handlers'
# CPU (`cargo bench`), one order's AWS requests, capacity units and cost beside the floor,
# latency and throughput on the local stack, an open-loop load test. Long on a fresh machine
# (it builds the release binaries and zips first); progress on the terminal, the functions'
# logs in $(LOCAL)/bench.log. `make bench BENCH_FLAGS=--quick` checks it runs (into target/bench/).
bench: deps bench-deps package
	cargo build --release $(addprefix -p ,$(TOGETHER)) -p bench-hello
	cargo build --release -p pre-traffic-check
	cargo build --release -p bench-cpu
	target/release/bench-cpu
	@mkdir -p $(LOCAL)
	PYTHON=$(CURDIR)/$(PY) cargo run --quiet -p system-tests --bin bench -- $(BENCH_FLAGS) > $(LOCAL)/bench.log
	$(PY) infra/bench/plot_load.py target/bench/load.csv \
		$(if $(findstring --quick,$(BENCH_FLAGS)),target/bench,docs)/benchmarks-load.png

# ---------------------------------------------------------------- lint
fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# cargo metadata (used by cargo deny) needs every platform's crates in the local registry.
deny: rust-tools
	cargo fetch --locked --quiet
	cargo deny --offline check

# The same with a fresh RustSec database fetched now (for machines with network: the GitHub
# workflows run it on every push and daily, so a new advisory fails CI without a code change).
deny-fresh: rust-tools
	cargo fetch --locked --quiet
	cargo deny check

lint: fmt clippy deny validate

# cfn-lint, SAM's lint and translation, then what the translation deploys, per stage
# (infra/deploy/check_transform.py: deployment groups, rollback alarms, the hook, aliases).
validate: sam-deps
	@if PATH="$(MACHINE_PATH)" command -v cfn-lint >/dev/null; then \
		echo "cfn-lint (the machine's, $$(PATH="$(MACHINE_PATH)" cfn-lint --version))"; \
		PATH="$(MACHINE_PATH)" cfn-lint template.yaml infra/deploy/github-oidc.yaml; \
	else echo "no cfn-lint on this machine; sam validate --lint runs its own"; fi
	$(OFFLINE_AWS) $(SAM) validate --lint
	$(OFFLINE_AWS) $(SAM) validate
	$(OFFLINE_AWS) $(SAM_VENV)/bin/python infra/deploy/check_transform.py

# ---------------------------------------------------------------- deploy
# Release zips for arm64 in target/lambda/<function>/bootstrap.zip, then their sizes. The functions
# build in one cargo run, so the two cores link two at a time, but for pre-traffic-check: its Lambda
# client turns on the AWS runtime crates' event-stream features, and the others built beside it
# would get them too, so `sam build`, which builds each function alone, would compile the SDK
# again. Built apart, every function gets the features it gets alone and sam finds them compiled.
TOGETHER := $(filter-out pre-traffic-check,$(FUNCTIONS))
package: deps arm64
	cargo lambda build --release --arm64 --output-format zip $(addprefix -p ,$(TOGETHER))
	cargo lambda build --release --arm64 --output-format zip -p pre-traffic-check
	@bash infra/deploy/zip-sizes.sh $(FUNCTIONS)

# What `sam deploy` uploads, built offline into .aws-sam/ (the same cargo-lambda release build).
sam-build: deps sam-deps arm64
	$(OFFLINE_AWS) CARGO_NET_OFFLINE=true $(SAM) build --config-env $(STAGE)

deploy: sam-build deploy-built

# Deploys what sam-build built (the pipeline builds once and deploys the same build to each stage).
deploy-built: sam-deps
	$(SAM) deploy --config-env $(STAGE) $(DEPLOY_FLAGS)
