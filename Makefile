# Two commands on a fresh machine with python3 and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
DEMO_CREDENTIALS := instance/demo-credentials.json
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run serve test test-fast lint format migrate bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras, remade whenever pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.installed-run

instance:
	mkdir -p instance

## run: install, migrate, seed the demo data once, and serve on http://127.0.0.1:5000
run: $(VENV)/.installed-run | instance
	$(FLASK) db upgrade
	$(FLASK) demo seed --json $(DEMO_CREDENTIALS)
	$(FLASK) run --host $(HOST) --port $(PORT)

## serve: production-style serving with gunicorn (configure through the environment)
serve: $(VENV)/.installed-run
	$(FLASK) db upgrade
	$(BIN)/gunicorn --workers $${WORKERS:-2} --bind $(HOST):$(PORT) wsgi:app

## test: lint, format check and the whole test suite, in parallel (pytest-xdist)
# The browser tests drive Debian's Chromium: installed here when missing and we can (root, apt),
# otherwise they are skipped (or fail under CI).
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Chromium for the browser tests (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
			>/dev/null 2>&1 || echo "Could not install Chromium: the browser tests will skip (fail under CI)"; \
	fi
	$(BIN)/pytest -n auto

## test-fast: the inner loop, without the live servers and the browser (pytest -m "not live and not browser")
test-fast: $(VENV)/.installed-dev
	$(BIN)/pytest -n auto -m "not live and not browser"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## migrate: autogenerate a migration after a model change (MESSAGE="what changed")
migrate: $(VENV)/.installed-run
	$(FLASK) db migrate -m "$(MESSAGE)"

## bench: the hot paths under gunicorn and wrk beside a bare Flask floor (see docs/performance.md);
## BENCH_DATABASE_URL=postgresql://... adds PostgreSQL, BENCH_ARGS="--help" lists the options.
bench: $(VENV)/.installed-bench
	@if ! command -v wrk >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing wrk, the load generator (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >/dev/null 2>&1; \
	fi
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## soak: the long concurrency and fault scenarios (two gunicorn servers, a private PostgreSQL
## restarted under load), ending in a table; longer with ROUNDS=20 RESTARTS=10
soak: $(VENV)/.installed-dev
	$(BIN)/python -m tests.soak --rounds $${ROUNDS:-5} --restarts $${RESTARTS:-3}

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
