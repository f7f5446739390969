# Two entry points for a fresh machine with only Python 3.11+ and make:
#   make up    set everything up, then run the whole suite (embedded NATS and a local mail sink)
#   make test  set everything up, then run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup up test bench asyncapi clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

up: $(STAMP)
	$(BIN)/ens up

test: $(STAMP)
	$(BIN)/python -m pytest

asyncapi: $(STAMP)
	$(BIN)/ens asyncapi

clean:
	rm -rf $(VENV) .ens .pytest_cache
