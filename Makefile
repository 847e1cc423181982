# openability — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench venv migrate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start the platform on the embedded default (SQLite in ./var, demo data, local test SMSC).
run: $(STAMP)
	$(BIN)/openability run

## Lint, type-check and run the whole suite (SQLite; PostgreSQL too when OPENABILITY_TEST_DATABASE_URL is set).
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

migrate: $(STAMP)
	$(BIN)/openability migrate

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
