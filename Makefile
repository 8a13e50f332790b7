# Two commands set everything up on a fresh machine: `make run` and `make test`.
# With no DATABASE_URL an embedded PostgreSQL (var/postgres) is started; with no
# CELERY_BROKER_URL the worker uses kombu's filesystem transport under var/broker.

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Starts the embedded server only when no database was given, and stops it on exit.
define use_database
if [[ -z "$${DATABASE_URL:-}" ]]; then
  export DATABASE_URL="$$($(BIN)/python -m pit_portal.embedded_db url pit_portal)"
  trap '$(BIN)/python -m pit_portal.embedded_db stop' EXIT
fi
endef

.PHONY: help run demo-code test lint chromium pgbouncer bench clean backup restore

help:
	@echo "make run    serve the portal with demo data and a background worker"
	@echo "make demo-code WHO=clinician   the second-factor code a demo staff user types now (frontdesk, manager too)"
	@echo "make test   the whole suite: lint and type check, migrations check, deploy check, pytest"
	@echo "make bench  load benchmark of the key pages on seeded data (not part of make test);"
	@echo "            options in BENCH_ARGS, e.g. BENCH_ARGS=\"--patients 500 --clients 5\""
	@echo "            BENCH_ARGS=\"--pooled\": through PgBouncer, on two portal instances (needs make pgbouncer)"
	@echo "make backup          database and documents into a new folder under BACKUP_DIR (var/backups)"
	@echo "make restore FROM=…  restore that folder into DATABASE_URL (empty unless FORCE=1) and DOCUMENTS_ROOT"

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(use_database)
	export DEBUG=$${DEBUG:-1} HOST=$(HOST) PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH"
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	echo
	echo "PIT Portal: http://$(HOST):$(PORT)/   (Ctrl-C stops the web server, worker and database)"
	echo
	$(BIN)/honcho --procfile Procfile.dev start

# Beside a running `make run`: the embedded database is left running (no use_database, whose trap would stop it).
demo-code: $(BIN)/.installed
	@if [[ -z "$${DATABASE_URL:-}" ]]; then
	  export DATABASE_URL="$$($(BIN)/python -m pit_portal.embedded_db url pit_portal)"
	fi
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py demo_code "$${WHO:-clinician}"

# Backup and restore are operations commands: they install nothing (a production host has only requirements.txt)
# and use the virtualenv's Python when there is one. They sign nothing, so they need no real SECRET_KEY; they read
# DATABASE_URL, DOCUMENTS_ROOT and BACKUP_DIR like the portal does.
OPS_PYTHON = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

backup:
	$(use_database)
	export SECRET_KEY=$${SECRET_KEY:-not-used-by-backups}
	$(OPS_PYTHON) manage.py backup

restore:
	@if [[ -z "$${FROM:-}" ]]; then echo "Name the backup folder: make restore FROM=var/backups/<timestamp>"; exit 2; fi
	$(use_database)
	export SECRET_KEY=$${SECRET_KEY:-not-used-by-backups}
	$(OPS_PYTHON) manage.py restore --from "$$FROM" $${FORCE:+--force}

chromium:
	@command -v chromium >/dev/null && exit 0
	if [[ $$(id -u) -ne 0 ]]; then echo "Install Debian's chromium package (apt-get install chromium) for the browser tests."; exit 1; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# The multi-host tests (tests/deployment) start Debian's PgBouncer between the portal and PostgreSQL, and a Redis
# server of their own.
pgbouncer:
	@[[ -x /usr/sbin/pgbouncer && -x /usr/bin/redis-server ]] && exit 0
	if [[ $$(id -u) -ne 0 ]]; then echo "Install Debian's pgbouncer and redis-server packages for the multi-host tests."; exit 1; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer redis-server >/dev/null

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# The Django plugin imports the settings, which need these two; mypy connects to nothing.
	SECRET_KEY=$${SECRET_KEY:-type-checking-only} DATABASE_URL=$${DATABASE_URL:-postgres://localhost/type-checking-only} \
	  $(BIN)/mypy .

test: $(BIN)/.installed chromium pgbouncer lint
	$(use_database)
	export SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} SECURE=0 DEBUG=0 STATIC_MANIFEST=0
	$(BIN)/python manage.py makemigrations --check --dry-run
	# The deploy check runs against production-like settings, failing on any warning.
	DEBUG=0 SECURE=1 ALLOWED_HOSTS=portal.example.org \
	  SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/pytest --durations=15 $(PYTEST_ARGS)

# Seeds its own database (BENCH_DATABASE, default pit_bench) on the same server, then drives gunicorn.
bench: $(BIN)/.installed
	$(use_database)
	$(BIN)/python bench/load_bench.py $(BENCH_ARGS)

clean:
	-$(BIN)/python -m pit_portal.embedded_db stop
	rm -rf var/broker var/static
