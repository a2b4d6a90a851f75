# The two commands of the README:
#   make demo   install into .venv and run the demo site on embedded defaults (no Redis, no GPU)
#   make test   install into .venv (with the small CPU model the pipeline tests need), make sure
#               Redis and PostgreSQL run, and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test bench services install-model browser edge
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

test: install-model services browser edge
	$(BIN)/pytest

bench: install services
	$(BIN)/python bench/gate_overhead.py

# Debian's chromium for the admin dashboard's browser tests (Playwright drives it; it downloads
# no browser of its own).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Debian's nginx and caddy for the forward-auth tests (tests/test_edge.py starts them on loopback
# from the configs in deploy/; a missing binary fails the run).
edge:
	@test -x /usr/sbin/nginx -a -x /usr/bin/caddy || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx caddy)

# The model worker's stack (torch CPU, transformers, the SmolLM2 GGUF); see the README.
install-model: install
	VENV=$(VENV) scripts/install-model.sh
