"""Migrations: the schema matches the committed snapshot, re-applying changes nothing,
and rolling back then re-applying gives the same schema."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor
from yoyo import get_backend, read_migrations

from selene_core_tables.migrate import (
    apply_migrations,
    reinstall_sql,
    rollback_migrations,
    yoyo_url,
)
from selene_core_tables.resources import resource_dir
from selene_core_tables.server import find_bindir
from tests.conftest import PARTITIONED, TEST_PARTITIONS, conninfo
from tests.sql_helpers import append_committed, event

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "schema.sql"
MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# pg_dump's lines that change from run to run or between point releases.
VOLATILE_LINES = re.compile(r"^(-- Dumped (from|by) .*|\\(un)?restrict .*)\n", re.MULTILINE)


def dump_schema(executor: PostgreSQLExecutor, dbname: str) -> str:
    """pg_dump --schema-only of os_core and ph1j, without the lines that vary by run."""
    dumped = subprocess.run(
        [
            str(find_bindir() / "pg_dump"),
            "--schema-only",
            "--schema=os_core",
            "--schema=ph1j",
            conninfo(executor, dbname),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return VOLATILE_LINES.sub("", dumped)


@pytest.mark.skipif(
    PARTITIONED,
    reason="the snapshot is the plain layout's; test_partitioning compares the partitioned one",
)
def test_schema_matches_the_committed_snapshot(
    postgresql_proc: PostgreSQLExecutor, dbname: str
) -> None:
    dumped = dump_schema(postgresql_proc, dbname)
    if os.environ.get("SELENE_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(dumped)
    assert dumped == SNAPSHOT.read_text(), (
        "the migrated schema differs from tests/snapshots/schema.sql: if the change is "
        "intended, run `make snapshot` and commit the new snapshot with it"
    )


def test_reapplying_migrations_and_sql_changes_nothing(
    postgresql_proc: PostgreSQLExecutor, dbname: str
) -> None:
    before = dump_schema(postgresql_proc, dbname)
    assert apply_migrations(conninfo(postgresql_proc, dbname)) == 0
    reinstall_sql(conninfo(postgresql_proc, dbname))
    assert dump_schema(postgresql_proc, dbname) == before


def test_rollback_then_apply_gives_the_same_schema(
    postgresql_proc: PostgreSQLExecutor, postgresql: psycopg.Connection, dbname: str
) -> None:
    before = dump_schema(postgresql_proc, dbname)
    target = conninfo(postgresql_proc, dbname)
    postgresql.close()  # yoyo needs the database to itself for DROP SCHEMA
    assert rollback_migrations(target) >= 1
    with psycopg.connect(target) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('os_core', 'ph1j')"
        ).fetchall()
    assert schemas == []
    assert apply_migrations(target) >= 1
    if PARTITIONED:  # the migrations build the plain layout; the conversion is a step of its own
        with psycopg.connect(target) as conn:
            conn.execute(f"CALL os_core.partition_by_tenant({TEST_PARTITIONS})")
    assert dump_schema(postgresql_proc, dbname) == before


def test_a_dba_can_apply_the_migrations_with_the_yoyo_command(
    postgresql_proc: PostgreSQLExecutor, postgresql: psycopg.Connection, dbname: str
) -> None:
    """The by-hand command of the README, on an empty database, gives the snapshot schema."""
    empty = f"{dbname}_by_hand"
    postgresql.autocommit = True
    postgresql.execute(f'CREATE DATABASE "{empty}" TEMPLATE template0')
    url = f"postgresql+psycopg://{postgresql_proc.user}@{postgresql_proc.host}:{postgresql_proc.port}/{empty}"
    yoyo = Path(sys.executable).parent / "yoyo"
    migrations = Path(__file__).resolve().parents[1] / "migrations"
    subprocess.run(
        [str(yoyo), "apply", "--batch", "--database", url, str(migrations)],
        check=True,
        capture_output=True,
    )
    assert dump_schema(postgresql_proc, empty) == SNAPSHOT.read_text()


@pytest.mark.parametrize(
    "planted",
    [
        "CREATE INDEX work_order_ledger_by_work_order_covering"
        " ON os_core.work_order_ledger (tenant_id, work_order_id)",
        # What a failed CREATE INDEX CONCURRENTLY leaves behind: an index marked invalid.
        "CREATE INDEX work_order_ledger_by_work_order_covering ON os_core.work_order_ledger"
        " (tenant_id, work_order_id, work_order_event_id) INCLUDE (step_id, lease_owner_id);"
        " UPDATE pg_index SET indisvalid = false"
        " WHERE indexrelid = 'os_core.work_order_ledger_by_work_order_covering'::regclass",
    ],
    ids=["defined-otherwise", "invalid"],
)
def test_migration_0005_stops_rather_than_put_a_wrong_prebuilt_index_in_place(
    postgresql_proc: PostgreSQLExecutor, postgresql: psycopg.Connection, dbname: str, planted: str
) -> None:
    """A DBA may pre-build 0005's index CONCURRENTLY; a broken pre-build stops the migration."""
    target = conninfo(postgresql_proc, dbname)
    postgresql.close()
    migrations = read_migrations(str(resource_dir("migrations")))
    with get_backend(yoyo_url(target)) as backend, backend.lock():
        applied = backend.to_rollback(migrations)
        backend.rollback_migrations(applied.filter(lambda m: m.id.startswith("0005.")))
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(planted)
    with pytest.raises(psycopg.Error, match="is not the index 0005 builds"):
        apply_migrations(target)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("DROP INDEX os_core.work_order_ledger_by_work_order_covering")
    assert apply_migrations(target) == 1
    with psycopg.connect(target) as conn:
        definition = conn.execute(
            "SELECT pg_get_indexdef('os_core.work_order_ledger_by_work_order'::regclass)"
        ).fetchone()
    assert definition is not None
    assert definition[0].endswith(
        "(tenant_id, work_order_id, work_order_event_id) INCLUDE (step_id, lease_owner_id)"
    )


