"""os_core.partition_by_tenant: the ledger and the audit trail partitioned by hash of tenant_id.

A database holding data is converted, then checked: every row, id, projection and audit row
is kept; verify finds no drift; appends go on with larger ids; the schema is the same but for
the partitioning (and re-running the installer changes nothing); partitions refuse UPDATE,
DELETE and TRUNCATE with SE001 even for the owner, give selene_os nothing, and force
row-level security; the Citus-readiness rules still hold. The rest of the product on the
partitioned layout is the second pass of ``make test`` (``SELENE_TEST_LAYOUT=partitioned``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables.migrate import reinstall_sql
from tests.conftest import APP_ROLE, DBA_ROLE, PARTITIONED, conninfo
from tests.sql_helpers import TENANT_A, TENANT_B, append_committed, event, ledger_state
from tests.test_citus_readiness import CHECKS
from tests.test_migrations import dump_schema

pytestmark = pytest.mark.skipif(
    PARTITIONED, reason="converts a plain database: the template is partitioned already"
)

PARTITIONS = 4
TABLES = ("os_core.work_order_ledger", "ph1j.audit_events")
APPEND_ONLY = "SE001"
PRIVILEGE = "42501"
Connect = Callable[..., psycopg.Connection]


def seed(app: psycopg.Connection) -> None:
    """Two tenants' history: steps, a lease, a re-stamped replay, a cancel."""
    for tenant, correlation in ((TENANT_A, 1), (TENANT_B, 100)):
        append_committed(app, **event(tenant_id=tenant, correlation_id=correlation))
        append_committed(
            app,
            **event(
                tenant_id=tenant,
                correlation_id=correlation,
                event_type="STEP_STARTED",
                step_id="s-1",
                lease_owner_id="worker",
                lease_token_hash="hash",
                lease_expires_at=10_000,
                created_at=2_000,
                idempotency_key="start-1",
            ),
        )
        # The second is a replay, re-stamped: an audit row with its replay_created_at, no event.
        for created_at in (3_000, 3_001):
            append_committed(
                app,
                **event(
                    tenant_id=tenant,
                    correlation_id=correlation,
                    event_type="STEP_FINISHED",
                    step_id="s-1",
                    created_at=created_at,
                    idempotency_key="finish-1",
                ),
            )
        append_committed(
            app, **event(tenant_id=tenant, work_order_id="wo-2", correlation_id=correlation + 1)
        )
        append_committed(
            app,
            **event(
                tenant_id=tenant,
                work_order_id="wo-2",
                correlation_id=correlation + 1,
                event_type="WORK_ORDER_CANCELED",
                work_order_status="CANCELED",
                created_at=4_000,
            ),
        )


def rows(su: psycopg.Connection, table: str, key: str) -> list[str]:
    return [
        row[0]
        for row in su.execute(
            sql.SQL("SELECT t::text FROM {} AS t ORDER BY {}").format(
                sql.SQL(table), sql.Identifier(key)
            )
        )
    ]


def partition_of(su: psycopg.Connection, table: str) -> list[str]:
    return [
        row[0]
        for row in su.execute(
            "SELECT relid::regclass::text FROM pg_partition_tree(%s::regclass)"
            " WHERE level > 0 ORDER BY 1",
            [table],
        )
    ]


def convert(su: psycopg.Connection, partitions: int = PARTITIONS) -> None:
    su.execute("CALL os_core.partition_by_tenant(%s)", [partitions])
    su.commit()


