# Two commands on a fresh machine with python3 and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
DEMO_CREDENTIALS := instance/demo-credentials.json
HOST ?= 127.0.0.1
PORT ?= 5000
# The issuer follows PORT (`PORT=5077 make run` issues tokens from :5077); set ISSUER for any other.
ISSUER := $(or $(ISSUER),http://127.0.0.1:$(PORT))

.PHONY: run serve test test-fast lint format migrate bench soak lock clean

# uv installs from the lock. It lives in its own small environment, outside .venv, so that
# nothing installed into .venv can remove it, and a new UV_VERSION gets a new folder.
UV_VERSION := 0.13.9
UV_HOME := .tools/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
# One resolution of every extra with hashes, so run, dev and bench agree on each version.
# It records names, versions, markers and hashes only (uv.lock would also record each file's
# download address). LOCK_ARGS="--upgrade-package NAME" (or "--upgrade") moves pins on.
LOCK := requirements.lock
LOCK_COMPILE = $(UV) pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' --quiet

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet 'uv==$(UV_VERSION)'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Install the project (editable) with extras $(1), every dependency at its locked version and
# hash. First re-resolve into a scratch copy of the lock (its pins are kept as preferences):
# any difference means pyproject.toml changed since the last `make lock`, so stop.
define install_from_lock
	cp $(LOCK) $(VENV)/lock-check.txt
	$(LOCK_COMPILE) -o $(VENV)/lock-check.txt
	@cmp -s $(LOCK) $(VENV)/lock-check.txt || { \
		diff -u $(LOCK) $(VENV)/lock-check.txt | head -40; \
		echo "$(LOCK) does not match pyproject.toml: run 'make lock' and commit both" >&2; \
		exit 1; }
	$(UV) pip install --quiet --python $(BIN)/python --strict -c $(LOCK) -e '.$(1)'
endef

# One stamp per set of extras, remade whenever pyproject.toml or the lock changes.
$(VENV)/.installed-run: pyproject.toml $(LOCK) | $(BIN)/python $(UV)
	$(call install_from_lock,)
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(LOCK) | $(BIN)/python $(UV)
	$(call install_from_lock,[dev])
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml $(LOCK) | $(BIN)/python $(UV)
	$(call install_from_lock,[bench])
	touch $@ $(VENV)/.installed-run

## lock: re-resolve requirements.lock after a change to pyproject.toml
## (LOCK_ARGS="--upgrade-package NAME" upgrades one pin, LOCK_ARGS=--upgrade all of them)
lock: | $(UV)
	$(LOCK_COMPILE) $(LOCK_ARGS) -o $(LOCK)

instance:
	mkdir -m 0700 -p instance

## run: install, migrate, seed the demo data once, and serve on http://127.0.0.1:5000
run: $(VENV)/.installed-run | instance
	$(FLASK) db upgrade
	ISSUER=$(ISSUER) $(FLASK) demo seed --json $(DEMO_CREDENTIALS)
	@echo "Mail (invitations, password resets, notices) is written as .eml files to instance/mail/"
	ISSUER=$(ISSUER) $(FLASK) run --host $(HOST) --port $(PORT)

## serve: production-style serving with gunicorn (configure through the environment)
serve: $(VENV)/.installed-run
	$(FLASK) db upgrade
	$(BIN)/gunicorn --workers $${WORKERS:-2} --bind $(HOST):$(PORT) wsgi:app

## test: lint, format check, type check (mypy) and the whole test suite, in parallel (pytest-xdist)
# The browser tests drive Debian's Chromium: installed here when missing and we can (root, apt),
# otherwise they are skipped (or fail under CI).
# The certified OpenID Connect client (openid-client, pinned by its lock) that one test runs.
OIDC_CLIENT := tests/oidc_client

$(OIDC_CLIENT)/node_modules/.package-lock.json: $(OIDC_CLIENT)/package.json $(OIDC_CLIENT)/package-lock.json
	@if command -v npm >/dev/null; then \
		cd $(OIDC_CLIENT) && npm ci --no-audit --no-fund --silent; \
	else \
		echo "npm is not installed: the OpenID Connect client test will skip (fail under CI)"; \
	fi

test: $(VENV)/.installed-dev $(OIDC_CLIENT)/node_modules/.package-lock.json
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
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
	$(BIN)/mypy

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
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .mypy_cache
