"""Bad operations on the append-only tables, and what a superuser can still do.

The ledger and the audit trail are append-only three times over (design §6, style 5):
no role that uses the product holds UPDATE, DELETE or TRUNCATE on them, not even their
owner; statement triggers refuse the three for everyone, superusers included
(``test_sql_failure_modes.py::test_the_superuser_cannot_rewrite_an_append_only_table``);
and row-level security confines every role but superusers and BYPASSRLS to one tenant.

Here:

- the table owner (``selene_owner``, which only a superuser can become) is refused by
  privileges (42501); when it grants itself the privileges back, by the triggers (SE001);
- ``selene_dba`` and ``selene_os`` logins are refused by privileges (42501);
- every way for a non-superuser to switch the triggers off, or the row-level security, or
  to take ownership, is refused by privileges (42501), and afterwards the triggers still
  fire and the privileges are unchanged;
- what a superuser can still do, each shown working, and what the auditor's checks
  (``verify`` for the projections; a reconciliation of the ledger against the audit rows)
  detect of it, and what they cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

from tests.cloned_database import cloned_database
from tests.conftest import APP_ROLE, DBA_ROLE, conninfo
from tests.sql_helpers import TENANT_A, TENANT_B, append_committed, event, set_tenant

APPEND_ONLY = "SE001"
PRIVILEGE = "42501"
APPEND_ONLY_TABLES = ("os_core.work_order_ledger", "ph1j.audit_events")
MUTATIONS = {
    "update": "UPDATE {table} SET tenant_id = tenant_id",
    "update-no-row": "UPDATE {table} SET tenant_id = tenant_id WHERE false",
    "delete": "DELETE FROM {table}",
    "delete-no-row": "DELETE FROM {table} WHERE false",
    "truncate": "TRUNCATE {table}",
}
Connect = Callable[..., psycopg.Connection]


def seed(app: psycopg.Connection) -> list[int]:
    """Two tenants, three work orders, five events, all appended by the app role."""
    ids = [append_committed(app, **event(work_order_id="wo-1", correlation_id=1))[0]]
    for turn in (2, 3):
        ids.append(
            append_committed(
                app,
                **event(
                    work_order_id="wo-1",
                    correlation_id=1,
                    event_type="FIELD_SET",
                    work_order_status="CLARIFY",
                    turn_id=turn,
                    created_at=1_000 * turn,
                    payload={"turn": turn},
                ),
            )[0]
        )
    ids.append(append_committed(app, **event(work_order_id="wo-2", correlation_id=2))[0])
    ids.append(append_committed(app, **event(tenant_id=TENANT_B, work_order_id="wo-b"))[0])
    return ids


# Tests that only meet refusals share one database (each refusal rolls its transaction back);
# the tampering tests change it and take a fresh one each (``fresh``).
@pytest.fixture(scope="module")
def shared_db(postgresql_proc: PostgreSQLExecutor) -> Iterator[str]:
    with cloned_database(postgresql_proc, "bad_operations") as name:
        with psycopg.connect(conninfo(postgresql_proc, name, APP_ROLE), autocommit=True) as app:
            seed(app)
        yield name


@pytest.fixture
def shared(postgresql_proc: PostgreSQLExecutor, shared_db: str) -> Iterator[Connect]:
    """Sessions on the shared database: ``shared()`` the superuser, ``shared(user)`` a login."""
    opened: list[psycopg.Connection] = []

    def _connect(user: str | None = None) -> psycopg.Connection:
        conn = psycopg.connect(conninfo(postgresql_proc, shared_db, user), autocommit=True)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.fixture
def su(shared: Connect) -> psycopg.Connection:
    return shared()


@pytest.fixture
def fresh(postgresql: psycopg.Connection, connect: Connect) -> tuple[psycopg.Connection, list[int]]:
    """A fresh database of this test's own, seeded: (superuser session, event ids)."""
    postgresql.autocommit = True
    return postgresql, seed(connect(user=APP_ROLE, autocommit=True))


def snapshot(su: psycopg.Connection) -> tuple[list[str], list[str]]:
    """Every ledger and audit row, as text."""
    return (
        [r[0] for r in su.execute("SELECT l::text FROM os_core.work_order_ledger AS l ORDER BY 1")],
        [r[0] for r in su.execute("SELECT a::text FROM ph1j.audit_events AS a ORDER BY 1")],
    )


def refused(conn: psycopg.Connection, statements: list[str]) -> psycopg.Error:
    """Run ``statements`` in one transaction; the error that must stop them."""
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return caught.value


