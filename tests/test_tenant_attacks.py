"""Tenant attacks, as the selene_os login: every way to reach another tenant's rows.

One database for the module: tenant-b (the victim) and tenant-a (the attacker) each hold
work orders (one id, ``wo-shared``, in both), with step attempts, a lease, idempotency
keys, payloads and audit rows. Each attack runs as ``selene_test_app`` (a member of
``selene_os``) in a transaction of its own, and then:

- its outcome is the one expected: a refusal with its SQLSTATE (SE003 tenant scope, SE004
  contract, 42501 privilege), or a result;
- whatever it returned holds no row and no value of a tenant other than the one declared
  at the time (markers of the victim's rows are searched in the result);
- nothing of the victim changed: every row of tenant-b in the five tables, audit included,
  is as before; and audit rows it wrote (if any) are of the declared tenant only.

Attacks: another tenant's ids in every capability; no tenant declared; the tenant RESET,
emptied or switched mid-transaction (by ``set_tenant`` and by a raw ``SET``); SET ROLE /
SET SESSION AUTHORIZATION / row_security / session_replication_role; SELECT, INSERT,
UPDATE, DELETE, TRUNCATE, COPY, LOCK on every table, view and sequence; every internal
function (taken from the catalogue); a temporary schema first in search_path with look-alike
tables, functions and an operator; SQL-injection strings in every text argument; the
victim's tenant id with other case, whitespace, look-alike and combining characters; and
what other sessions of the same login can observe (pg_stat_activity, LISTEN).

The declared tenant is the boundary: a session that declares tenant-b *is* tenant-b to the
database (selene_os is trusted to declare the tenant of the request it serves). What is
proven is that no call ever reaches a tenant other than the one declared at that moment.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables.errors import StorageError
from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.cloned_database import cloned_database
from tests.conftest import APP_ROLE, DBA_ROLE, conninfo
from tests.sql_helpers import TABLES, append, append_committed, event, set_tenant

pytestmark = pytest.mark.timeout(120)

ATTACKER = "tenant-a"
VICTIM = "tenant-b"
SCOPE = "SE003"
CONTRACT = "SE004"
PRIVILEGE = "42501"
# Values that occur only in the victim's rows: none may show up in what an attack returns.
VICTIM_MARKERS = (
    "wo-victim-only",
    "victim-secret",
    "victim-owner",
    "victim-token",
    "victim-step",
    "victim-key",
    "victim-hash",
)
# (The victim's consumer, "victim-consumer", is no marker: a name is what a caller passes,
# and the attacker's own consumer of that name is its own. Consumer rows carry tenant_id,
# which assert_contained checks, and tenant_rows covers the victim's positions.)
VIEWS = (
    "os_core.work_orders_current_from_ledger",
    "os_core.work_order_step_attempts_from_ledger",
    "os_core.work_order_leases_from_ledger",
)
SEQUENCES = (
    "os_core.work_order_ledger_work_order_event_id_seq",
    "ph1j.audit_events_audit_event_id_seq",
)
# The five tables and the durable consumers' positions: every row of the victim in them.
TENANT_TABLES = (*TABLES, "os_core.consumer_positions")
# What selene_os may execute, and nothing more (design §4): the rows of the capability
# catalogue granted to it (os_core.capabilities(), sql/functions/capabilities.sql), which
# holds the capabilities, set_tenant, error_codes and the catalogue itself, and the
# internal functions that capabilities call as the caller (the domains' blank rule, the
# work of rebuild, verify and tenant_stats and the checks they make first). None reads or
# reveals anything of another tenant.
EXECUTABLE_SQL = """
    SELECT c.sql_function FROM os_core.capabilities() AS c WHERE %s = ANY(c.granted_to)
"""


def executable(su: psycopg.Connection) -> set[str]:
    """The signatures the catalogue grants to selene_os."""
    return {row[0] for row in su.execute(EXECUTABLE_SQL, ["selene_os"]).fetchall()}


Connect = Callable[..., psycopg.Connection]


# --- the module's database -------------------------------------------------------------------


def seed(app: psycopg.Connection) -> None:
    """Both tenants: wo-shared in each, the victim's wo-victim-only with steps, lease, keys."""
    for tenant, prefix in ((VICTIM, "victim"), (ATTACKER, "attacker")):
        append_committed(
            app,
            **event(
                tenant_id=tenant,
                work_order_id="wo-shared",
                correlation_id=777,
                idempotency_key=f"{prefix}-key",
                payload={"note": f"{prefix}-secret"},
            ),
        )
        append_committed(
            app,
            **event(
                tenant_id=tenant,
                work_order_id="wo-shared",
                correlation_id=777,
                event_type="STEP_STARTED",
                work_order_status="EXECUTING",
                turn_id=2,
                created_at=2_000,
                step_id=f"{prefix}-step",
                step_input_hash=f"{prefix}-hash",
                lease_owner_id=f"{prefix}-owner",
                lease_token_hash=f"{prefix}-token",
                lease_expires_at=10**15,
            ),
        )
    append_committed(
        app,
        **event(
            tenant_id=VICTIM,
            work_order_id="wo-victim-only",
            correlation_id=778,
            idempotency_key="victim-key",
            payload={"note": "victim-secret"},
        ),
    )
    # A durable consumer of the victim's on each stream: on the ledger past its first event.
    with app.transaction():
        set_tenant(app, VICTIM)
        first = app.execute(
            "SELECT min(work_order_event_id) FROM os_core.work_order_ledger_read(%s::text)",
            [VICTIM],
        ).fetchone()[0]
        app.execute(
            "SELECT os_core.consumer_commit(%s::text, 'victim-consumer', %s::bigint)",
            [VICTIM, first],
        )
        app.execute(
            "SELECT os_core.consumer_position(%s::text, 'victim-consumer', 'audit')", [VICTIM]
        )


@pytest.fixture(scope="module")
def attack_db(postgresql_proc: PostgreSQLExecutor) -> Iterator[str]:
    """A database of its own, cloned from the migrated template and seeded once."""
    with cloned_database(postgresql_proc, "attacks") as name:
        with psycopg.connect(conninfo(postgresql_proc, name, APP_ROLE), autocommit=True) as app:
            seed(app)
        yield name


ATTACKS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    """Count the attacks run (each call of assert_contained is one); print them at the end."""
    yield
    print(f"\ntenant attacks: {sum(ATTACKS.values())} in all, by test: {dict(ATTACKS)}")