def sqlstate(conn: psycopg.Connection, statement: str) -> str | None:
    """Run ``statement`` in a transaction rolled back; the SQLSTATE it raised."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except psycopg.Error as error:
        return error.sqlstate
    return None


def test_conversion_keeps_rows_ids_projections_and_audit_and_appends_go_on(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    su = postgresql
    app = connect(user=APP_ROLE, autocommit=True)
    seed(app)
    ledger = rows(su, "os_core.work_order_ledger", "work_order_event_id")
    audit = rows(su, "ph1j.audit_events", "audit_event_id")
    state = ledger_state(su)
    assert len(ledger) == 10 and len(audit) == 12
    last_event = su.execute("SELECT max(work_order_event_id) FROM os_core.work_order_ledger")
    last_event_id = last_event.fetchone()[0]  # type: ignore[index]
    su.commit()

    convert(su)

    assert [
        su.execute("SELECT relkind::text FROM pg_class WHERE oid = %s::regclass", [t]).fetchone()
        for t in TABLES
    ] == [("p",), ("p",)]
    for table in TABLES:
        assert len(partition_of(su, table)) == PARTITIONS
    assert rows(su, "os_core.work_order_ledger", "work_order_event_id") == ledger
    assert rows(su, "ph1j.audit_events", "audit_event_id") == audit
    assert su.execute(
        "SELECT tenant_id, replay_created_at FROM ph1j.audit_events"
        " WHERE replay_created_at IS NOT NULL ORDER BY 1"
    ).fetchall() == [(TENANT_A, 3_001), (TENANT_B, 3_001)]
    assert ledger_state(su) == state
    # Each tenant's rows sit in one partition.
    placed = su.execute(
        "SELECT tenant_id, count(DISTINCT tableoid) FROM os_core.work_order_ledger GROUP BY 1"
    ).fetchall()
    assert sorted(placed) == [(TENANT_A, 1), (TENANT_B, 1)]
    su.commit()

    with connect(user=DBA_ROLE) as dba:
        assert dba.execute("SELECT * FROM os_core.work_orders_current_verify()").fetchall() == []
    new_id, replay = append_committed(
        app, **event(work_order_id="wo-3", correlation_id=7, idempotency_key="after")
    )
    assert not replay and new_id == last_event_id + 1
    assert append_committed(
        app, **event(work_order_id="wo-3", correlation_id=7, idempotency_key="after")
    ) == (new_id, True)
    audit_ids = [r[0] for r in su.execute("SELECT audit_event_id FROM ph1j.audit_events")]
    assert sorted(audit_ids) == list(range(1, 15))  # 12 before, then the append and its replay
    with connect(user=DBA_ROLE) as dba:
        assert dba.execute("SELECT * FROM os_core.work_orders_current_verify()").fetchall() == []
        rebuilt = dba.execute("SELECT * FROM os_core.work_orders_current_rebuild()").fetchone()
        assert rebuilt == (2, 5, 11, 0)


def normalised(schema: str) -> str:
    """A schema dump without what partitioning adds: the partitions' entries, PARTITION BY,
    ON ONLY, and pg_dump's access-method settings (printed before plain tables only)."""
    schema = schema.replace("--\n-- PostgreSQL database dump complete\n--\n", "")
    entries = re.split(r"(?=^--\n-- Name: )", schema, flags=re.M)
    kept = "".join(  # an entry's header names the partition (its table, index or trigger)
        entry for entry in entries if not re.search(r"_p\d{2,}(?!\d)", entry.split("\n")[1])
    )
    kept = kept.replace(")\nPARTITION BY HASH (tenant_id);", ");").replace(" ON ONLY ", " ON ")
    kept = re.sub(r"^SET default_table_access_method = heap;\n\n", "", kept, flags=re.M)
    return kept.rstrip("\n")


def test_the_schema_is_the_same_but_partitioned_and_the_installer_changes_nothing(
    postgresql_proc: PostgreSQLExecutor, postgresql: psycopg.Connection, dbname: str
) -> None:
    before = dump_schema(postgresql_proc, dbname)
    convert(postgresql)
    after = dump_schema(postgresql_proc, dbname)
    assert "PARTITION BY HASH (tenant_id)" in after
    assert normalised(after) == normalised(before)
    # The views, functions and grants it put back are what the installer makes.
    reinstall_sql(conninfo(postgresql_proc, dbname))
    assert dump_schema(postgresql_proc, dbname) == after