def triggers_intact(su: psycopg.Connection) -> None:
    rows = su.execute(
        "SELECT t.tgrelid::regclass::text, t.tgname, t.tgenabled FROM pg_catalog.pg_trigger AS t"
        " JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid"
        " WHERE t.tgname LIKE '\\_100\\_refuse%' AND NOT c.relispartition ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        (table, name, "O")
        for table in APPEND_ONLY_TABLES
        for name in ("_100_refuse_truncate", "_100_refuse_update_delete")
    ]
    # The partitioned layout: every partition keeps both, enabled.
    partitions = su.execute(
        "SELECT tree.relid::text, count(t.oid) FILTER (WHERE t.tgenabled = 'O')"
        " FROM unnest(%s::regclass[]) AS parent (oid)"
        " CROSS JOIN LATERAL pg_catalog.pg_partition_tree(parent.oid) AS tree"
        " LEFT JOIN pg_catalog.pg_trigger AS t"
        "     ON t.tgrelid = tree.relid AND t.tgname LIKE '\\_100\\_refuse%%'"
        " WHERE tree.level > 0 GROUP BY 1 ORDER BY 1",
        [list(APPEND_ONLY_TABLES)],
    ).fetchall()
    assert [row for row in partitions if row[1] != 2] == []


# --- the owner ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_table_owner_is_refused_by_privileges(
    su: psycopg.Connection, table: str, mutation: str
) -> None:
    before = snapshot(su)
    error = refused(
        su,
        [
            "SET LOCAL ROLE selene_owner",
            f"SELECT os_core.set_tenant('{TENANT_A}')",
            MUTATIONS[mutation].format(table=table),
        ],
    )
    assert error.sqlstate == PRIVILEGE, error
    assert snapshot(su) == before


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_owner_granting_itself_the_privileges_is_refused_by_the_triggers(
    su: psycopg.Connection, table: str, mutation: str
) -> None:
    """An owner may always grant itself privileges back: then the triggers refuse (SE001)."""
    before = snapshot(su)
    error = refused(
        su,
        [
            "SET LOCAL ROLE selene_owner",
            f"GRANT UPDATE, DELETE, TRUNCATE ON {table} TO selene_owner",
            f"SELECT os_core.set_tenant('{TENANT_A}')",
            MUTATIONS[mutation].format(table=table),
        ],
    )
    assert (error.sqlstate, error.diag.message_primary) == (
        APPEND_ONLY,
        "OS_WORK_ORDER_APPEND_ONLY_VIOLATION",
    )
    assert snapshot(su) == before


def test_no_login_but_superusers_can_become_the_owner(su: psycopg.Connection) -> None:
    rows = su.execute(
        "SELECT rolname FROM pg_catalog.pg_roles"
        " WHERE NOT rolsuper AND rolname <> 'selene_owner'"
        " AND pg_has_role(oid, 'selene_owner', 'MEMBER')"
    ).fetchall()
    assert rows == []


# --- selene_dba and selene_os ------------------------------------------------------------------


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize(
    "table", [*APPEND_ONLY_TABLES, "os_core.work_orders_current", "os_core.work_order_leases"]
)
@pytest.mark.parametrize("login", [DBA_ROLE, APP_ROLE])
def test_dba_and_app_logins_are_refused_by_privileges(
    su: psycopg.Connection, shared: Connect, login: str, table: str, mutation: str
) -> None:
    conn = shared(login)
    before = snapshot(su)
    statement = MUTATIONS[mutation].format(table=table)
    error = refused(conn, [f"SELECT os_core.set_tenant('{TENANT_A}')", statement])
    assert error.sqlstate == PRIVILEGE, error
    assert snapshot(su) == before


# --- switching the protections off, as a non-superuser -----------------------------------------