@pytest.fixture(scope="module")
def su(postgresql_proc: PostgreSQLExecutor, attack_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(conninfo(postgresql_proc, attack_db), autocommit=True) as conn:
        yield conn


@pytest.fixture
def login(postgresql_proc: PostgreSQLExecutor, attack_db: str) -> Iterator[Connect]:
    """Fresh sessions on the module's database (default: the app login), closed afterwards."""
    opened: list[psycopg.Connection] = []

    def _login(user: str = APP_ROLE, **kwargs: Any) -> psycopg.Connection:
        conn = psycopg.connect(
            conninfo(postgresql_proc, attack_db, user), autocommit=True, **kwargs
        )
        opened.append(conn)
        return conn

    yield _login
    for conn in opened:
        conn.close()


@pytest.fixture
def attacker(login: Connect) -> psycopg.Connection:
    return login()


# --- the checks ------------------------------------------------------------------------------


def tenant_rows(su: psycopg.Connection, tenant: str) -> dict[str, list[str]]:
    """Every row of ``tenant`` in the five tables and the consumer positions, as text."""
    return {
        table: [
            row[0]
            for row in su.execute(
                sql.SQL("SELECT t::text FROM {} AS t WHERE tenant_id = %s ORDER BY t::text").format(
                    sql.SQL(table)
                ),
                [tenant],
            ).fetchall()
        ]
        for table in TENANT_TABLES
    }


def audit_tenants_after(su: psycopg.Connection, after: int) -> set[str]:
    rows = su.execute(
        "SELECT DISTINCT tenant_id FROM ph1j.audit_events WHERE audit_event_id > %s", [after]
    ).fetchall()
    return {row[0] for row in rows}


def last_audit_id(su: psycopg.Connection) -> int:
    return su.execute("SELECT coalesce(max(audit_event_id), 0) FROM ph1j.audit_events").fetchone()[
        0
    ]


@dataclass
class Outcome:
    sqlstate: str | None
    message: str
    rows: list[Any]


def run(
    conn: psycopg.Connection, body: Callable[[psycopg.Connection], list[Any] | None]
) -> Outcome:
    """Run ``body`` in a transaction of its own on ``conn``; its rows or its error."""
    try:
        with conn.transaction():
            rows = body(conn) or []
    except StorageError as error:  # the client's exceptions: keep their SQLSTATE
        return Outcome(error.sqlstate, error.reason_code, [])
    except psycopg.Error as error:
        return Outcome(error.sqlstate, error.diag.message_primary or str(error), [])
    return Outcome(None, "", rows)


def assert_contained(
    su: psycopg.Connection,
    conn: psycopg.Connection,
    body: Callable[[psycopg.Connection], list[Any] | None],
    expected: str | tuple[str | None, ...] | None,
    declared: str | None = ATTACKER,
    victim: str = VICTIM,
) -> Outcome:
    """Run an attack; check its outcome, what it returned and that ``victim`` is untouched.

    ``declared``: the tenant declared when the attack ends (its own rows may come back).
    """
    ATTACKS[
        os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0].split("[")[0]
    ] += 1
    before = tenant_rows(su, victim)
    audit_mark = last_audit_id(su)
    outcome = run(conn, body)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert outcome.sqlstate in allowed, (
        f"expected {allowed}, got {outcome.sqlstate} {outcome.message!r}"
    )
    returned = repr(outcome.rows)
    for marker in VICTIM_MARKERS if victim == VICTIM else (victim,):
        assert marker not in returned, f"{marker!r} leaked: {returned[:500]}"
    for row in outcome.rows:
        if isinstance(row, dict) and "tenant_id" in row:
            assert row["tenant_id"] == declared, f"a row of {row['tenant_id']!r} came back"
    assert tenant_rows(su, victim) == before, f"{victim}'s rows changed"
    assert audit_tenants_after(su, audit_mark) <= {declared}, "audit rows of another tenant"
    return outcome


def call(
    template: str, params: dict[str, Any], declare: str | None = ATTACKER
) -> Callable[[psycopg.Connection], list[Any]]:
    """An attack body: declare ``declare`` (unless None), then run ``template``."""

    def body(conn: psycopg.Connection) -> list[Any]:
        if declare is not None:
            set_tenant(conn, declare)
        cursor = conn.cursor(row_factory=dict_row)
        cursor.execute(template, params)
        return cursor.fetchall() if cursor.description else []

    return body


CAPABILITY_CALLS = {
    "append": "SELECT * FROM os_core.work_order_ledger_append(p_tenant_id => %(t)s::text,"
    " p_work_order_id => %(w)s::text, p_correlation_id => 777::numeric, p_turn_id => 9::bigint,"
    " p_event_type => 'FIELD_SET', p_work_order_status => 'EXECUTING', p_reason_code => 1::bigint,"
    " p_created_at => 9000::bigint)",
    "append-create": "SELECT * FROM os_core.work_order_ledger_append(p_tenant_id => %(t)s::text,"
    " p_work_order_id => 'wo-new', p_correlation_id => 4242::numeric, p_turn_id => 1::bigint,"
    " p_event_type => 'WORK_ORDER_CREATED', p_work_order_status => 'DRAFT',"
    " p_reason_code => 1::bigint, p_created_at => 1::bigint)",
    "append_many": "SELECT * FROM os_core.work_order_ledger_append_many(%(t)s::text,"
    " jsonb_build_array(jsonb_build_object('work_order_id', %(w)s::text,"
    " 'correlation_id', 777, 'turn_id', 9, 'event_type', 'FIELD_SET',"
    " 'work_order_status', 'EXECUTING', 'reason_code', 1, 'created_at', 9000)))",
    "current_read": "SELECT * FROM os_core.work_order_current_read(%(t)s::text, %(w)s::text)",
    "ledger_read": "SELECT * FROM os_core.work_order_ledger_read(%(t)s::text)",
    "audit_read": "SELECT * FROM os_core.audit_read(%(t)s::text)",
    "ledger_read-work-order": "SELECT * FROM os_core.work_order_ledger_read(%(t)s::text,"
    " %(w)s::text)",
    "cancel": "SELECT * FROM os_core.work_order_cancel(%(t)s::text, %(w)s::text, 1::bigint,"
    " 'attack-cancel'::text, 9000::bigint, 9::bigint)",
    "list_pending": "SELECT * FROM os_core.work_orders_list_pending(%(t)s::text,"
    " ARRAY['DRAFT','CLARIFY','CONFIRM','EXECUTING','DONE','REFUSED','FAILED','CANCELED'])",
    "step_attempts_read": "SELECT * FROM os_core.work_order_step_attempts_read(%(t)s::text,"
    " %(w)s::text)",
    "lease_read": "SELECT * FROM os_core.work_order_lease_read(%(t)s::text, %(w)s::text)",
    "rebuild": "SELECT * FROM os_core.work_orders_current_rebuild(%(t)s::text, true)",
    "verify": "SELECT * FROM os_core.work_orders_current_verify(%(t)s::text, true)",
    "tenant_stats": "SELECT * FROM os_core.tenant_stats(%(t)s::text)",
    "consumer_position": "SELECT os_core.consumer_position(%(t)s::text, 'attack-consumer')",
    "consumer_position-audit": "SELECT os_core.consumer_position(%(t)s::text,"
    " 'attack-consumer', 'audit')",
    "consumer_commit": "SELECT os_core.consumer_commit(%(t)s::text, 'attack-consumer', 0::bigint)",
    "consumer_stats": "SELECT * FROM os_core.consumer_stats(%(t)s::text)",
}


