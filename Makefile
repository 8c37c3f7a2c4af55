# Siyu: two commands on a fresh machine.
#   make run   set up, generate the demo extracts (once), run the daily job on DuckDB
#   make test  set up and run the tests
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export UV_COMPILE_BYTECODE := 1
export SIYU_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(SIYU_DATA_DIR)/dagster_home
DEMO_PERSONS ?= 20000
DEMO_DAYS ?= 180
DEMO_START ?= 2026-05-01
PYTEST_ARGS ?=
# two workers, one test file each at a time: the long end-to-end files (demo, brand shapes) run
# side by side, and a file's session fixtures are built once per worker
TEST_WORKERS ?= 2

.PHONY: setup run test test-spark ui docs generate lint lint-python lint-sql clean

$(BIN)/.installed: pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	@UV="$$(command -v uv || echo '$(PYTHON) -m uv')"; \
	  [ -x $(BIN)/python ] || $$UV venv -q -p $(PYTHON) $(VENV); \
	  $$UV pip install -q -p $(VENV) -e '.[dev]'
	@touch $@

$(BIN)/.dbt-parsed: $(BIN)/.installed $(shell find dbt_project -name '*.sql' -o -name '*.yml' -o -name '*.csv' 2>/dev/null | grep -v target/)
	@cd dbt_project && ../$(BIN)/dbt parse --quiet --project-dir . --profiles-dir . >/dev/null
	@touch $@

setup: $(BIN)/.installed $(BIN)/.dbt-parsed

generate: setup
	$(BIN)/siyu generate --persons $(DEMO_PERSONS) --days $(DEMO_DAYS) --start $(DEMO_START) --seed 42 --out $(SIYU_DATA_DIR)/landing

run: setup
	@[ -d $(SIYU_DATA_DIR)/landing/_truth ] || $(MAKE) --no-print-directory generate
	$(BIN)/siyu run

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not spark" $(PYTEST_ARGS)

# The same dbt project on Spark (README, "Spark"): the `spark` extra (dbt-spark, pyspark; Java 17
# on PATH) and the DuckDB/Spark parity test, about 6 minutes on 2 cores.
$(BIN)/.installed-spark: $(BIN)/.installed
	@UV="$$(command -v uv || echo '$(PYTHON) -m uv')"; $$UV pip install -q -p $(VENV) -e '.[dev,spark]'
	@touch $@

test-spark: setup $(BIN)/.installed-spark
	SPARK_LOCAL_IP=$${SPARK_LOCAL_IP:-127.0.0.1} $(BIN)/python -m pytest -m spark $(PYTEST_ARGS) tests/dbt/test_spark_parity.py

# workspace.yaml loads orchestration.definitions; DAGSTER_HOME is the one `siyu run` records its
# runs in (<data>/dagster_home), so the UI shows them and its daemon runs the schedules and the
# run-failure alert sensor against the same instance
ui: setup
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# dbt's documentation site (lineage, every model and column) into <data>/dbt_docs; the catalog
# (column types, row counts) is read from the build database when `make run` has built it
# (without it, an in-memory database: `make docs` never leaves an empty build database behind)
DBT_DOCS_DIR := $(SIYU_DATA_DIR)/dbt_docs
DOCS_WAREHOUSE := $(or $(SIYU_WAREHOUSE_PATH),$(SIYU_DATA_DIR)/warehouse.duckdb)
docs: setup
	@mkdir -p $(DBT_DOCS_DIR)
	@cd dbt_project && if [ -f "$(DOCS_WAREHOUSE)" ]; then \
	  ../$(BIN)/dbt docs generate --quiet --static --project-dir . --profiles-dir . --target-path $(DBT_DOCS_DIR); \
	else \
	  echo "docs: no build database yet ($(DOCS_WAREHOUSE)): no column types; make run, then make docs again"; \
	  SIYU_WAREHOUSE_PATH=:memory: ../$(BIN)/dbt docs generate --quiet --static --empty-catalog --project-dir . --profiles-dir . --target-path $(DBT_DOCS_DIR); \
	fi
	@echo "dbt docs: open $(DBT_DOCS_DIR)/static_index.html in a browser, or serve them with"
	@echo "  (cd dbt_project && ../$(BIN)/dbt docs serve --project-dir . --profiles-dir . --target-path $(DBT_DOCS_DIR) --host 127.0.0.1 --port 8080)"

# The Python checks CI runs (.ci/run): ruff, its formatter, and the house's layers (.importlinter)
lint-python: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# sqlfluff (dbt templater) over the dbt models and tests, as a first build and as a daily run
# renders them; needs no data folder (.ci/lint-sql). CI runs `make lint`.
lint-sql: $(BIN)/.installed
	.ci/lint-sql

lint: lint-python lint-sql

clean:
	rm -rf $(SIYU_DATA_DIR) dbt_project/target dbt_project/logs
