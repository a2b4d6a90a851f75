# The two commands of the README:
#   make demo   install into .venv and run the demo site on embedded defaults (no Redis, no GPU)
#   make test   install into .venv (with the small CPU model the pipeline tests need), make sure
#               Redis and PostgreSQL run, and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test bench services install-model browser js edge upstreams loadgen
.DEFAULT_GOAL := demo

# make demo installs the project alone (what the demo runs); make install adds the [dev] extra
# (test tools, the browser driver) for make test.  Stamps in .venv record what was installed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-demo

install: $(VENV)/.installed-dev

# ARGS: options for gate demo, e.g. make demo ARGS="--port 8001 --admin"
demo: $(VENV)/.installed-demo
	@echo
	@echo "Installed into $(VENV). Run gate as $(BIN)/gate (or '. $(BIN)/activate' first, then gate):"
	@echo "  $(BIN)/gate demo --walkthrough    # a program pays for a pass and spends it, real output"
	@echo "  $(BIN)/gate --help                # every command"
	@echo
	$(BIN)/gate demo $(ARGS)

services:
	scripts/services.sh

test: install-model services browser js edge upstreams
	$(BIN)/pytest

bench: install services loadgen
	$(BIN)/python bench/gate_overhead.py

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser of its
# own), and axe-core from npm (tests/axe/package.json) for their accessibility checks.
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@test -f tests/axe/node_modules/axe-core/axe.min.js || npm ci --prefix tests/axe --silent --no-audit --no-fund

# The third-party MCP pieces the gateway's interop tests drive (tests/js/package.json: the
# TypeScript SDK's clients 1.x and 2.x, server-everything), at the versions of its lockfile.
js: tests/js/node_modules/.package-lock.json

tests/js/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

# Debian's wrk, the load generator of the HTTP benches (bench/gate_overhead.py, bench/edge.py, ...).
loadgen:
	@test -x /usr/bin/wrk || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

# Debian's nginx and caddy for the forward-auth tests (tests/test_edge.py starts them on loopback
# from the configs in deploy/; a missing binary fails the run).
edge:
	@test -x /usr/sbin/nginx -a -x /usr/bin/caddy || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx caddy)

# Debian's tomcat10 (and its Java) for tests/test_tomcat_upstream.py: a real servlet container
# behind `gate proxy`, the upstream whose path reading the path-semantics setting is about.
upstreams:
	@test -x /usr/share/tomcat10/bin/catalina.sh || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tomcat10)

# The model worker's stack (torch CPU, transformers, the SmolLM2 GGUF); see the README.
install-model: install
	VENV=$(VENV) scripts/install-model.sh