# --- 1. another tenant's ids -------------------------------------------------------------------


@pytest.mark.parametrize("capability", sorted(CAPABILITY_CALLS))
@pytest.mark.parametrize("work_order", ["wo-shared", "wo-victim-only"])
def test_the_victims_tenant_id_is_refused_by_every_capability(
    su: psycopg.Connection, attacker: psycopg.Connection, capability: str, work_order: str
) -> None:
    body = call(CAPABILITY_CALLS[capability], {"t": VICTIM, "w": work_order})
    assert_contained(su, attacker, body, SCOPE)


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        ("current_read", None),
        ("ledger_read-work-order", None),
        ("step_attempts_read", None),
        ("lease_read", None),
        ("append", CONTRACT),  # FIELD_SET of a work order the attacker does not have
        ("append_many", CONTRACT),  # likewise, in a batch
        ("cancel", CONTRACT),  # likewise: "does not exist"
    ],
)
def test_the_victims_work_order_id_under_the_own_tenant_finds_nothing(
    su: psycopg.Connection, attacker: psycopg.Connection, capability: str, expected: str | None
) -> None:
    body = call(CAPABILITY_CALLS[capability], {"t": ATTACKER, "w": "wo-victim-only"})
    outcome = assert_contained(su, attacker, body, expected)
    assert outcome.rows == []


def test_the_same_work_order_id_in_the_own_tenant_is_the_own_work_order(
    su: psycopg.Connection, attacker: psycopg.Connection
) -> None:
    """wo-shared exists in both tenants; every read under tenant-a is tenant-a's alone."""
    for capability in (
        "current_read",
        "ledger_read-work-order",
        "step_attempts_read",
        "lease_read",
    ):
        body = call(CAPABILITY_CALLS[capability], {"t": ATTACKER, "w": "wo-shared"})
        outcome = assert_contained(su, attacker, body, None)
        assert outcome.rows, capability
        assert "attacker-" in repr(outcome.rows)


def test_the_victims_idempotency_key_and_content_do_not_replay_the_victims_event(
    su: psycopg.Connection, attacker: psycopg.Connection
) -> None:
    """A replay is keyed by tenant: the victim's exact first event, sent as tenant-a's, is not.

    tenant-a has a wo-shared of its own (with another key), so the event is refused as a
    second WORK_ORDER_CREATED; the victim's event id never comes back.
    """
    victim_ids = {
        row[0]
        for row in su.execute(
            "SELECT work_order_event_id FROM os_core.work_order_ledger WHERE tenant_id = %s",
            [VICTIM],
        ).fetchall()
    }
    victim_event = event(
        tenant_id=ATTACKER,
        work_order_id="wo-shared",
        correlation_id=777,
        idempotency_key="victim-key",
        payload={"note": "victim-secret"},
    )

    def body(conn: psycopg.Connection) -> list[Any]:
        set_tenant(conn, ATTACKER)
        return [append(conn, **victim_event)]

    outcome = assert_contained(su, attacker, body, CONTRACT)
    assert not any(str(event_id) in repr(outcome.rows) for event_id in victim_ids)


@pytest.mark.parametrize(
    ("statement", "own_position"),
    [
        ("SELECT os_core.consumer_position(%(t)s::text, 'victim-consumer')", 0),
        ("SELECT os_core.consumer_position(%(t)s::text, 'victim-consumer', 'audit')", 0),
        ("SELECT os_core.consumer_commit(%(t)s::text, 'victim-consumer', 0::bigint)", 0),
        ("SELECT os_core.consumer_commit(%(t)s::text, 'victim-consumer', 10000000::bigint)", None),
        (
            "SELECT os_core.consumer_commit(%(t)s::text, 'victim-consumer', 1::bigint, 'audit')",
            None,
        ),
    ],
)
def test_the_victims_consumer_can_be_neither_read_nor_moved_nor_held(
    su: psycopg.Connection, attacker: psycopg.Connection, statement: str, own_position: int | None
) -> None:
    """Under the attacker's tenant the victim's consumer is out of scope (SE003), and under
    its own tenant a consumer of the same name is the attacker's own, at its own position."""
    assert_contained(su, attacker, call(statement, {"t": VICTIM}), SCOPE)
    if own_position is not None:
        own = assert_contained(su, attacker, call(statement, {"t": ATTACKER}), None)
        assert [list(row.values()) for row in own.rows] == [[own_position]]


def test_a_page_after_a_victims_event_id_holds_only_own_events(
    su: psycopg.Connection, attacker: psycopg.Connection
) -> None:
    first_victim_id = su.execute(
        "SELECT min(work_order_event_id) FROM os_core.work_order_ledger WHERE tenant_id = %s",
        [VICTIM],
    ).fetchone()[0]
    body = call(
        "SELECT * FROM os_core.work_order_ledger_read(%(t)s::text, NULL, %(a)s::bigint, 10000)",
        {"t": ATTACKER, "a": first_victim_id - 1},
    )
    outcome = assert_contained(su, attacker, body, None)
    assert {row["tenant_id"] for row in outcome.rows} == {ATTACKER}


# Citus 13.2 hashes a NULL distribution argument of a delegated function without a NULL check,
# and the coordinator's backend crashes (docs/scaling.md, "What differs on Citus").
NULL_TENANT_CRASHES_CITUS = pytest.mark.single_node(
    "a NULL tenant argument crashes Citus 13.2's function delegation"
)


# --- 2. no tenant declared ----------------------------------------------------------------------


@pytest.mark.parametrize("capability", sorted(CAPABILITY_CALLS))
@pytest.mark.parametrize(
    "tenant",
    [
        pytest.param(ATTACKER, id="own"),
        pytest.param(VICTIM, id="victim"),
        pytest.param(None, id="null", marks=NULL_TENANT_CRASHES_CITUS),
    ],
)
def test_without_a_declared_tenant_every_capability_is_refused(
    su: psycopg.Connection, attacker: psycopg.Connection, capability: str, tenant: str | None
) -> None:
    body = call(CAPABILITY_CALLS[capability], {"t": tenant, "w": "wo-shared"}, declare=None)
    assert_contained(su, attacker, body, SCOPE, declared=None)


@pytest.mark.parametrize("value", [None, "", " ", "tenant-b ", "tenant-b\n", "\ttenant-b"])
def test_set_tenant_refuses_a_missing_or_malformed_tenant(
    su: psycopg.Connection, attacker: psycopg.Connection, value: str | None
) -> None:
    body = call("SELECT os_core.set_tenant(%(v)s::text)", {"v": value}, declare=None)
    assert_contained(su, attacker, body, CONTRACT, declared=None)


# --- 3. the tenant changed mid-transaction -----------------------------------------------------

RESETS = {
    "RESET": "RESET selene.tenant_id",
    "SET-empty": "SET LOCAL selene.tenant_id = ''",
    "SET-default": "SET LOCAL selene.tenant_id TO DEFAULT",
    "set_config-empty": "SELECT set_config('selene.tenant_id', '', true)",
}