def _rollback_0008(target: str) -> None:
    migrations = read_migrations(str(resource_dir("migrations")))
    with get_backend(yoyo_url(target)) as backend, backend.lock():
        applied = backend.to_rollback(migrations)
        backend.rollback_migrations(applied.filter(lambda m: m.id.startswith("0008.")))


def test_migration_0008_rolls_back_only_while_no_replay_recorded_its_created_at(
    postgresql_proc: PostgreSQLExecutor, postgresql: psycopg.Connection, dbname: str
) -> None:
    """0008's column is audit history once a replay wrote it: the rollback stops then."""
    target = conninfo(postgresql_proc, dbname)
    first = event(idempotency_key="create-1")
    postgresql.autocommit = True
    event_id, replay = append_committed(postgresql, **first)
    assert replay is False
    # An APPENDED row carries no replay_created_at: nothing to lose, the rollback runs.
    postgresql.close()
    _rollback_0008(target)
    with psycopg.connect(target) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'ph1j.audit_events'::regclass"
            " AND attname = 'replay_created_at' AND NOT attisdropped"
        ).fetchone() == (0,)
    assert apply_migrations(target) == 1

    with psycopg.connect(target, autocommit=True) as conn:
        assert append_committed(conn, **{**first, "created_at": 1_001}) == (event_id, True)
    with pytest.raises(psycopg.Error, match="0008 cannot be rolled back"):
        _rollback_0008(target)
    with psycopg.connect(target) as conn:
        assert conn.execute(
            "SELECT outcome, replay_created_at FROM ph1j.audit_events ORDER BY audit_event_id"
        ).fetchall() == [("APPENDED", None), ("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", 1_001)]
    assert apply_migrations(target) == 0


RELEASED = MIGRATIONS_DIR / "released.sha256"


def released_checksums() -> dict[str, str]:
    """file name -> sha256, from migrations/released.sha256 (sha256sum's format)."""
    checksums = {}
    for line in RELEASED.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            checksums[name.lstrip("*")] = digest
    return checksums


def test_released_migrations_are_never_edited() -> None:
    """A released migration has run on databases that will never run it again: editing it
    changes nothing there and forks the schema. migrations/released.sha256 pins each."""
    released = released_checksums()
    assert released, f"{RELEASED} lists no migration"
    edited = sorted(
        name
        for name, digest in released.items()
        if not (MIGRATIONS_DIR / name).is_file()
        or hashlib.sha256((MIGRATIONS_DIR / name).read_bytes()).hexdigest() != digest
    )
    assert edited == [], (
        f"released migrations edited or removed: {', '.join(edited)}. A released migration "
        "never changes: restore it (git checkout main -- migrations/<file>) and add a new "
        "migration, NNNN.slug.sql with its .rollback.sql, that makes the change"
    )


def test_no_migration_is_slipped_in_among_the_released_ones() -> None:
    """Every migration numbered up to the last released one is released, rollback included:
    a new one takes the next number (README.md, "Installing the schema in a database")."""
    released = released_checksums()
    last = max(name.split(".", 1)[0] for name in released)
    unreleased = sorted(
        path.name
        for path in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9].*.sql")
        if path.name.split(".", 1)[0] <= last and path.name not in released
    )
    assert unreleased == [], f"migrations numbered at or below the released {last}: {unreleased}"
