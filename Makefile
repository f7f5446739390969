# Two entry points for a fresh machine with only Python 3.11+ and make:
#   make up    set everything up, then run the whole suite (embedded NATS and a local mail sink)
#   make test  set everything up, then check lint and types and run every test
# For the edit loop: make test-fast (unit + integration tests not marked slow), make lint.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CODE := contracts services ens tests bench

.PHONY: setup up test test-fast lint format docs bench asyncapi asyncapi-tools clean browser postfix

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

setup: $(STAMP)

up: $(STAMP)
	$(BIN)/ens up

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy contracts services ens

format: $(STAMP)
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

# What the tests need beyond Python packages, installed when absent and allowed (root apt-get):
# Chromium for the console's browser tests. Without it those tests skip with one line.
browser:
	sh scripts/install-browser.sh

# Debian's postfix for the bounce end-to-end test (a private instance it starts and stops itself;
# the system's mail server is left alone). Without it that test skips with one line.
postfix:
	sh scripts/install-postfix.sh

test: lint browser postfix
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" tests/unit tests/integration

docs: $(STAMP)
	$(BIN)/python -m ens.readme
	$(BIN)/ens asyncapi

asyncapi: $(STAMP)
	$(BIN)/ens asyncapi

# The official AsyncAPI parser (npm, pinned in tools/asyncapi/package-lock.json) that
# tests/unit/test_asyncapi_parser.py runs on docs/asyncapi.json; the test installs it itself when absent.
asyncapi-tools:
	cd tools/asyncapi && npm ci --no-audit --no-fund

clean:
	rm -rf $(VENV) .ens .pytest_cache .mypy_cache .ruff_cache