# Citus sends a transaction's SET LOCAL commands on to the workers, not a set_config() call:
# the worker keeps the tenant declared before it (only ever one this session declared).
SET_CONFIG_STAYS_ON_THE_COORDINATOR = pytest.mark.single_node(
    "Citus does not send set_config() on to the workers"
)


@pytest.mark.parametrize(
    "reset",
    [
        pytest.param(
            name, marks=SET_CONFIG_STAYS_ON_THE_COORDINATOR if "set_config" in name else ()
        )
        for name in sorted(RESETS)
    ],
)
@pytest.mark.parametrize("capability", ["append", "current_read", "ledger_read", "list_pending"])
def test_a_tenant_reset_mid_transaction_leaves_no_tenant(
    su: psycopg.Connection, attacker: psycopg.Connection, reset: str, capability: str
) -> None:
    def body(conn: psycopg.Connection) -> list[Any]:
        set_tenant(conn, ATTACKER)
        conn.execute(
            "SELECT * FROM os_core.work_order_current_read(%s::text, 'wo-shared')", [ATTACKER]
        )
        conn.execute(RESETS[reset])
        return call(CAPABILITY_CALLS[capability], {"t": ATTACKER, "w": "wo-shared"}, None)(conn)

    assert_contained(su, attacker, body, SCOPE, declared=None)


# The capabilities whose tenant check is os_core.require_tenant_scope's (some call it
# only when an inline comparison fails, to save a call on the usual path). Rebuild,
# verify and tenant_stats check os_core.require_dba_or_tenant_scope's rules instead.
DBA_OR_TENANT_SCOPED = {"rebuild", "verify", "tenant_stats"}
SCOPED_BY_REQUIRE_TENANT_SCOPE = sorted(set(CAPABILITY_CALLS) - DBA_OR_TENANT_SCOPED)
SCOPE_DECLARATIONS = {
    "none": None,
    "empty": "SELECT set_config('selene.tenant_id', '', true)",
    "own": "SELECT set_config('selene.tenant_id', 'tenant-a', true)",
}


def error_of(conn: psycopg.Connection, declaration: str | None, statement: str, params: Any) -> Any:
    """(SQLSTATE, message, DETAIL, HINT) of ``statement`` after ``declaration``, or None."""
    try:
        with conn.transaction():
            if declaration is not None:
                conn.execute(declaration)
            conn.execute(statement, params).fetchall()
    except psycopg.Error as error:
        diag = error.diag
        hint = diag.message_hint
        # A batch's refusal adds the refused event's index as the HINT's last line.
        if hint is not None and "work_order_ledger_append_many" in statement:
            hint = re.sub(r"(?:\A|\n)event_index 0: [^\n]*\Z", "", hint) or None
        return (error.sqlstate, diag.message_primary, diag.message_detail, hint)
    return None


@NULL_TENANT_CRASHES_CITUS
@pytest.mark.parametrize("capability", SCOPED_BY_REQUIRE_TENANT_SCOPE)
def test_every_scope_refusal_is_exactly_require_tenant_scopes(
    su: psycopg.Connection, attacker: psycopg.Connection, capability: str
) -> None:
    """Same SQLSTATE, message, DETAIL and HINT as os_core.require_tenant_scope, in every case.

    No tenant, an empty one, or tenant-a declared; p_tenant_id NULL, the declared one, the
    victim's, or the declared one spelled otherwise. Only (tenant-a, tenant-a) passes.
    """
    for name, declaration in SCOPE_DECLARATIONS.items():
        for tenant in (None, ATTACKER, VICTIM, ATTACKER.upper(), f"{ATTACKER} ", ""):
            expected = error_of(
                su, declaration, "SELECT os_core.require_tenant_scope(%s::text)", [tenant]
            )
            if expected is None:
                continue  # in scope: the capability's own rules decide
            ATTACKS["test_every_scope_refusal_is_exactly_require_tenant_scopes"] += 1
            got = error_of(
                attacker,
                declaration,
                CAPABILITY_CALLS[capability],
                {"t": tenant, "w": "wo-shared"},
            )
            assert got == expected, f"declared {name}, p_tenant_id {tenant!r}"
            assert expected[0] == SCOPE


SWITCHES = {
    "set_tenant": "SELECT os_core.set_tenant(%(t)s::text)",
    "SET-LOCAL": "SELECT set_config('selene.tenant_id', %(t)s::text, true)",
}


@pytest.mark.parametrize(
    "switch",
    [
        pytest.param(name, marks=SET_CONFIG_STAYS_ON_THE_COORDINATOR if "set_config" in sql else ())
        for name, sql in sorted(SWITCHES.items())
    ],
)
@pytest.mark.parametrize("capability", sorted(CAPABILITY_CALLS))
def test_after_a_switch_mid_transaction_the_earlier_tenant_is_out_of_scope(
    su: psycopg.Connection, attacker: psycopg.Connection, switch: str, capability: str
) -> None:
    """Declared tenant-b first (its rows are the ones at risk now), then tenant-a."""

    def body(conn: psycopg.Connection) -> list[Any]:
        set_tenant(conn, VICTIM)
        conn.execute(SWITCHES[switch], {"t": ATTACKER})
        return call(CAPABILITY_CALLS[capability], {"t": VICTIM, "w": "wo-shared"}, None)(conn)

    assert_contained(su, attacker, body, SCOPE)


def test_an_uncommitted_append_of_one_tenant_is_invisible_after_switching_to_another(
    su: psycopg.Connection, attacker: psycopg.Connection
) -> None:
    """A session appends as tenant-a (not committed), then declares tenant-c and reads.

    Nothing of tenant-a, not even its own uncommitted event, is visible under tenant-c;
    the event stays tenant-a's.
    """
    marker = f"switch-{uuid.uuid4().hex[:8]}"

    def body(conn: psycopg.Connection) -> list[Any]:
        set_tenant(conn, ATTACKER)
        append(
            conn,
            **event(
                tenant_id=ATTACKER,
                work_order_id=marker,
                correlation_id=int(uuid.uuid4().int % 10**12) + 10**6,
                payload={"note": marker},
            ),
        )
        set_tenant(conn, "tenant-c")
        rows = []
        for capability in ("ledger_read", "list_pending", "current_read"):
            rows += call(CAPABILITY_CALLS[capability], {"t": "tenant-c", "w": marker}, None)(conn)
        return rows

    before = tenant_rows(su, VICTIM)
    outcome = run(attacker, body)
    assert (outcome.sqlstate, outcome.rows) == (None, [])
    assert tenant_rows(su, VICTIM) == before
    stored = su.execute(
        "SELECT tenant_id FROM os_core.work_order_ledger WHERE work_order_id = %s", [marker]
    ).fetchall()
    assert stored == [(ATTACKER,)]


