# casemgr: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi
#: Test processes (pytest-xdist); each gets its own databases.
PYTEST_WORKERS ?= 2

.PHONY: run test lint format install install-dev bench bench-reports soak clean help

help:
	@echo "make run   - set up .venv, migrate, seed demo data once, serve on http://127.0.0.1:5000"
	@echo "make test  - lint and run the whole suite (PostgreSQL leg too when TEST_DATABASE_URL is set)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: export CASEMGR_ENV ?= development
run: install
	$(BIN)/flask db upgrade
	@$(BIN)/flask seed-demo
	@echo "Serving casemgr on http://127.0.0.1:5000 (Ctrl-C to stop)"
	$(BIN)/flask run --host 127.0.0.1 --port 5000

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install-dev lint
	@if [ -n "$$TEST_DATABASE_URL" ]; then echo "Databases: SQLite and PostgreSQL ($$TEST_DATABASE_URL)"; \
	  else echo "Databases: SQLite only (set TEST_DATABASE_URL for the PostgreSQL leg)"; fi
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

$(VENV)/.installed-bench: benchmarks/requirements.txt requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

#: Load benchmark on SQLite and PostgreSQL (generates 100,000 patients once per database);
#: writes benchmarks/RESULTS.md. BENCH_ARGS="--patients 5000 --seconds 5" for a quick look.
bench: $(VENV)/.installed-bench
	@command -v wrk >/dev/null || { echo "Installing wrk (Debian package)"; \
	  apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

bench-reports: install-dev
	$(BIN)/python benchmarks/bench_reports.py

# 20 counselors for 2 minutes on SQLite, on PostgreSQL (casemgr_soak_load on the server of
# SOAK_DATABASE_URL or TEST_DATABASE_URL), and through a restart of a private PostgreSQL
# cluster; every write counted afterwards. SOAK_ARGS="--seconds 30" shortens it.
soak: install-dev
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts
