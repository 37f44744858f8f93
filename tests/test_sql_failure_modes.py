"""Every way an append, a read or a write can be refused, through psycopg as the real roles.

Each test asserts the SQLSTATE, the reason code as the message, a DETAIL naming the
field or rule, and, from the superuser after the refused transaction rolled back,
that nothing was written: ledger, projection and audit row counts and every current
row are as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.conftest import DBA_ROLE
from tests.sql_helpers import (
    TENANT_A,
    TENANT_B,
    append,
    append_committed,
    event,
    ledger_state,
    set_tenant,
)

APPEND_ONLY = ("SE001", "OS_WORK_ORDER_APPEND_ONLY_VIOLATION")
TENANT_SCOPE = ("SE003", "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION")
CONTRACT = ("SE004", "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")

# A valid second event of the seeded wo-1: each failure case below changes one thing.
NEXT = event(
    event_type="FIELD_SET",
    work_order_status="CLARIFY",
    turn_id=2,
    reason_code=7,
    created_at=2_000,
    payload={"fields": {"site": "berlin"}},
)

Connect = Callable[..., psycopg.Connection]


@pytest.fixture
def seeded(app: psycopg.Connection) -> int:
    """tenant-a's wo-1, created and committed; returns its event id."""
    event_id, replay = append_committed(app, **event())
    assert replay is False
    return event_id


def assert_refused(
    su: psycopg.Connection,
    conn: psycopg.Connection,
    call: Callable[[psycopg.Connection], object],
    code: tuple[str, str],
    *detail_words: str,
) -> psycopg.Error:
    """Run ``call`` in a transaction on ``conn``; it must fail with ``code`` and write nothing."""
    before = ledger_state(su)
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        call(conn)
    error = caught.value
    sqlstate, reason_code = code
    assert error.sqlstate == sqlstate, error
    assert error.diag.message_primary == reason_code
    detail = error.diag.message_detail or ""
    for word in detail_words:
        assert word in detail, f"DETAIL {detail!r} does not name {word!r}"
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    after = ledger_state(su)
    assert after == before, "a refused call wrote something"
    return error


def append_as(declared: str | None, /, **fields: Any) -> Callable[[psycopg.Connection], object]:
    """A call that declares the tenant ``declared`` (unless None) and appends ``fields``."""

    def call(conn: psycopg.Connection) -> object:
        if declared is not None:
            set_tenant(conn, declared)
        return append(conn, **fields)

    return call


def test_the_baseline_next_event_is_accepted(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    """The failure cases below are NEXT plus one change; NEXT itself is valid."""
    before = ledger_state(su)
    event_id, replay = append_committed(app, **NEXT)
    assert (event_id > seeded, replay) == (True, False)
    after = ledger_state(su)
    assert (after.ledger_rows, after.current_rows, after.audit_rows) == (
        before.ledger_rows + 1,
        before.current_rows,
        before.audit_rows + 1,
    )


# --- tenant scope ---------------------------------------------------------------------------


def test_append_without_a_declared_tenant_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    assert_refused(su, app, append_as(None, **NEXT), TENANT_SCOPE, "tenant")


def test_a_tenant_declared_in_an_earlier_transaction_does_not_carry_over(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    with app.transaction():
        set_tenant(app, TENANT_A)
    assert_refused(su, app, append_as(None, **NEXT), TENANT_SCOPE, "tenant")


def test_append_for_another_tenant_than_the_declared_one_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    assert_refused(su, app, append_as(TENANT_B, **NEXT), TENANT_SCOPE, "tenant_id", TENANT_A)


@pytest.mark.parametrize(
    ("declared", "sql"),
    [
        pytest.param(
            None,
            "SELECT * FROM os_core.work_order_current_read(%s::text, 'wo-1'::text)",
            id="current_read-no-tenant",
        ),
        pytest.param(
            TENANT_B,
            "SELECT * FROM os_core.work_order_current_read(%s::text, 'wo-1'::text)",
            id="current_read-other-tenant",
        ),
        pytest.param(
            None,
            "SELECT * FROM os_core.work_order_ledger_read(%s::text)",
            id="ledger_read-no-tenant",
        ),
        pytest.param(
            TENANT_B,
            "SELECT * FROM os_core.work_order_ledger_read(%s::text)",
            id="ledger_read-other-tenant",
        ),
    ],
)
def test_reads_outside_the_declared_tenant_are_refused(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int, declared: str | None, sql: str
) -> None:
    def call(conn: psycopg.Connection) -> object:
        if declared is not None:
            set_tenant(conn, declared)
        return conn.execute(sql, [TENANT_A]).fetchall()

    assert_refused(su, app, call, TENANT_SCOPE, "tenant")


# --- contract: one field at a time ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"work_order_id": ""}, "work_order_id", id="empty-work_order_id"),
        pytest.param(
            {"work_order_id": " \t\n\u00a0\u3000\u200b"}, "work_order_id", id="blank-work_order_id"
        ),
        pytest.param({"work_order_id": "w" * 129}, "work_order_id", id="long-work_order_id"),
        pytest.param({"correlation_id": 2**128}, "correlation_id", id="correlation_id-2^128"),
        pytest.param({"correlation_id": 0}, "correlation_id", id="correlation_id-0"),
        pytest.param({"turn_id": 0}, "turn_id", id="turn_id-0"),
        pytest.param({"reason_code": 2**32}, "reason_code", id="reason_code-2^32"),
        pytest.param({"reason_code": 0}, "reason_code", id="reason_code-0"),
        pytest.param({"event_type": "WORK_ORDER_DELETED"}, "event_type", id="unknown-event_type"),
        pytest.param({"work_order_status": "PAUSED"}, "work_order_status", id="unknown-status"),
        pytest.param(
            {"event_type": "WORK_ORDER_CANCELED"},
            "work_order_status",
            id="canceled-event-without-status",
        ),
        pytest.param({"event_type": "STEP_STARTED"}, "step_id", id="step-event-without-step_id"),
        pytest.param({"step_input_hash": "h-1"}, "step_id", id="step_input_hash-without-step_id"),
        pytest.param({"lease_owner_id": "worker-1"}, "lease_owner_id", id="lease-owner-only"),
        pytest.param(
            {"lease_owner_id": "worker-1", "lease_token_hash": "t-1"},
            "lease_expires_at",
            id="lease-without-expiry",
        ),
        pytest.param(
            {"lease_owner_id": "worker-1", "lease_token_hash": "t-1", "lease_expires_at": 2_000},
            "lease_expires_at",
            id="lease-expiring-at-created_at",
        ),
        pytest.param({"created_at": 0}, "created_at", id="created_at-0"),
        pytest.param({"idempotency_key": "  "}, "idempotency_key", id="blank-idempotency_key"),
        pytest.param({"payload": ["not", "an", "object"]}, "payload", id="payload-array"),
        pytest.param({"payload": {"blob": "x" * 70_000}}, "payload", id="payload-over-64KiB"),
        pytest.param({"schema_version": 2}, "schema_version", id="schema_version-2"),
    ],
)
def test_a_field_that_breaks_the_contract_is_refused(
    su: psycopg.Connection,
    app: psycopg.Connection,
    seeded: int,
    change: dict[str, Any],
    field: str,
) -> None:
    assert_refused(su, app, append_as(TENANT_A, **{**NEXT, **change}), CONTRACT, field)


# --- contract: the work order's history ----------------------------------------------------


def test_the_first_event_of_a_work_order_must_be_created(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    missing = {**NEXT, "work_order_id": "wo-missing", "correlation_id": 99}
    assert_refused(
        su, app, append_as(TENANT_A, **missing), CONTRACT, "wo-missing", "WORK_ORDER_CREATED"
    )


def test_a_work_order_is_created_only_once(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    again = event(turn_id=2, created_at=2_000)
    assert_refused(su, app, append_as(TENANT_A, **again), CONTRACT, "wo-1", "already created")


@pytest.mark.parametrize("terminal", ["DONE", "REFUSED", "FAILED", "CANCELED"])
def test_nothing_follows_a_terminal_status(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int, terminal: str
) -> None:
    event_type = "WORK_ORDER_CANCELED" if terminal == "CANCELED" else "STATUS_CHANGED"
    append_committed(
        app,
        **event(
            event_type=event_type,
            work_order_status=terminal,
            turn_id=2,
            created_at=1_500,
            idempotency_key="end",
        ),
    )
    assert_refused(su, app, append_as(TENANT_A, **NEXT), CONTRACT, terminal, "terminal")


def test_an_idempotent_replay_still_follows_a_terminal_status(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    done = event(
        event_type="STATUS_CHANGED",
        work_order_status="DONE",
        turn_id=2,
        created_at=1_500,
        idempotency_key="done",
    )
    event_id, _ = append_committed(app, **done)
    assert append_committed(app, **done) == (event_id, True)


def test_created_at_must_not_go_backwards(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    earlier = {**NEXT, "created_at": 999}
    assert_refused(su, app, append_as(TENANT_A, **earlier), CONTRACT, "created_at", "999")


def test_a_lease_cannot_be_taken_over_before_it_expires(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    lease = {"lease_token_hash": "token-hash", "lease_expires_at": 10_000}
    append_committed(
        app,
        **{**NEXT, "created_at": 1_500, "lease_owner_id": "worker-1", **lease},
    )
    takeover = {
        **NEXT,
        "turn_id": 3,
        "created_at": 9_999,
        "lease_owner_id": "worker-2",
        "lease_token_hash": "other-hash",
        "lease_expires_at": 20_000,
    }
    assert_refused(su, app, append_as(TENANT_A, **takeover), CONTRACT, "lease_owner_id", "worker-1")
    # At its expiry (compared with the event's created_at) the lease may change hands.
    at_expiry = {**takeover, "created_at": 10_000}
    assert append_committed(app, **at_expiry)[1] is False


def test_an_expected_event_count_that_does_not_match_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    stale = {**NEXT, "expected_event_count": 2}
    assert_refused(su, app, append_as(TENANT_A, **stale), CONTRACT, "expected_event_count")
    assert append_committed(app, **{**NEXT, "expected_event_count": 1})[1] is False


def test_a_work_order_keeps_its_correlation_id(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    moved = {**NEXT, "correlation_id": 43}
    assert_refused(su, app, append_as(TENANT_A, **moved), CONTRACT, "correlation_id", "42")


def test_a_correlation_id_bound_to_another_work_order_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    second = event(work_order_id="wo-2", created_at=2_000)
    assert_refused(su, app, append_as(TENANT_A, **second), CONTRACT, "correlation_id", "42", "wo-1")
    # Another tenant may use the same correlation id.
    assert append_committed(app, **{**second, "tenant_id": TENANT_B})[1] is False


def test_an_idempotency_key_reused_with_different_content_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int
) -> None:
    keyed = {**NEXT, "idempotency_key": "key-1"}
    event_id, _ = append_committed(app, **keyed)
    # A later created_at too: a retry's re-stamp, not content, so not named below.
    different = {
        **keyed,
        "turn_id": 3,
        "payload": {"fields": {"site": "paris"}},
        "created_at": keyed["created_at"] + 1,
    }
    error = assert_refused(
        su,
        app,
        append_as(TENANT_A, **different),
        CONTRACT,
        "idempotency_key",
        "key-1",
        str(event_id),
        "payload",
        "turn_id",
    )
    assert "idempotency_key" in (error.diag.message_hint or "")
    assert "created_at" not in (error.diag.message_detail or "")
    # The same content again is a replay of the original event, re-stamped or not.
    assert append_committed(app, **keyed) == (event_id, True)
    assert append_committed(app, **{**keyed, "created_at": keyed["created_at"] + 1}) == (
        event_id,
        True,
    )


# --- append-only: even the superuser cannot rewrite history --------------------------------


@pytest.mark.parametrize("table", ["os_core.work_order_ledger", "ph1j.audit_events"])
@pytest.mark.parametrize(
    ("operation", "template"),
    [
        ("UPDATE", "UPDATE {table} SET turn_id = turn_id + 1"),
        pytest.param(
            "UPDATE",
            "UPDATE {table} SET turn_id = 1 WHERE false",
            marks=pytest.mark.single_node(
                "Citus sends a statement that matches no shard to no worker, so the shards'"
                " statement triggers do not fire: nothing is written, nothing refused"
            ),
        ),
        ("DELETE", "DELETE FROM {table}"),
        ("TRUNCATE", "TRUNCATE {table}"),
    ],
    ids=["update", "update-no-row", "delete", "truncate"],
)
def test_the_superuser_cannot_rewrite_an_append_only_table(
    su: psycopg.Connection,
    app: psycopg.Connection,
    seeded: int,
    table: str,
    operation: str,
    template: str,
) -> None:
    def call(conn: psycopg.Connection) -> object:
        return conn.execute(template.format(table=table))

    error = assert_refused(su, su, call, APPEND_ONLY, operation, table.split(".")[1])
    assert error.diag.message_hint


# --- privileges: the app role has no way in but the capability functions -------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM os_core.work_order_ledger",
        "INSERT INTO os_core.work_order_ledger (tenant_id, work_order_id, correlation_id, turn_id,"
        " event_type, work_order_status, reason_code, created_at) VALUES ('tenant-a', 'wo-9', 9,"
        " 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1)",
        "UPDATE os_core.work_order_ledger SET turn_id = 5",
        "DELETE FROM os_core.work_order_ledger",
        "TRUNCATE os_core.work_order_ledger",
        "SELECT * FROM os_core.work_orders_current",
        "UPDATE os_core.work_orders_current SET work_order_status = 'DONE'",
        "DELETE FROM os_core.work_orders_current",
        "SELECT * FROM os_core.work_order_step_attempts",
        "SELECT * FROM os_core.work_order_leases",
        "SELECT * FROM ph1j.audit_events",
        "DELETE FROM ph1j.audit_events",
        "SELECT os_core.raise_error('OS_WORK_ORDER_APPEND_ONLY_VIOLATION', 'x')",
        "SELECT os_core.require_tenant_scope('tenant-a')",
    ],
    ids=lambda sql: " ".join(sql.split()[:4]),
)
def test_the_app_role_has_no_direct_access(
    su: psycopg.Connection, app: psycopg.Connection, seeded: int, sql: str
) -> None:
    def call(conn: psycopg.Connection) -> object:
        set_tenant(conn, TENANT_A)
        return conn.execute(sql)

    before = ledger_state(su)
    with pytest.raises(errors.InsufficientPrivilege) as caught, app.transaction():
        call(app)
    assert caught.value.sqlstate == "42501"
    assert ledger_state(su) == before


# --- rebuild scope -------------------------------------------------------------------------


def _rebuild(tenant_id: str | None, declared: str | None) -> Callable[[psycopg.Connection], Any]:
    def call(conn: psycopg.Connection) -> Any:
        if declared is not None:
            set_tenant(conn, declared)
        return conn.execute(
            "SELECT tenant_count, work_order_count, event_count"
            " FROM os_core.work_orders_current_rebuild(%s::text)",
            [tenant_id],
        ).fetchone()

    return call


@pytest.fixture
def two_tenants(app: psycopg.Connection, seeded: int) -> None:
    """tenant-a's wo-1 with two events, tenant-b's wo-b with one."""
    append_committed(app, **NEXT)
    append_committed(app, **event(tenant_id=TENANT_B, work_order_id="wo-b"))


@pytest.mark.parametrize(
    ("tenant_id", "declared", "words"),
    [
        pytest.param(None, None, ("selene_dba",), id="all-tenants"),
        pytest.param(None, TENANT_A, ("selene_dba",), id="all-tenants-with-tenant-declared"),
        pytest.param(TENANT_B, TENANT_A, ("tenant_id", TENANT_B), id="another-tenant"),
        pytest.param(TENANT_A, None, ("tenant",), id="own-tenant-undeclared"),
    ],
)
def test_the_app_role_rebuilds_only_its_declared_tenant(
    su: psycopg.Connection,
    app: psycopg.Connection,
    two_tenants: None,
    tenant_id: str | None,
    declared: str | None,
    words: tuple[str, ...],
) -> None:
    assert_refused(su, app, _rebuild(tenant_id, declared), TENANT_SCOPE, *words)
    with app.transaction():
        assert _rebuild(TENANT_A, TENANT_A)(app) == (1, 1, 2)


def test_the_dba_role_rebuilds_every_tenant(
    su: psycopg.Connection, connect: Connect, two_tenants: None
) -> None:
    dba = connect(user=DBA_ROLE, autocommit=True)
    before = ledger_state(su)
    with dba.transaction():
        assert _rebuild(None, None)(dba) == (2, 2, 3)
    with dba.transaction():
        assert _rebuild(TENANT_B, None)(dba) == (1, 1, 1)
    assert ledger_state(su) == before
