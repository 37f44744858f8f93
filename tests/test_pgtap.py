"""The pgTAP suite: every pgtap_tests/*.sql file, run by pg_prove on a fresh database.

A capability's files are named after its SQL function (`work_order_cancel.sql`,
`work_order_ledger_append--idempotency.sql`); cross-cutting ones after their topic
(`schema.sql`, `privileges.sql`). tests/test_capabilities.py holds every capability of
os_core.capabilities() to having one.

Each file goes through scripts/run-pgtap.sh, the same script the pgtap service of
docker/compose.yaml runs, so that `make test` and the Docker image prove the same thing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

ROOT = Path(__file__).resolve().parents[1]
PGTAP_DIR = ROOT / "pgtap_tests"
PGTAP_FILES = sorted(PGTAP_DIR.glob("*.sql"))
RUN_PGTAP = ROOT / "scripts" / "run-pgtap.sh"

# The files that run on a Citus coordinator too (make test-citus): the schema, grants,
# policies and comments. Every other file plays several roles in one transaction that it
# rolls back at the end (SET ROLE selene_os, then selene_dba, ...), which Citus cannot
# serve: the coordinator connects to the workers as the current role, and the product
# roles cannot log in; and it refuses, in one transaction, to read as one role the shard
# placements that another role has written. The pytest suites of make test-citus prove
# the same behaviour through login roles (docs/scaling.md).
CITUS_PGTAP_FILES = {"schema.sql"}
MULTI_ROLE_TRANSACTION = pytest.mark.single_node(
    "plays several NOLOGIN roles in one transaction, which Citus cannot serve"
)


def _pgtap_params() -> list[object]:
    return [
        pytest.param(
            path,
            id=path.name,
            marks=() if path.name in CITUS_PGTAP_FILES else MULTI_ROLE_TRANSACTION,
        )
        for path in PGTAP_FILES
    ]


def test_the_pgtap_suite_is_not_empty() -> None:
    assert len(PGTAP_FILES) >= 5, f"expected the pgTAP files in {PGTAP_DIR}"


@pytest.mark.parametrize("path", _pgtap_params())
def test_pgtap_file(
    path: Path, postgresql: psycopg.Connection, postgresql_proc: PostgreSQLExecutor
) -> None:
    assert shutil.which("pg_prove"), (
        "pg_prove is missing: make test installs libtap-parser-sourcehandler-pgtap-perl"
    )
    connection = {
        "PGHOST": postgresql_proc.host,
        "PGPORT": str(postgresql_proc.port),
        "PGUSER": postgresql_proc.user,
        "PGDATABASE": postgresql.info.dbname,
    }
    result = subprocess.run(
        [str(RUN_PGTAP), str(path)],
        env={**os.environ, **connection},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "Result: PASS" in report, report
