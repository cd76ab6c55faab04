# SMS <-> Amazon Connect chat bridge. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
RUN_DIR ?= $(CURDIR)/.run
# Fixed loopback port for moto server (DynamoDB + SNS).
MOTO_PORT ?= 5055
CARGO ?= cargo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
export VENV RUN_DIR MOTO_PORT

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

.PHONY: venv
venv: $(VENV_STAMP) ## Create the Python venv with the pinned emulators and tools

$(CHATJS_STAMP): tests/chatjs/package.json tests/chatjs/package-lock.json
	cd tests/chatjs && npm ci --no-audit --no-fund
	touch $@

.PHONY: build
build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: lint venv $(CHATJS_STAMP) ## Lint, then run every test with the emulators started (and stopped) around them
	scripts/with-emulators.sh $(CARGO) test --workspace --all-targets
	$(MAKE) --no-print-directory test-chatjs

.PHONY: test-chatjs
test-chatjs: $(CHATJS_STAMP) ## Drive connect-sim with the official chatjs client (Node)
	$(CARGO) build --quiet -p connect-sim --bin connect-sim
	node tests/chatjs/run.mjs --sim-bin $(TARGET_DIR)/debug/connect-sim

.PHONY: bench
bench: ## Benchmarks (criterion)
	$(CARGO) bench -p bridge-core

.PHONY: bench-sim
bench-sim: ## connect-sim load: 10,000 participant sockets, fan-out (release build)
	$(CARGO) build --release -p connect-sim --bins
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(TARGET_DIR)/release/connect-sim-load --sim-bin $(TARGET_DIR)/release/connect-sim

.PHONY: emulators-up
emulators-up: venv ## Start moto server on 127.0.0.1:$(MOTO_PORT) in the background
	scripts/emulators.sh up

.PHONY: emulators-down
emulators-down: ## Stop the emulators started by emulators-up (by PID)
	scripts/emulators.sh down

.PHONY: emulators-status
emulators-status: ## Show whether the emulators are running
	scripts/emulators.sh status

.PHONY: demo
demo: ## Run the whole bridge locally (not yet available: see README)
	$(CARGO) run --quiet -p bridge-cli --bin bridge -- demo

.PHONY: clean
clean: emulators-down ## Stop emulators and remove build output
	$(CARGO) clean
	rm -rf $(RUN_DIR)
