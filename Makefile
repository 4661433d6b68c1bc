# netpol-harness: every target does its own set-up, idempotently, on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What the sandbox needs on the host (network namespaces, nftables, real nginx/curl/DNS).
# nginx with the stream module (the server image serves UDP with it); setpriv (util-linux)
# runs containers as their user.
APT_PACKAGES := nftables nginx-light libnginx-mod-stream dnsmasq-base iproute2 curl busybox dnsutils conntrack shellcheck procps openssl util-linux
# Building busybox from Debian's source package as the client image has it (make busybox).
APT_PACKAGES += build-essential dpkg-dev bzip2 xz-utils
# Headless Chromium renders the HTML report in tests/report/test_html.py.
APT_PACKAGES += chromium
STATE ?= .sandbox
JUNIT ?= reports/junit.xml
WORKERS ?= 2

BUSYBOX_OUT ?= .deps/busybox

.PHONY: help deps apt busybox venv demo test test-pytest8 lint typecheck unit bench sandbox-up sandbox-down clean kind-up kind-down e2e-kind

help:
	@echo "make demo   - bring up the sandbox, run scenarios/ (-n $(WORKERS)), print truth tables, write $(JUNIT)"
	@echo "make test   - lint, typecheck and the whole test suite"
	@echo "make bench  - benchmarks under bench/"
	@echo "make kind-up / kind-down / e2e-kind - a real kind + Calico cluster (needs docker and network)"

deps: apt venv busybox

# The pods' busybox: Debian's source package configured like the client image's
# (netpol_sandbox/busybox_build.py); a stamp under $(BUSYBOX_OUT) makes a rerun a no-op.
busybox: apt
	@$(PYTHON) -m netpol_sandbox.busybox_build --out $(BUSYBOX_OUT)

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

lint: venv
	$(BIN)/ruff check harness netpol_sandbox tests bench conftest.py
	$(BIN)/ruff format --check harness netpol_sandbox tests bench conftest.py
	$(BIN)/lint-imports
	@if command -v shellcheck >/dev/null; then shellcheck scripts/* .ci/run; fi

typecheck: venv
	$(BIN)/mypy

unit: deps
	NO_PROXY=127.0.0.1,localhost $(BIN)/pytest -q tests

# The plugin's pytest integration (collection, selection, --lf/--ff) on the oldest
# supported pytest line too: a second venv with pytest 8.4.
VENV8 ?= .venv-pytest8
$(VENV8)/.installed: pyproject.toml
	@test -x $(VENV8)/bin/python || $(PYTHON) -m venv $(VENV8)
	$(VENV8)/bin/pip install -q --upgrade pip
	$(VENV8)/bin/pip install -q -e '.[dev]' 'pytest>=8.4,<9'
	@touch $@

test-pytest8: $(VENV8)/.installed
	$(VENV8)/bin/pytest -q -p no:cacheprovider tests/plugin/test_plugin_collect.py

test: deps lint typecheck unit test-pytest8

demo: deps
	@mkdir -p $(dir $(JUNIT))
	NO_PROXY=127.0.0.1,localhost $(BIN)/netpol-harness sandbox demo --state-dir $(STATE) -- \
	  -n $(WORKERS) --netpol-junit $(JUNIT) --netpol-report-json $(basename $(JUNIT)).json scenarios/

bench: deps
	$(BIN)/python -m bench

sandbox-up: deps
	$(BIN)/netpol-harness sandbox up --state-dir $(STATE)

sandbox-down:
	$(BIN)/netpol-harness sandbox down --state-dir $(STATE)

kind-up:
	scripts/kind-up

kind-down:
	scripts/kind-down

e2e-kind: venv
	$(BIN)/pytest scenarios/ -n auto --netpol-context kind-netpol --netpol-pod-cidr 10.244.0.0/16 --netpol-junit $(JUNIT)

clean:
	rm -rf $(VENV) $(VENV8) reports .pytest_cache .mypy_cache .ruff_cache
