# Two commands do everything on a fresh machine with Python 3.11+ and PyPI:
#   make run    create the environment from uv.lock, migrate, index the examples, serve :8000
#   make test   the same environment, then the whole test suite (offline)
#   make test-fast  the quick loop: leaves out real processes, PostgreSQL and the browser
# uv is used if it is on PATH; otherwise it is installed into .tools/ with pip.

PYTHON ?= python3
UV_VERSION ?= 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
UV_RUN := $(UV) run --frozen --no-sync
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run test test-fast lint fmt check clean bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# The example shop database for the SQL tools. `make run` builds it when missing,
# when the script changed or in a new month (its data ends on the first day of the month it was
# built for, so "last month" is a whole month), and points SQL_TOOL_DATABASE_URL at it unless you
# set that variable (environment or .env); set it empty to run without the SQL tools.
SHOP_DB := data/shop.db

$(SHOP_DB): examples/build_shop_db.py | .venv/.synced
	$(UV_RUN) python examples/build_shop_db.py $(SHOP_DB) --force

run: .venv/.synced $(SHOP_DB) ## Serve the API on http://127.0.0.1:8000 (docs at /docs)
	@$(UV_RUN) python examples/build_shop_db.py $(SHOP_DB) --refresh
	@if [ -z "$${SQL_TOOL_DATABASE_URL+set}" ] && ! grep -qs '^SQL_TOOL_DATABASE_URL=' .env; then \
		export SQL_TOOL_DATABASE_URL=sqlite:///$(SHOP_DB); fi; \
	$(UV_RUN) qna-agent serve

test: .venv/.synced ## Run the whole test suite
	$(UV_RUN) pytest $(PYTEST_ARGS)

test-fast: .venv/.synced ## Tests without real processes, PostgreSQL or a browser (under 2 min)
	$(UV_RUN) pytest -m "not slow and not postgres" $(PYTEST_ARGS)

lint: .venv/.synced ## ruff, ruff format --check, mypy --strict, the import contracts
	$(UV_RUN) ruff check src tests
	$(UV_RUN) ruff format --check src tests
	$(UV_RUN) mypy
	$(UV_RUN) lint-imports

fmt: .venv/.synced ## Format and fix what ruff can
	$(UV_RUN) ruff check --fix src tests
	$(UV_RUN) ruff format src tests

check: lint test ## Everything CI runs on the code

clean: ## Remove the environments and local data
	rm -rf .venv .tools data .mypy_cache .ruff_cache .pytest_cache

BENCH_ARGS ?=
bench: .venv/.synced ## Benchmark the service (fake LLM, SQLite + PostgreSQL) and print the table
	$(UV_RUN) python bench/bench_service.py $(BENCH_ARGS)