@pytest.mark.single_node("a coordinator does not send a session's settings on to the workers")
def test_a_declaration_outside_the_transaction_is_the_callers_own(login: Connect) -> None:
    """Documented: a session-level ``SET selene.tenant_id`` (not set_tenant) carries over.

    set_tenant is transaction-local; a caller that sets the setting for its whole session
    (SET, set_config(..., false), or ``options=-c selene.tenant_id=...``) declares that
    tenant for every later transaction of the session. Every call must still name it:
    another tenant's id is refused.
    """
    conn = login(options=f"-c selene.tenant_id={ATTACKER}")
    rows = conn.execute(
        "SELECT tenant_id FROM os_core.work_order_current_read(%s::text, 'wo-shared')", [ATTACKER]
    ).fetchall()
    assert rows == [(ATTACKER,)]
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(
            "SELECT * FROM os_core.work_order_current_read(%s::text, 'wo-shared')", [VICTIM]
        )
    assert caught.value.sqlstate == SCOPE


# --- 4. roles and settings -------------------------------------------------------------------

ROLE_ATTACKS = [
    "SET ROLE selene_owner",
    "SET ROLE selene_projector",
    "SET ROLE selene_dba",
    "SET ROLE postgres",
    f"SET ROLE {DBA_ROLE}",
    "SET LOCAL ROLE selene_owner",
    "SELECT set_config('role', 'selene_owner', true)",
    "SET SESSION AUTHORIZATION selene_owner",
    "SET SESSION AUTHORIZATION postgres",
    f"SET SESSION AUTHORIZATION {DBA_ROLE}",
    "SET session_replication_role = replica",
    "ALTER ROLE selene_test_app BYPASSRLS",
    "ALTER ROLE selene_test_app SUPERUSER",
    "GRANT selene_owner TO selene_test_app",
    "GRANT selene_projector TO selene_test_app",
    "GRANT selene_dba TO selene_test_app",
    "CREATE ROLE evil LOGIN BYPASSRLS",
]


@pytest.mark.parametrize("statement", ROLE_ATTACKS)
def test_role_and_privilege_switches_are_refused(
    su: psycopg.Connection, attacker: psycopg.Connection, statement: str
) -> None:
    def body(conn: psycopg.Connection) -> list[Any]:
        set_tenant(conn, ATTACKER)
        conn.execute(statement)
        return call(CAPABILITY_CALLS["ledger_read"], {"t": VICTIM}, None)(conn)

    assert_contained(su, attacker, body, PRIVILEGE)


def test_set_role_to_selene_os_itself_gains_nothing(
    su: psycopg.Connection, attacker: psycopg.Connection
) -> None:
    def body(conn: psycopg.Connection) -> list[Any]:
        conn.execute("SET LOCAL ROLE selene_os")
        set_tenant(conn, ATTACKER)
        return conn.execute("SELECT * FROM os_core.work_order_ledger").fetchall()

    assert_contained(su, attacker, body, PRIVILEGE)


@pytest.mark.parametrize("capability", ["append", "current_read", "ledger_read", "list_pending"])
def test_row_security_off_makes_every_call_fail_instead_of_bypassing(
    su: psycopg.Connection, attacker: psycopg.Connection, capability: str
) -> None:
    def body(conn: psycopg.Connection) -> list[Any]:
        conn.execute("SET LOCAL row_security = off")
        return call(CAPABILITY_CALLS[capability], {"t": ATTACKER, "w": "wo-shared"})(conn)

    assert_contained(su, attacker, body, PRIVILEGE)


# --- 5. direct access to every table, view and sequence -----------------------------------------

DIRECT = [
    *[f"SELECT * FROM {table}" for table in TENANT_TABLES],
    *[f"TABLE {table}" for table in TENANT_TABLES],
    *[f"SELECT count(*) FROM {table}" for table in TENANT_TABLES],
    *[f"SELECT * FROM {table} FOR UPDATE" for table in TENANT_TABLES],
    *[f"UPDATE {table} SET tenant_id = tenant_id" for table in TENANT_TABLES],
    *[f"DELETE FROM {table}" for table in TENANT_TABLES],
    *[f"TRUNCATE {table}" for table in TENANT_TABLES],
    *[f"COPY {table} TO STDOUT" for table in TENANT_TABLES],
    *[f"LOCK TABLE {table} IN ACCESS SHARE MODE" for table in TENANT_TABLES],
    *[f"EXPLAIN SELECT * FROM {table}" for table in TENANT_TABLES],
    *[f"SELECT * FROM {view}" for view in VIEWS],
    *[f"SELECT nextval('{sequence}')" for sequence in SEQUENCES],
    *[f"SELECT setval('{sequence}', 1)" for sequence in SEQUENCES],
    *[f"SELECT last_value FROM {sequence}" for sequence in SEQUENCES],
    "INSERT INTO os_core.work_order_ledger (tenant_id, work_order_id, correlation_id, turn_id,"
    " event_type, work_order_status, reason_code, created_at) VALUES ('tenant-b', 'wo-forged',"
    " 9, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1)",
    "INSERT INTO os_core.work_orders_current (tenant_id, work_order_id, schema_version,"
    " correlation_id, turn_id, work_order_status, last_event_id, last_reason_code,"
    " last_updated_at, event_count) VALUES ('tenant-b', 'wo-forged', 1, 9, 1, 'DRAFT', 1, 1, 1, 1)",
    "INSERT INTO os_core.work_order_step_attempts (tenant_id, work_order_id, step_id,"
    " attempt_index, attempt_status, started_event_id, started_at)"
    " VALUES ('tenant-b', 'wo-shared', 's', 9, 'STARTED', 1, 1)",
    "INSERT INTO os_core.work_order_leases (tenant_id, work_order_id, lease_owner_id,"
    " lease_token_hash, lease_state, lease_expires_at, acquired_event_id, acquired_at,"
    " last_event_id) VALUES ('tenant-b', 'wo-x', 'o', 't', 'ACTIVE', 9, 1, 1, 1)",
    "INSERT INTO ph1j.audit_events (tenant_id, capability, outcome, work_order_id,"
    " correlation_id, turn_id, event_type, reason_code, work_order_event_id) VALUES"
    " ('tenant-b', 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED', 'wo-x', 1, 1,"
    " 'WORK_ORDER_CREATED', 1, 1)",
    "INSERT INTO os_core.consumer_positions (tenant_id, stream, consumer, committed_position)"
    " VALUES ('tenant-b', 'ledger', 'victim-consumer', 999999)",
    "CREATE TABLE os_core.evil (x int)",
    "CREATE TABLE ph1j.evil (x int)",
    "CREATE VIEW os_core.evil AS SELECT 1",
    "CREATE FUNCTION os_core.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE OR REPLACE FUNCTION os_core.current_tenant_id() RETURNS text LANGUAGE sql"
    " AS $$SELECT 'tenant-b'$$",
    "ALTER TABLE os_core.work_order_ledger DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE ph1j.audit_events NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY tenant_isolation ON os_core.work_order_ledger",
    "CREATE POLICY evil ON os_core.work_order_ledger USING (true)",
    "CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE TABLE public.evil (x int)",
    "CREATE SCHEMA evil",
    "SELECT * FROM pg_catalog.pg_authid",
]