DISARM = [
    *[
        f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"
        for table in APPEND_ONLY_TABLES
        for trigger in ("_100_refuse_update_delete", "_100_refuse_truncate", "ALL", "USER")
    ],
    *[
        f"ALTER TABLE {table} ENABLE REPLICA TRIGGER {trigger}"
        for table in APPEND_ONLY_TABLES
        for trigger in ("_100_refuse_update_delete", "_100_refuse_truncate")
    ],
    *[f"DROP TRIGGER _100_refuse_update_delete ON {table}" for table in APPEND_ONLY_TABLES],
    *[f"DROP TRIGGER _100_refuse_truncate ON {table}" for table in APPEND_ONLY_TABLES],
    *[f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY" for table in APPEND_ONLY_TABLES],
    *[f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY" for table in APPEND_ONLY_TABLES],
    *[f"DROP POLICY tenant_isolation ON {table}" for table in APPEND_ONLY_TABLES],
    *[f"ALTER TABLE {table} OWNER TO CURRENT_USER" for table in APPEND_ONLY_TABLES],
    *[f"ALTER TABLE {table} RENAME TO evil" for table in APPEND_ONLY_TABLES],
    *[f"DROP TABLE {table}" for table in APPEND_ONLY_TABLES],
    *[
        f"CREATE RULE evil AS ON DELETE TO {table} DO INSTEAD NOTHING"
        for table in APPEND_ONLY_TABLES
    ],
    *[
        f"CREATE TRIGGER evil BEFORE INSERT ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation()"
        for table in APPEND_ONLY_TABLES
    ],
    "SET session_replication_role = replica",
    "SET LOCAL session_replication_role = replica",
    "CREATE OR REPLACE FUNCTION os_core.tg_append_only__refuse_mutation() RETURNS trigger"
    " LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$",
    "ALTER FUNCTION os_core.tg_append_only__refuse_mutation() OWNER TO CURRENT_USER",
    "ALTER FUNCTION os_core.work_order_ledger_append(text, text, numeric, bigint, text, text,"
    " bigint, bigint, text, text, text, text, bigint, text, jsonb, integer, bigint)"
    " SECURITY INVOKER",
    "ALTER DOMAIN os_core.tenant_id DROP CONSTRAINT tenant_id_format",
    "ALTER SCHEMA os_core OWNER TO CURRENT_USER",
    "ALTER SEQUENCE os_core.work_order_ledger_work_order_event_id_seq RESTART WITH 1",
    "SELECT setval('os_core.work_order_ledger_work_order_event_id_seq', 1)",
    "GRANT selene_owner TO CURRENT_USER",
    "CREATE EVENT TRIGGER evil ON ddl_command_start EXECUTE FUNCTION"
    " os_core.tg_append_only__refuse_mutation()",
]


@pytest.mark.parametrize("statement", DISARM, ids=lambda s: " ".join(s.split()[:6])[:70])
@pytest.mark.parametrize("login", [DBA_ROLE, APP_ROLE])
def test_non_superusers_cannot_switch_the_protections_off(
    su: psycopg.Connection, shared: Connect, login: str, statement: str
) -> None:
    conn = shared(login)
    error = refused(conn, [statement])
    assert error.sqlstate == PRIVILEGE, error
    triggers_intact(su)
    # And they still fire: as the owner with the privileges back, an UPDATE is refused.
    error = refused(
        su,
        [
            "SET LOCAL ROLE selene_owner",
            "GRANT UPDATE ON os_core.work_order_ledger TO selene_owner",
            f"SELECT os_core.set_tenant('{TENANT_A}')",
            "UPDATE os_core.work_order_ledger SET turn_id = turn_id",
        ],
    )
    assert error.sqlstate == APPEND_ONLY


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("login", [DBA_ROLE, APP_ROLE])
def test_granting_oneself_privileges_grants_nothing(
    su: psycopg.Connection, shared: Connect, login: str, table: str
) -> None:
    """GRANT without the grant option is a warning, not an error: it grants nothing."""
    conn = shared(login)
    try:
        conn.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON {table} TO {login}")
    except psycopg.Error as error:
        assert error.sqlstate == PRIVILEGE
    for privilege in ("UPDATE", "DELETE", "TRUNCATE", "INSERT", "SELECT"):
        row = su.execute("SELECT has_table_privilege(%s, %s, %s)", [login, table, privilege])
        assert row.fetchone() == (False,), (login, table, privilege)


# --- what a superuser can still do, and what the auditor sees ----------------------------------

# The auditor's reconciliation: every ledger event has exactly one APPENDED audit row with
# the same ids and audited columns, and every APPENDED audit row names a ledger event.
RECONCILE = """
WITH ledger AS (
    SELECT tenant_id, work_order_event_id, work_order_id, correlation_id, turn_id,
           event_type, reason_code, idempotency_key
    FROM os_core.work_order_ledger
), audit AS (
    SELECT tenant_id, work_order_event_id, work_order_id, correlation_id, turn_id,
           event_type, reason_code, idempotency_key
    FROM ph1j.audit_events WHERE outcome = 'APPENDED'
)
SELECT (SELECT count(*) FROM (TABLE ledger EXCEPT ALL TABLE audit) AS missing_audit)
     + (SELECT count(*) FROM (TABLE audit EXCEPT ALL TABLE ledger) AS missing_event)
"""
VERIFY = "SELECT count(*) FROM os_core.work_orders_current_verify(NULL::text)"


def auditor(connect: Connect, su: psycopg.Connection) -> tuple[bool, bool]:
    """(verify finds drift, the reconciliation finds a difference)."""
    dba = connect(user=DBA_ROLE, autocommit=True)
    drift = dba.execute(VERIFY).fetchone()[0]
    differences = su.execute(RECONCILE).fetchone()[0]
    return drift > 0, differences > 0


def test_the_auditor_finds_nothing_in_an_untouched_database(
    fresh: tuple[psycopg.Connection, list[int]], connect: Connect
) -> None:
    su, _ = fresh
    assert auditor(connect, su) == (False, False)


TAMPERING = {
    # name: (statements run by the superuser, (verify detects, reconciliation detects))
    "replica-mode-update-of-the-last-event": (
        [
            "SET session_replication_role = replica",
            "UPDATE os_core.work_order_ledger SET work_order_status = 'DONE'"
            " WHERE work_order_event_id = {last_wo1}",
            "RESET session_replication_role",
        ],
        (True, False),
    ),
    "disabled-trigger-update-of-a-middle-payload": (
        [
            "ALTER TABLE os_core.work_order_ledger DISABLE TRIGGER _100_refuse_update_delete",
            "UPDATE os_core.work_order_ledger SET payload = '{{\"turn\": 99}}'"
            " WHERE work_order_event_id = {middle_wo1}",
            "ALTER TABLE os_core.work_order_ledger ENABLE TRIGGER _100_refuse_update_delete",
        ],
        (False, False),
    ),
    "disabled-trigger-update-of-an-audited-column": (
        [
            "ALTER TABLE os_core.work_order_ledger DISABLE TRIGGER _100_refuse_update_delete",
            "UPDATE os_core.work_order_ledger SET reason_code = 99"
            " WHERE work_order_event_id = {middle_wo1}",
            "ALTER TABLE os_core.work_order_ledger ENABLE TRIGGER _100_refuse_update_delete",
        ],
        (False, True),
    ),
    "delete-of-a-middle-event": (
        [
            "SET session_replication_role = replica",
            "DELETE FROM os_core.work_order_ledger WHERE work_order_event_id = {middle_wo1}",
        ],
        (True, True),
    ),
    "direct-insert-of-a-forged-event": (
        [
            "INSERT INTO os_core.work_order_ledger (tenant_id, work_order_id, correlation_id,"
            " turn_id, event_type, work_order_status, reason_code, created_at)"
            " VALUES ('tenant-a', 'wo-1', 1, 9, 'STATUS_CHANGED', 'DONE', 1, 9000)",
        ],
        (True, True),
    ),
    "owner-regrant-disable-and-delete": (
        [
            "SET ROLE selene_owner",
            "GRANT DELETE ON os_core.work_order_ledger TO selene_owner",
            "ALTER TABLE os_core.work_order_ledger DISABLE TRIGGER USER",
            "SELECT os_core.set_tenant('tenant-a')",
            "DELETE FROM os_core.work_order_ledger WHERE work_order_event_id = {middle_wo1}",
            "ALTER TABLE os_core.work_order_ledger ENABLE TRIGGER USER",
            "REVOKE DELETE ON os_core.work_order_ledger FROM selene_owner",
            "RESET ROLE",
        ],
        (True, True),
    ),
    "consistent-removal-of-the-last-event-with-its-audit-row-and-a-rebuild": (
        [
            "SET session_replication_role = replica",
            "DELETE FROM os_core.work_order_ledger WHERE work_order_event_id = {last_wo1}",
            "DELETE FROM ph1j.audit_events WHERE work_order_event_id = {last_wo1}",
            "RESET session_replication_role",
            "SELECT * FROM os_core.work_orders_current_rebuild(NULL::text)",
        ],
        (False, False),
    ),
    "replica-mode-truncate-of-everything": (
        [
            "SET session_replication_role = replica",
            "TRUNCATE os_core.work_order_ledger, ph1j.audit_events, os_core.work_orders_current,"
            " os_core.work_order_step_attempts, os_core.work_order_leases",
        ],
        (False, False),
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_what_a_superuser_can_still_do_and_what_the_auditor_detects(
    fresh: tuple[psycopg.Connection, list[int]], connect: Connect, tampering: str
) -> None:
    """Each tampering succeeds; the auditor's two checks detect exactly what is listed.

    What neither detects (a rewrite of a column nothing else records, or a consistent
    rewrite of ledger, audit and projections together) needs evidence kept outside the
    database: see docs/guarantees.md.
    """
    su, seeded = fresh
    statements, expected = TAMPERING[tampering]
    wo1 = seeded[:3]
    before = snapshot(su)
    with su.transaction():
        for statement in statements:
            su.execute(statement.format(last_wo1=wo1[-1], middle_wo1=wo1[1]))
    su.execute("RESET ALL")
    assert snapshot(su) != before, "the tampering changed nothing"
    triggers_intact(su)
    assert auditor(connect, su) == expected


def test_a_superuser_reads_every_tenant(su: psycopg.Connection) -> None:
    """Superusers bypass row-level security, declared tenant or not."""
    with su.transaction():
        set_tenant(su, TENANT_A)
        tenants = su.execute(
            "SELECT DISTINCT tenant_id FROM os_core.work_order_ledger ORDER BY 1"
        ).fetchall()
    assert tenants == [(TENANT_A,), (TENANT_B,)]
