# selene-core-tables. `make test` sets up everything it needs on a fresh Debian
# machine (Debian packages when missing, a virtual environment at .venv), then
# lints and runs the whole suite against throwaway PostgreSQL servers.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: test test-citus test-long demo lint format pytest pytest-partitioned pgtap snapshot system-deps venv clean bench bench-large

test: lint pytest pytest-partitioned

# The demo on the embedded database, which the CLI creates and starts itself
# (under $$SELENE_CORE_TABLES_HOME; `.venv/bin/selene-core-tables db stop` stops it).
demo: venv
	$(BIN)/selene-core-tables demo

system-deps:
	@scripts/install-system-deps.sh

$(INSTALLED): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[dev]'
	touch $@

venv: system-deps $(INSTALLED)

lint: venv
	$(BIN)/sqlfluff lint sql migrations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/sqlfluff fix sql migrations
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Test files run in TEST_WORKERS processes (pytest-xdist), each with its own throwaway
# server or Citus cluster; a file stays in one process (its module fixtures are set up
# once). Much of the suite waits on the database, so two processes gain even on 2 cores.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The pytest suite includes plpgsql_check over every PL/pgSQL function and the
# pgTAP suite (pg_prove, one test per file of pgtap_tests/).
pytest: venv
	$(PYTEST)

# The same suites again on the ledger and audit trail partitioned by hash of tenant_id
# (tests/conftest.py converts the template with os_core.partition_by_tenant; docs/dba.md).
PARTITIONED_SUITES := tests/test_pgtap.py tests/test_sql_*.py tests/test_tenant_attacks.py \
	tests/test_bad_operations.py tests/test_races.py tests/test_model_based.py \
	tests/test_ledger_paging.py tests/test_plpgsql_check.py tests/test_citus_readiness.py \
	tests/test_migrations.py tests/test_client_follow.py tests/test_client_consumer.py \
	tests/test_client_follow_audit.py tests/test_cli_follow.py
pytest-partitioned: venv
	SELENE_TEST_LAYOUT=partitioned $(PYTEST) $(PARTITIONED_SUITES)

# The suites that make sense on a Citus cluster, against a throwaway coordinator and two
# workers (tests/citus_cluster.py), plus the Citus-only tests (tests/test_citus.py).
# Installs Citus first when missing: CITUS_SOURCE=DIR (a Citus source with install.sh,
# ../shared/vendor/citus here) or CITUS_APT_PACKAGE=NAME. docs/scaling.md.
CITUS_SUITES := tests/test_citus.py tests/test_pgtap.py tests/test_tenant_attacks.py \
	tests/test_client_repository.py tests/test_client_async.py tests/test_client_follow.py \
	tests/test_client_consumer.py tests/test_cli_follow.py tests/test_round_trips.py \
	tests/test_client_cancel_pending.py tests/test_client_errors.py tests/test_ledger_paging.py \
	tests/test_sql_reads.py tests/test_sql_failure_modes.py tests/test_sql_projections.py \
	tests/test_sql_tenant_stats.py tests/test_sql_concurrency.py tests/test_model_based.py \
	tests/test_sql_consumers.py tests/test_sql_audit_read.py tests/test_client_follow_audit.py \
	tests/test_append_many.py tests/test_capabilities.py
# The citus benchmark suite's quick run on tiny data (benchmarks/citus.py).
CITUS_SUITES += tests/test_bench_citus.py
test-citus: venv
	scripts/install-citus.sh
	SELENE_TEST_LAYOUT=citus $(PYTEST) -m 'not single_node' $(CITUS_SUITES)

# The reliability suites with larger counts (docs/guarantees.md): about 10 minutes, and
# 2 to 3 more for the pg_auto_failover suite (a monitor and two nodes).
test-long: venv
	SELENE_LONG=1 $(BIN)/pytest tests/test_races.py tests/test_crash.py tests/test_fuzz.py \
		tests/test_tenant_attacks.py tests/test_bad_operations.py tests/test_failover.py \
		tests/test_pg_auto_failover.py

pgtap: venv
	$(BIN)/pytest tests/test_pgtap.py

clean:
	rm -rf $(VENV) .ruff_cache

# Regenerates tests/snapshots/schema.sql after an intended schema change.
snapshot: venv
	SELENE_UPDATE_SNAPSHOT=1 $(BIN)/pytest tests/test_migrations.py -k snapshot

# Benchmarks against bare PostgreSQL in a throwaway cluster (benchmarks/README.md):
# about 9 minutes; BENCH_QUICK=1 for a smoke run, BENCH_ARGS for more options.
# Prints a table; writes benchmarks/results/latest.json, -details.json and .png.
# The citus suite needs Citus: installed first when CITUS_SOURCE or CITUS_APT_PACKAGE
# says how (as for test-citus); without it the suite says it was skipped.
bench: venv
	-scripts/install-citus.sh
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# The growth run: appends on a 1M-row and a 10M-row ledger (about 5 minutes).
# Writes benchmarks/results/large.json and large-details.json, not latest.json.
bench-large: venv
	$(BIN)/python -m benchmarks --profile large --output benchmarks/results/large.json $(BENCH_ARGS)
