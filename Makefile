# The two commands of the README: `make run` and `make test`. Everything else supports them
# (`make run-prod` and `make services` are the production set-up of the README's Deployment section).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(BIN):$(PATH)
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false

# The dev server reloads on code changes only (not on writes to the SQLite files in data/).
RELOAD_PATHS := $(CURDIR)/econnect_app:$(CURDIR)/rxconfig.py

# Production (`make run-prod`): backend worker processes, port, and the address users open.
WORKERS ?= 2
PORT ?= 3000
ECONNECT_PUBLIC_URL ?= http://localhost:$(PORT)
PROD_WEB_DIR := $(CURDIR)/.web-prod
SERVICES := bash scripts/services.sh
# Reads one URL from `scripts/services.sh env` (REFLEX_DB_URL or REFLEX_REDIS_URL) in a recipe.
service_url = $$($(SERVICES) env | sed -n 's/^$(1)=//p')

.PHONY: run run-prod services services-stop test test-scale setup lock lock-upgrade toolchain browser \
	migrate makemigrations messages test-unit test-e2e bench clean

run: setup migrate ## Serve the app on http://localhost:3000 (SQLite, mail kept in /dev/mailbox)
	REFLEX_HOT_RELOAD_OVERRIDE_PATHS="$(RELOAD_PATHS)" $(BIN)/reflex run

run-prod: setup ## Production server on $(ECONNECT_PUBLIC_URL): PostgreSQL, Redis, $(WORKERS) backend workers
	@REFLEX_ENV_MODE=prod ECONNECT_PUBLIC_URL="$(ECONNECT_PUBLIC_URL)" $(BIN)/python -m econnect_app.production || { \
	  echo; \
	  echo "Set them in the environment or on the command line. For a local try-out, for example:"; \
	  echo '  make run-prod ECONNECT_SMTP_URL=smtp://127.0.0.1:2525 ECONNECT_SECRET_KEY="$$(python3 -c "import secrets; print(secrets.token_urlsafe(48))")"'; \
	  echo "(see docs/deployment.md)"; \
	  exit 1; }
	@$(SERVICES) start >/dev/null
	REFLEX_DB_URL="$(call service_url,REFLEX_DB_URL)" $(BIN)/reflex db migrate
	REFLEX_ENV_MODE=prod REFLEX_DB_URL="$(call service_url,REFLEX_DB_URL)" \
	  REFLEX_REDIS_URL="$(call service_url,REFLEX_REDIS_URL)" \
	  REFLEX_USE_GRANIAN=true GRANIAN_WORKERS=$(WORKERS) REFLEX_CHECK_LATEST_VERSION=false \
	  REFLEX_WEB_WORKDIR="$(PROD_WEB_DIR)" ECONNECT_PUBLIC_URL="$(ECONNECT_PUBLIC_URL)" \
	  exec $(BIN)/reflex run --env prod --frontend-port $(PORT) --backend-port $(PORT)

services: ## Install (Debian's packages) and start PostgreSQL and Redis on 127.0.0.1, data in .services/
	@$(SERVICES) start

services-stop: ## Stop the PostgreSQL and Redis of `make services` (their data stays in .services/)
	@$(SERVICES) stop

test: setup browser migrate ## Lint, run the whole test suite, then the scale-out run (test-scale)
	$(BIN)/ruff check econnect_app tests alembic/env.py rxconfig.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-scale

# The services, integration and end-to-end suites again on PostgreSQL + Redis, the app in production
# mode with two backend workers. Only ECONNECT_TEST_* are set: the tests create their own databases.
test-scale: setup browser ## Service, integration and end-to-end suites on PostgreSQL + Redis, two workers
	@$(SERVICES) start >/dev/null
	ECONNECT_TEST_DB_URL="$(call service_url,REFLEX_DB_URL)" \
	  ECONNECT_TEST_REDIS_URL="$(call service_url,REFLEX_REDIS_URL)" ECONNECT_E2E_WORKERS=2 \
	  $(BIN)/python -m pytest tests/services tests/integration tests/e2e $(SCALE_PYTEST_ARGS)

setup: $(VENV)/.installed toolchain

# Exactly the versions pinned (with hashes) in requirements.lock; stops first, saying so, when pyproject.toml
# lists a dependency that the lock does not satisfy (then run `make lock`).
$(VENV)/.installed: pyproject.toml requirements.lock scripts/python-deps.sh scripts/check_lock.py
	@bash scripts/ensure-system-packages.sh python
	@PYTHON=$(PYTHON) bash scripts/python-deps.sh install $(VENV)
	touch $@

lock: ## After editing the dependencies in pyproject.toml: pin them again in requirements.lock (commit both)
	@bash scripts/ensure-system-packages.sh python
	@PYTHON=$(PYTHON) bash scripts/python-deps.sh lock $(VENV)

lock-upgrade: ## Move every pin in requirements.lock to the newest release pyproject.toml allows
	@bash scripts/ensure-system-packages.sh python
	@PYTHON=$(PYTHON) bash scripts/python-deps.sh upgrade $(VENV)

toolchain: ## The pinned bun and Node from the npm registry into .tools/ (Reflex cannot download its own here)
	@bash scripts/ensure-toolchain.sh $(TOOLS)

browser: ## Chromium for Playwright (Debian's package; `playwright install` cannot download here)
	@bash scripts/ensure-system-packages.sh chromium

migrate: setup ## Apply the database migrations
	$(BIN)/reflex db migrate

makemigrations: setup ## Generate a migration from the models (review it, then commit it)
	$(BIN)/reflex db makemigrations --message "$(MESSAGE)"

# The markers of econnect_app/i18n.py: gettext, ngettext and _ are Babel's own.
MESSAGE_KEYWORDS := -k t -k t_plural:1,2 -k N_ -k translate:2 -k translate_plural:2,3
messages: setup ## After changing texts: extract them and add the new ones to the Dutch catalogue (then translate those)
	$(BIN)/pybabel --quiet extract -F babel.cfg $(MESSAGE_KEYWORDS) --no-location --sort-output \
	  -o econnect_app/locale/messages.pot .
	$(BIN)/pybabel --quiet update -i econnect_app/locale/messages.pot -d econnect_app/locale -l nl \
	  --no-fuzzy-matching --ignore-obsolete --no-wrap

test-unit: setup ## Only the fast suites (no browser)
	$(BIN)/python -m pytest tests/unit tests/services tests/integration $(PYTEST_ARGS)

test-e2e: setup browser ## Only the end-to-end suite
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

bench: setup browser ## Every benchmark, one table, results/latest.json (BENCHMARKS.md); BENCH_SCALE=small, BENCH_SCALE_OUT=1
	@if [ "$(BENCH_SCALE_OUT)" = 1 ]; then $(SERVICES) start >/dev/null; \
	  export ECONNECT_TEST_DB_URL="$(call service_url,REFLEX_DB_URL)" ECONNECT_TEST_REDIS_URL="$(call service_url,REFLEX_REDIS_URL)"; fi; \
	  BENCH_SCALE="$(BENCH_SCALE)" BENCH_SCALE_OUT="$(BENCH_SCALE_OUT)" $(BIN)/python -m benchmarks.run_all $(BENCH_ARGS)

clean: ## Remove generated files (keeps data/ and .services/)
	rm -rf .web .states .web-prod
