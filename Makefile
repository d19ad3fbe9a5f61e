# The two commands of the README: `make run` and `make test`. Everything else supports them.
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

.PHONY: run test setup toolchain browser migrate makemigrations test-unit test-e2e clean

run: setup migrate ## Serve the app on http://localhost:3000 (SQLite, mail kept in /dev/mailbox)
	REFLEX_HOT_RELOAD_OVERRIDE_PATHS="$(RELOAD_PATHS)" $(BIN)/reflex run

test: setup browser migrate ## Lint, then run the whole test suite
	$(BIN)/ruff check econnect_app tests alembic/env.py rxconfig.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed toolchain

$(VENV)/.installed: pyproject.toml
	@bash scripts/ensure-system-packages.sh python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

toolchain: ## bun and Node 22 from the npm registry into .tools/ (Reflex cannot download its own here)
	@bash scripts/ensure-toolchain.sh $(TOOLS)

browser: ## Chromium for Playwright (Debian's package; `playwright install` cannot download here)
	@bash scripts/ensure-system-packages.sh chromium

migrate: setup ## Apply the database migrations
	$(BIN)/reflex db migrate

makemigrations: setup ## Generate a migration from the models (review it, then commit it)
	$(BIN)/reflex db makemigrations --message "$(MESSAGE)"

test-unit: setup ## Only the fast suites (no browser)
	$(BIN)/python -m pytest tests/unit tests/services tests/integration $(PYTEST_ARGS)

test-e2e: setup browser ## Only the end-to-end suite
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

clean: ## Remove generated files (keeps data/)
	rm -rf .web .states