@pytest.mark.parametrize("statement", DIRECT, ids=lambda s: " ".join(s.split()[:5])[:60])
def test_direct_access_to_tables_views_sequences_and_schemas_is_refused(
    su: psycopg.Connection, attacker: psycopg.Connection, statement: str
) -> None:
    def body(conn: psycopg.Connection) -> list[Any]:
        set_tenant(conn, ATTACKER)
        if statement.startswith("COPY"):
            # Read as a copy: a Citus coordinator starts the copy before the worker refuses.
            with conn.cursor().copy(statement) as copy:
                return [bytes(block) for block in copy]
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []

    assert_contained(su, attacker, body, PRIVILEGE)


def test_column_statistics_show_nothing_of_the_tables(
    su: psycopg.Connection, attacker: psycopg.Connection
) -> None:
    su.execute("ANALYZE os_core.work_order_ledger, ph1j.audit_events")
    body = call("SELECT * FROM pg_catalog.pg_stats WHERE schemaname IN ('os_core', 'ph1j')", {})
    outcome = assert_contained(su, attacker, body, None)
    assert outcome.rows == []


# --- 6. every internal function ------------------------------------------------------------


# A value of each argument type. Not NULL: a STRICT function called with a NULL constant is
# folded to NULL by the planner before any privilege check (PostgreSQL's behaviour; the
# function's body never runs, so nothing is reached that way).
DUMMY_ARGUMENTS = {
    "text": "'x'::text",
    "integer": "1::integer",
    "bigint": "1::bigint",
    "numeric": "1::numeric",
    "boolean": "false",
    "jsonb": "'{}'::jsonb",
    "text[]": "'{}'::text[]",
}


def internal_functions(su: psycopg.Connection) -> list[tuple[str, str]]:
    """(signature, a call) of each os_core/ph1j function selene_os may not run."""
    rows = su.execute(
        """
        SELECT p.oid::regproc::text, p.oid::regprocedure::text,
               coalesce(array_agg(format_type(t.type, NULL) ORDER BY t.n)
                        FILTER (WHERE t.type IS NOT NULL), '{}'),
               p.prokind
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        LEFT JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY AS t (type, n) ON true
        WHERE n.nspname IN ('os_core', 'ph1j')
        GROUP BY p.oid
        ORDER BY 2
        """
    ).fetchall()
    internal = []
    granted = executable(su)
    for name, signature, types, kind in rows:
        if signature in granted:
            continue
        arguments = ", ".join(DUMMY_ARGUMENTS.get(type_, f"NULL::{type_}") for type_ in types)
        statement = {"f": f"SELECT {name}({arguments})", "p": f"CALL {name}({arguments})"}
        internal.append((signature, statement.get(kind, "")))
    return internal