def test_a_second_conversion_and_bad_partition_counts_are_refused(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    su = postgresql
    su.autocommit = True
    for bad in ("1", "0", "-8", "1025", "NULL"):
        assert sqlstate(su, f"CALL os_core.partition_by_tenant({bad})") == "22023", bad
    app = connect(user=APP_ROLE, autocommit=True)
    assert sqlstate(app, "CALL os_core.partition_by_tenant(8)") == PRIVILEGE
    su.execute("CALL os_core.partition_by_tenant(2)")
    with pytest.raises(psycopg.Error) as again:
        su.execute("CALL os_core.partition_by_tenant(8)")
    assert again.value.sqlstate == "55000"
    assert again.value.diag.message_primary == "partition_by_tenant: already partitioned"
    assert len(partition_of(su, "os_core.work_order_ledger")) == 2


def test_partitions_refuse_update_delete_and_truncate_even_for_the_owner(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    su = postgresql
    seed(connect(user=APP_ROLE, autocommit=True))
    convert(su)
    su.autocommit = True
    before = (rows(su, TABLES[0], "work_order_event_id"), rows(su, TABLES[1], "audit_event_id"))
    partitions = [p for table in TABLES for p in partition_of(su, table)]
    assert len(partitions) == 2 * PARTITIONS
    mutations = (
        "UPDATE {} SET tenant_id = tenant_id",
        "UPDATE {} SET tenant_id = tenant_id WHERE false",
        "DELETE FROM {}",
        "DELETE FROM {} WHERE false",
        "TRUNCATE {}",
    )
    for partition in partitions:
        for mutation in mutations:
            statement = mutation.format(partition)
            assert sqlstate(su, statement) == APPEND_ONLY, statement
            # The owner: no privilege first, then the triggers once it grants itself one.
            su.execute("SET ROLE selene_owner")
            assert sqlstate(su, statement) == PRIVILEGE, statement
            su.execute("RESET ROLE")
        su.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON {partition} TO selene_owner")
        su.execute("SET ROLE selene_owner")
        for mutation in mutations:
            assert sqlstate(su, mutation.format(partition)) == APPEND_ONLY, mutation
        su.execute("RESET ROLE")
        su.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {partition} FROM selene_owner")
    after = (rows(su, TABLES[0], "work_order_event_id"), rows(su, TABLES[1], "audit_event_id"))
    assert after == before


def test_partitions_give_the_product_roles_nothing_and_force_row_level_security(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    su = postgresql
    seed(connect(user=APP_ROLE, autocommit=True))
    convert(su)
    su.autocommit = True
    partitions = [p for table in TABLES for p in partition_of(su, table)]
    for login in (APP_ROLE, DBA_ROLE):
        conn = connect(user=login, autocommit=True)
        for partition in partitions:
            assert sqlstate(conn, f"SELECT * FROM {partition}") == PRIVILEGE
            assert sqlstate(conn, f"INSERT INTO {partition} DEFAULT VALUES") == PRIVILEGE
    privileges = su.execute(
        """
        SELECT r.rolname, c.oid::regclass::text, p.privilege
        FROM pg_class AS c
        CROSS JOIN (VALUES ('selene_os'), ('selene_dba'), ('selene_projector')) AS r (rolname)
        CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'),
                           ('REFERENCES'), ('TRIGGER')) AS p (privilege)
        WHERE c.relispartition AND c.relkind = 'r'
          AND c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
          AND has_table_privilege(r.rolname, c.oid, p.privilege)
        UNION ALL
        SELECT 'PUBLIC', c.oid::regclass::text, a.privilege_type
        FROM pg_class AS c CROSS JOIN LATERAL aclexplode(c.relacl) AS a
        WHERE c.relispartition AND a.grantee = 0
        """
    ).fetchall()
    assert privileges == []
    unforced = su.execute(
        "SELECT oid::regclass::text FROM pg_class WHERE relispartition AND relkind = 'r'"
        " AND NOT (relrowsecurity AND relforcerowsecurity)"
    ).fetchall()
    assert unforced == []
    # The owner, with SELECT and a tenant declared, still sees no row through a partition:
    # row-level security is forced there with no policy, so nothing passes.
    holding = su.execute(
        "SELECT DISTINCT tableoid::regclass::text FROM os_core.work_order_ledger"
    ).fetchall()
    assert holding
    with su.transaction(force_rollback=True):
        su.execute("SET LOCAL ROLE selene_owner")
        su.execute("SELECT os_core.set_tenant(%s)", [TENANT_A])
        for (partition,) in holding:
            assert su.execute(f"SELECT count(*) FROM {partition}").fetchone() == (0,)
        assert su.execute("SELECT count(*) FROM os_core.work_order_ledger").fetchone() == (5,)


def test_the_citus_readiness_rules_still_hold(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    seed(connect(user=APP_ROLE, autocommit=True))
    convert(postgresql)
    for name, check in CHECKS.items():
        assert check(postgresql) == [], name  # type: ignore[operator]
