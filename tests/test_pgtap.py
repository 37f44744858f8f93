"""The pgTAP suite: every pgtap_tests/NN-topic.sql file, run by pg_prove on a fresh database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

PGTAP_DIR = Path(__file__).resolve().parents[1] / "pgtap_tests"
PGTAP_FILES = sorted(PGTAP_DIR.glob("[0-9][0-9]-*.sql"))


def test_the_pgtap_suite_is_not_empty() -> None:
    assert len(PGTAP_FILES) >= 5, f"expected the pgTAP files in {PGTAP_DIR}"


@pytest.mark.parametrize("path", PGTAP_FILES, ids=lambda path: path.name)
def test_pgtap_file(
    path: Path, postgresql: psycopg.Connection, postgresql_proc: PostgreSQLExecutor
) -> None:
    pg_prove = shutil.which("pg_prove")
    assert pg_prove, (
        "pg_prove is missing: make test installs libtap-parser-sourcehandler-pgtap-perl"
    )
    postgresql.execute("CREATE EXTENSION IF NOT EXISTS pgtap")
    postgresql.commit()
    result = subprocess.run(
        [
            pg_prove,
            "--verbose",
            "--host",
            postgresql_proc.host,
            "--port",
            str(postgresql_proc.port),
            "--username",
            postgresql_proc.user,
            "--dbname",
            postgresql.info.dbname,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "Result: PASS" in report, report