def test_the_app_role_can_execute_exactly_the_capabilities(su: psycopg.Connection) -> None:
    rows = su.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('os_core', 'ph1j')
          AND has_function_privilege(%s, p.oid, 'EXECUTE')
        """,
        [APP_ROLE],
    ).fetchall()
    assert {row[0] for row in rows} == executable(su)


def test_every_internal_function_is_refused_to_the_app_role(
    su: psycopg.Connection, attacker: psycopg.Connection
) -> None:
    internal = internal_functions(su)
    assert len(internal) >= 15, internal
    for signature, statement in internal:
        assert statement, f"{signature} is neither a plain function nor a procedure"

        def body(conn: psycopg.Connection, statement: str = statement) -> list[Any]:
            set_tenant(conn, ATTACKER)
            return conn.execute(statement).fetchall()

        outcome = assert_contained(su, attacker, body, PRIVILEGE)
        assert "permission denied for" in outcome.message, (signature, outcome)


# --- 7. a temporary schema first in search_path ----------------------------------------------

HIJACK = """
CREATE TEMP TABLE hijack_calls (name text);
CREATE TEMP TABLE work_order_ledger (tenant_id text, work_order_id text, event_id bigint);
CREATE TEMP TABLE work_orders_current (tenant_id text, work_order_id text);
CREATE TEMP TABLE audit_events (tenant_id text);
CREATE FUNCTION pg_temp.current_setting(text, boolean) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('current_setting'); SELECT 'tenant-b' $$;
CREATE FUNCTION pg_temp.current_setting(text) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('current_setting1'); SELECT 'tenant-b' $$;
CREATE FUNCTION pg_temp.set_config(text, text, boolean) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('set_config'); SELECT 'tenant-b' $$;
CREATE FUNCTION pg_temp.current_tenant_id() RETURNS text LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('current_tenant_id'); SELECT 'tenant-b' $$;
CREATE FUNCTION pg_temp.require_tenant_scope(text) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('require_tenant_scope') $$;
CREATE FUNCTION pg_temp.raise_error(text, text, text) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('raise_error') $$;
CREATE FUNCTION pg_temp.is_blank(text) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('is_blank'); SELECT false $$;
CREATE FUNCTION pg_temp.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('pg_advisory_xact_lock') $$;
CREATE FUNCTION pg_temp.hashtextextended(text, bigint) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('hashtextextended'); SELECT 0::bigint $$;
CREATE FUNCTION pg_temp.always(text, text) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO pg_temp.hijack_calls VALUES ('='); SELECT true $$;
CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_temp.always);
SET search_path = pg_temp, os_core, ph1j, public, pg_catalog;
"""


@pytest.mark.parametrize("capability", sorted(CAPABILITY_CALLS))
@pytest.mark.parametrize("tenant", [ATTACKER, VICTIM], ids=["own", "victim"])
def test_look_alikes_in_a_temporary_schema_first_in_search_path_change_nothing(
    su: psycopg.Connection, login: Connect, capability: str, tenant: str
) -> None:
    conn = login()
    conn.execute(HIJACK)
    body = call(CAPABILITY_CALLS[capability], {"t": tenant, "w": "wo-shared"})
    expected: tuple[str | None, ...] = (SCOPE,) if tenant == VICTIM else (None, CONTRACT, "SE005")
    assert_contained(su, conn, body, expected)
    calls = conn.execute("SELECT * FROM pg_temp.hijack_calls").fetchall()
    assert calls == [], f"a capability called a look-alike: {calls}"
    for table in ("work_order_ledger", "work_orders_current", "audit_events"):
        assert conn.execute(f"SELECT count(*) FROM pg_temp.{table}").fetchone() == (0,)


# --- 8. SQL injection in every text argument ---------------------------------------------------

INJECTIONS = (
    "'; DROP TABLE os_core.work_order_ledger; --",
    "' OR '1'='1",
    "tenant-b' OR tenant_id <> '",
    "x'); DELETE FROM ph1j.audit_events; --",
    "$$; TRUNCATE os_core.work_orders_current; $$",
    "%s %L %I %1$s",
    "\\'; SET ROLE postgres; --",
    '"; SET session_replication_role = replica; --',
    "*/ SELECT 1 /*",
    "tenant-b",
    "wo-x' UNION SELECT * FROM os_core.work_order_ledger --",
)
APPEND_TEXT_FIELDS = (
    "work_order_id",
    "step_id",
    "step_input_hash",
    "lease_owner_id",
    "lease_token_hash",
    "idempotency_key",
    "event_type",
    "work_order_status",
    "payload-key",
    "payload-value",
    "tenant_id",
)


@pytest.mark.parametrize("field_name", APPEND_TEXT_FIELDS)
def test_injection_strings_in_every_append_field_are_data_or_refused(
    su: psycopg.Connection, attacker: psycopg.Connection, field_name: str
) -> None:
    repo = WorkOrderRepository(attacker)
    for number, injection in enumerate(INJECTIONS):
        fields = {
            "tenant_id": ATTACKER,
            "work_order_id": f"inj-{field_name}-{number}",
            "correlation_id": 10**9 + APPEND_TEXT_FIELDS.index(field_name) * 100 + number,
            "turn_id": 1,
            "event_type": "WORK_ORDER_CREATED",
            "work_order_status": "DRAFT",
            "reason_code": 1,
            "created_at": 1,
            "step_id": "step",
            "lease_owner_id": "owner",
            "lease_token_hash": "token",
            "lease_expires_at": 10,
        }
        if field_name == "payload-key":
            fields["payload"] = {injection: injection}
        elif field_name == "payload-value":
            fields["payload"] = {"k": injection}
        else:
            fields[field_name] = injection
        if field_name == "tenant_id" and injection == VICTIM:
            continue  # a valid tenant id: declaring it is what selene_os is trusted to do
        expected: tuple[str | None, ...] = (None, CONTRACT)
        if field_name in ("event_type", "work_order_status", "tenant_id"):
            expected = (CONTRACT,)  # none of them is an enum value or a valid tenant id

        def body(conn: psycopg.Connection, fields: dict[str, Any] = fields) -> list[Any]:
            return [repo.append(WorkOrderLedgerEventInput(**fields))]

        outcome = assert_contained(su, attacker, body, expected)
        if outcome.sqlstate is None:
            stored = (
                su.cursor(row_factory=dict_row)
                .execute(
                    "SELECT * FROM os_core.work_order_ledger WHERE tenant_id = %s"
                    " AND work_order_id = %s",
                    [ATTACKER, fields["work_order_id"]],
                )
                .fetchall()
            )
            assert len(stored) == 1
            for name in fields:
                assert stored[0][name] == fields[name], (name, injection)
    # The tables are all still there, and still append-only: two triggers on each table
    # (and on each partition, in the partitioned layout).
    triggers, tables = su.execute(
        "SELECT (SELECT count(*) FROM pg_catalog.pg_trigger"
        "        WHERE tgname LIKE '\\_100\\_refuse%' AND tgenabled = 'O'),"
        # pg_partition_tree lists nothing for a plain table: it is one table then
        " (SELECT greatest(count(*), 1)"
        "  FROM pg_catalog.pg_partition_tree('os_core.work_order_ledger'))"
        " + (SELECT greatest(count(*), 1) FROM pg_catalog.pg_partition_tree('ph1j.audit_events'))"
    ).fetchone()
    assert tables >= 2
    assert triggers == 2 * tables


READ_TEXT_ARGUMENTS = {
    "current_read": "SELECT * FROM os_core.work_order_current_read(%(t)s::text, %(v)s::text)",
    "ledger_read": "SELECT * FROM os_core.work_order_ledger_read(%(t)s::text, %(v)s::text)",
    "step_attempts_read": "SELECT * FROM os_core.work_order_step_attempts_read(%(t)s::text,"
    " %(v)s::text)",
    "lease_read": "SELECT * FROM os_core.work_order_lease_read(%(t)s::text, %(v)s::text)",
    "cancel-work-order": "SELECT * FROM os_core.work_order_cancel(%(t)s::text, %(v)s::text,"
    " 1::bigint, 'k'::text, 1::bigint, 1::bigint)",
    "cancel-key": "SELECT * FROM os_core.work_order_cancel(%(t)s::text, 'wo-victim-only',"
    " 1::bigint, %(v)s::text, 1::bigint, 1::bigint)",
    "list_pending-status": "SELECT * FROM os_core.work_orders_list_pending(%(t)s::text,"
    " ARRAY[%(v)s::text])",
    "set_tenant": "SELECT os_core.set_tenant(%(v)s::text)",
    "rebuild-tenant": "SELECT * FROM os_core.work_orders_current_rebuild(%(v)s::text)",
    "verify-tenant": "SELECT * FROM os_core.work_orders_current_verify(%(v)s::text)",
    "tenant_stats-tenant": "SELECT * FROM os_core.tenant_stats(%(v)s::text)",
    "consumer_position-consumer": "SELECT os_core.consumer_position(%(t)s::text, %(v)s::text)",
    "consumer_position-stream": "SELECT os_core.consumer_position(%(t)s::text, 'c', %(v)s::text)",
    "consumer_commit-consumer": "SELECT os_core.consumer_commit(%(t)s::text, %(v)s::text,"
    " 0::bigint)",
    "consumer_commit-stream": "SELECT os_core.consumer_commit(%(t)s::text, 'c', 0::bigint,"
    " %(v)s::text)",
    "consumer_stats-tenant": "SELECT * FROM os_core.consumer_stats(%(v)s::text)",
}


@pytest.mark.parametrize("argument", sorted(READ_TEXT_ARGUMENTS))
def test_injection_strings_in_every_read_and_call_argument_find_nothing(
    su: psycopg.Connection, attacker: psycopg.Connection, argument: str
) -> None:
    for injection in INJECTIONS:
        body = call(READ_TEXT_ARGUMENTS[argument], {"t": ATTACKER, "v": injection})
        expected: tuple[str | None, ...] = (None, CONTRACT)
        if argument in (
            "rebuild-tenant",
            "verify-tenant",
            "tenant_stats-tenant",
            "consumer_stats-tenant",
        ):
            expected = (SCOPE,)
        if argument == "set_tenant":
            expected = (None, CONTRACT) if injection == VICTIM else (CONTRACT,)
        declared = VICTIM if argument == "set_tenant" and injection == VICTIM else ATTACKER
        outcome = assert_contained(
            su,
            attacker,
            body,
            expected,
            declared=declared,
            victim=ATTACKER if declared == VICTIM else VICTIM,
        )
        if declared == ATTACKER:  # rows found are the attacker's own (injection-named)
            assert all(row.get("tenant_id", ATTACKER) == ATTACKER for row in outcome.rows), (
                outcome.rows
            )


# --- 9. the victim's tenant id, spelled otherwise ----------------------------------------------

VARIANTS = {
    "upper": "TENANT-B",
    "title": "Tenant-b",
    "last-upper": "tenant-B",
    "leading-space": " tenant-b",
    "trailing-space": "tenant-b ",
    "trailing-newline": "tenant-b\n",
    "tab": "\ttenant-b",
    "nbsp": "tenant-b\u00a0",
    "hyphen-u2010": "tenant\u2010b",
    "en-dash": "tenant\u2013b",
    "fullwidth": "\uff54\uff45\uff4e\uff41\uff4e\uff54-b",
    "fullwidth-b": "tenant-\uff42",
    "cyrillic-e": "t\u0435nant-b",
    "zero-width-space": "tenant-b\u200b",
    "zero-width-joiner": "tenant\u200d-b",
    "combining-acute": "tenant-b\u0301",
    "combining-dot": "tenant-b\u0307",
    "precomposed-b-dot": "tenant-\u1e03",
    "underscore": "tenant_b",
    "like-percent": "tenant-%",
    "like-underscore": "tenant-_",
    "regex-dot": "tenant.b",
    "semicolon": "tenant-b;",
    "soft-hyphen": "ten\u00adant-b",
}


@pytest.mark.parametrize(
    "declare", ["set_tenant", pytest.param("SET-LOCAL", marks=SET_CONFIG_STAYS_ON_THE_COORDINATOR)]
)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_victims_tenant_id_spelled_otherwise_reaches_nothing_of_the_victim(
    su: psycopg.Connection, attacker: psycopg.Connection, variant: str, declare: str
) -> None:
    """Tenant ids compare exactly (decisions.md): a variant is another tenant, or invalid."""
    spelled = VARIANTS[variant]
    valid = spelled.isascii() and all(ch.isalnum() or ch in "_.:-" for ch in spelled)
    for capability in sorted(CAPABILITY_CALLS):

        def body(conn: psycopg.Connection, capability: str = capability) -> list[Any]:
            if declare == "set_tenant":
                set_tenant(conn, spelled)
            else:
                conn.execute("SELECT set_config('selene.tenant_id', %s, true)", [spelled])
            return call(CAPABILITY_CALLS[capability], {"t": spelled, "w": "wo-shared"}, None)(conn)

        if declare == "SET-LOCAL" and not valid and capability in ("rebuild", "verify"):
            continue  # 23514, not SE004: the defect of test_a_malformed_declared_tenant_...
        if declare == "set_tenant" and not valid:
            expected: tuple[str | None, ...] = (CONTRACT,)
        elif capability in ("append", "append-create") and not valid:
            expected = (CONTRACT,)  # the append's own contract check of tenant_id
        else:
            expected = (None, CONTRACT)  # a tenant of its own, with nothing in it
        outcome = assert_contained(su, attacker, body, expected, declared=spelled)
        if capability not in ("append-create", "rebuild", "verify"):
            assert all(row.get("tenant_id") in (None, spelled) for row in outcome.rows), (
                outcome.rows
            )


# --- 10. what other sessions of the same login can observe -------------------------------------


def test_another_sessions_query_text_shows_placeholders_not_values(
    su: psycopg.Connection, login: Connect
) -> None:
    """pg_stat_activity shows the query text of sessions of the same login: the client sends
    values as parameters, so another tenant's ids do not appear in it."""
    victim, spy = login(), login()
    marker = f"victim-secret-{uuid.uuid4().hex[:8]}"
    victim.execute("BEGIN")
    set_tenant(victim, VICTIM)
    append(
        victim,
        **event(
            tenant_id=VICTIM,
            work_order_id=marker,
            correlation_id=uuid.uuid4().int % 10**12 + 10**7,
            payload={"note": marker},
        ),
    )
    rows = spy.execute(
        "SELECT query FROM pg_catalog.pg_stat_activity WHERE pid = %s", [victim.info.backend_pid]
    ).fetchall()
    victim.execute("ROLLBACK")
    assert rows and "os_core.work_order_ledger_append" in rows[0][0]
    assert marker not in rows[0][0] and VICTIM not in rows[0][0]


