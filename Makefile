# The two commands of the README:
#   make demo   install into .venv and run the demo site on embedded defaults (no Redis, no GPU)
#   make test   install into .venv (with the small CPU model the pipeline tests need), make sure
#               Redis and PostgreSQL run, and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test bench services install-model browser js
.DEFAULT_GOAL := demo

$(BIN)/gate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/gate

demo: install
	$(BIN)/gate demo

services:
	scripts/services.sh

test: install-model services browser js
	$(BIN)/pytest

bench: install services
	$(BIN)/python bench/gate_overhead.py

# Debian's chromium for the admin dashboard's browser tests (Playwright drives it; it downloads
# no browser of its own).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# The third-party MCP pieces the gateway's interop tests drive (tests/js/package.json: the
# TypeScript SDK's clients 1.x and 2.x, server-everything), at the versions of its lockfile.
js: tests/js/node_modules/.package-lock.json

tests/js/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

# The model worker's stack (torch CPU, transformers, the SmolLM2 GGUF); see the README.
install-model: install
	VENV=$(VENV) scripts/install-model.sh
