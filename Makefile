# openability — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench venv migrate clean chromium i18n audit wrk

# The virtual environment and its dependencies. The first install takes about two minutes, so it says
# what it does and lets pip show its progress; later updates (pyproject.toml changed) stay quiet.
$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	  echo "openability: creating $(VENV) (Python virtual environment)"; \
	  $(PY) -m venv $(VENV); \
	fi
	@if [ -e $(STAMP) ]; then \
	  echo "openability: pyproject.toml changed, updating dependencies in $(VENV)"; \
	  $(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -e '.[dev]'; \
	else \
	  echo "openability: installing dependencies into $(VENV) (first run, about 2 minutes)"; \
	  $(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -e '.[dev]'; \
	fi
	@touch $(STAMP)
	@echo "openability: dependencies ready"

venv: $(STAMP)

## Console message catalogs (docs/i18n.md). The msgids are the zh-CN texts of the templates
## (`_("…")`, `pgettext("context", "…")`) and of the Python code (`tr(request, "…")`, `N_("…")`);
## locale/en/LC_MESSAGES/messages.po translates them. `make i18n`: extract, update the English
## catalog (new texts appear untranslated, changed ones fuzzy: tests/console/test_i18n.py fails until
## they are translated), compile the .mo. Both the .po and the .mo are committed, so a checkout, a
## wheel and `pytest` work without this step; `make run` / `make test` recompile a .mo older than its .po.
LOCALE := src/openability/locale
PO := $(LOCALE)/en/LC_MESSAGES/messages.po
MO := $(LOCALE)/en/LC_MESSAGES/messages.mo
I18N_KEYWORDS := -k tr:2 -k N_

i18n: $(STAMP)
	@pot=$$(mktemp --suffix=.pot) && trap 'rm -f "$$pot"' EXIT && \
	  $(BIN)/pybabel -q extract -F pyproject.toml $(I18N_KEYWORDS) --add-location=file --sort-output \
	    --no-wrap --project=openability --version=0.1.0 -o "$$pot" . && \
	  $(BIN)/pybabel -q update -i "$$pot" -d $(LOCALE) -D messages -l en --init-missing --ignore-obsolete --no-wrap
	$(BIN)/pybabel compile -d $(LOCALE) -D messages -l en --statistics

$(MO): $(PO) | $(STAMP)
	$(BIN)/pybabel compile -d $(LOCALE) -D messages -l en

## Start the demo on the embedded default (SQLite in ./var, demo data, local test SMSC, test clock and
## sandbox payments on). A production start is `openability run` without --demo: no demo data.
run: $(STAMP) $(MO)
	@echo "openability: starting the demo (migrate, demo data on first start, local test SMSC, test clock)"
	$(BIN)/openability run --demo

## Lint, type-check and run the whole suite (SQLite; PostgreSQL too when OPENABILITY_TEST_DATABASE_URL is set).
## pytest's exit status is make's: a failure, or "no tests ran" (5), fails `make test`.
## The suite runs in TEST_WORKERS processes (pytest-xdist; most tests wait on databases, subprocesses
## and sockets, so more processes than cores pay); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 3
test: $(STAMP) $(MO) chromium lint typecheck
	OPENABILITY_CHROMIUM="$${OPENABILITY_CHROMIUM:-$$(command -v chromium)}" \
	  $(BIN)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) $(PYTEST_ARGS)

## Headless Chromium for the console tests (Playwright drives Debian's chromium, or OPENABILITY_CHROMIUM).
## Missing: installed with apt-get when running as root; otherwise a one-line instruction and a failure.
chromium:
	@if [ -n "$${OPENABILITY_CHROMIUM:-}" ]; then \
	  if [ ! -x "$$OPENABILITY_CHROMIUM" ]; then \
	    echo "openability: OPENABILITY_CHROMIUM=$$OPENABILITY_CHROMIUM is not an executable; point it at Chromium or unset it" >&2; \
	    exit 1; \
	  fi; \
	elif ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "openability: chromium missing, installing Debian's chromium for the console tests (apt-get)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "openability: the console tests need Chromium: run 'sudo apt-get install -y chromium' (or set OPENABILITY_CHROMIUM) and retry" >&2; \
	    exit 1; \
	  fi; \
	fi

## Lint: ruff, and the layer contracts of docs/architecture.md (import-linter, pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy src

## The benchmarks (docs/benchmarks.md); they end with a summary of the performance targets, PASS/FAIL.
bench: $(STAMP) wrk
	$(BIN)/python -m bench $(BENCH_ARGS)

## wrk, the benchmarks' load generator. Missing: installed with apt-get when running as root; otherwise
## (or if that fails) a one-line instruction, and the benchmarks fall back to a much slower httpx loop
## (their output says so; latency at 80% of peak needs wrk and is then "not run").
wrk:
	@if ! command -v wrk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "openability: wrk missing, installing Debian's wrk for the benchmarks (apt-get)"; \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk) || \
	      echo "openability: could not install wrk; the benchmarks use a slower httpx loop instead" >&2; \
	  else \
	    echo "openability: wrk not found ('sudo apt-get install -y wrk'); the benchmarks use a slower httpx loop instead" >&2; \
	  fi; \
	fi

migrate: $(STAMP)
	$(BIN)/openability migrate

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .import_linter_cache

## Known vulnerabilities in the installed dependencies (pip-audit against PyPI's advisory data). Needs
## pypi.org's per-version JSON API; on a machine that only reaches a package mirror it cannot audit
## (docs/reliability.md says what it prints there), so it is not part of `make test`.
audit: $(STAMP)
	$(BIN)/pip install -q pip-audit
	$(BIN)/pip-audit -s pypi --skip-editable --strict --progress-spinner off