@SET_CONFIG_STAYS_ON_THE_COORDINATOR
@pytest.mark.parametrize("capability", ["rebuild", "verify"])
def test_a_malformed_declared_tenant_gets_the_contract_code_from_an_audited_rebuild_or_verify(
    su: psycopg.Connection, attacker: psycopg.Connection, capability: str
) -> None:
    def body(conn: psycopg.Connection) -> list[Any]:
        conn.execute("SELECT set_config('selene.tenant_id', 'tenant-b ', true)")
        return call(CAPABILITY_CALLS[capability], {"t": "tenant-b "}, None)(conn)

    assert_contained(su, attacker, body, CONTRACT, declared="tenant-b ")


def test_a_listener_receives_no_other_tenants_audit_notifications(login: Connect) -> None:
    spy, victim = login(), login()
    spy.execute("LISTEN ph1j_audit")
    victim.execute("SET selene.audit_notify = on")
    marker = f"victim-secret-{uuid.uuid4().hex[:8]}"
    append_committed(
        victim,
        **event(
            tenant_id=VICTIM,
            work_order_id=marker,
            correlation_id=uuid.uuid4().int % 10**12 + 10**8,
        ),
    )
    received = [notify.payload for notify in spy.notifies(timeout=1.0, stop_after=1)]
    assert not any(marker in payload or VICTIM in payload for payload in received), received


ADVISORY_LOCK_ATTEMPTS = (
    "SELECT pg_advisory_lock(hashtextextended(%(key)s, 0))",
    "SELECT pg_advisory_lock_shared(hashtextextended(%(key)s, 0))",
    "SELECT pg_try_advisory_lock(hashtextextended(%(key)s, 0))",
    "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))",
    "SELECT pg_try_advisory_xact_lock_shared(hashtextextended(%(key)s, 0))",
    "SELECT pg_advisory_lock(1, 2)",
)


@pytest.mark.parametrize("attempt", ADVISORY_LOCK_ATTEMPTS)
def test_a_session_cannot_hold_back_another_tenants_appends(
    su: psycopg.Connection, login: Connect, attempt: str
) -> None:
    """Taking the lock key of another tenant's work order is refused (42501, migration 0004).

    Before, pg_advisory_lock was PUBLIC's: a session could take
    hashtextextended('tenant-b/wo-shared', 0) and stall tenant-b's appends to wo-shared
    for as long as it held it. The victim's append below would then wait out its
    lock_timeout (55P03).
    """
    spy, victim = login(), login(options="-c lock_timeout=300ms")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        spy.execute(attempt, {"key": f"{VICTIM}/wo-shared"})
    spy_locks = su.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s",
        [spy.info.backend_pid],
    ).fetchone()
    assert spy_locks == (0,)
    # The victim's append goes through at once (rolled back: the module's data stays).
    with victim.transaction(force_rollback=True):
        set_tenant(victim, VICTIM)
        _, replay = append(
            victim,
            **event(
                tenant_id=VICTIM,
                work_order_id="wo-shared",
                correlation_id=777,
                event_type="FIELD_SET",
                work_order_status="EXECUTING",
                turn_id=3,
                created_at=3_000,
            ),
        )
    assert replay is False
