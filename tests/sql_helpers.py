"""Shared helpers for the test_sql_* modules: one append call, state snapshots, lock waits.

Every call names its parameters and casts each one to the type of the function's
signature, because psycopg sends Python ints as int2/int4/int8/numeric by size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row, namedtuple_row
from psycopg.types.json import Jsonb

# The product's five tables: the ledger, the three projections and the audit trail.
TABLES = (
    "os_core.work_order_ledger",
    "os_core.work_orders_current",
    "os_core.work_order_step_attempts",
    "os_core.work_order_leases",
    "ph1j.audit_events",
)

TENANT_A = "tenant-a"
TENANT_B = "tenant-b"

# Parameter name (without p_) -> the SQL type of os_core.work_order_ledger_append's signature.
APPEND_PARAMETER_TYPES: dict[str, str] = {
    "tenant_id": "text",
    "work_order_id": "text",
    "correlation_id": "numeric",
    "turn_id": "bigint",
    "event_type": "text",
    "work_order_status": "text",
    "reason_code": "bigint",
    "created_at": "bigint",
    "step_id": "text",
    "step_input_hash": "text",
    "lease_owner_id": "text",
    "lease_token_hash": "text",
    "lease_expires_at": "bigint",
    "idempotency_key": "text",
    "payload": "jsonb",
    "schema_version": "integer",
    "expected_event_count": "bigint",
}

LEDGER_COLUMNS = (
    "work_order_event_id",
    "tenant_id",
    "work_order_id",
    "correlation_id",
    "turn_id",
    "event_type",
    "work_order_status",
    "reason_code",
    "step_id",
    "step_input_hash",
    "lease_owner_id",
    "lease_token_hash",
    "lease_expires_at",
    "created_at",
    "idempotency_key",
    "payload",
    "schema_version",
)

#: The fields of an append that a writer sends and the ledger row must hold as sent.
SENT_FIELDS = (
    "work_order_id",
    "correlation_id",
    "turn_id",
    "event_type",
    "work_order_status",
    "reason_code",
    "created_at",
    "idempotency_key",
    "payload",
)
# How long a test waits for a session to block, or for a blocked call to finish.
WAIT_SECONDS = 15.0


def event(**fields: Any) -> dict[str, Any]:
    """A valid WORK_ORDER_CREATED event of wo-1 in tenant-a, with ``fields`` overriding."""
    base: dict[str, Any] = {
        "tenant_id": TENANT_A,
        "work_order_id": "wo-1",
        "correlation_id": 42,
        "turn_id": 1,
        "event_type": "WORK_ORDER_CREATED",
        "work_order_status": "DRAFT",
        "reason_code": 1,
        "created_at": 1_000,
    }
    base.update(fields)
    return base


def append_sql(fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The SELECT that calls the append with exactly ``fields``, and its parameters."""
    unknown = set(fields) - set(APPEND_PARAMETER_TYPES)
    assert not unknown, f"not parameters of the append: {sorted(unknown)}"
    arguments = ",\n    ".join(
        f"p_{name} => %({name})s::{APPEND_PARAMETER_TYPES[name]}" for name in fields
    )
    params = {
        name: Jsonb(value) if name == "payload" and value is not None else value
        for name, value in fields.items()
    }
    sql = (
        "SELECT work_order_event_id, idempotency_replay\n"
        f"FROM os_core.work_order_ledger_append(\n    {arguments}\n)"
    )
    return sql, params


def append(conn: psycopg.Connection, **fields: Any) -> tuple[int, bool]:
    """Call the append on ``conn`` in its current transaction: (event id, replay)."""
    sql, params = append_sql(fields)
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0], row[1]


def set_tenant(conn: psycopg.Connection, tenant_id: str) -> None:
    conn.execute("SELECT os_core.set_tenant(%s::text)", [tenant_id])


def commit_above_an_unlogged_xid(
    committing: psycopg.Connection, idle: psycopg.Connection, tenant: str, **fields: Any
) -> int:
    """Append one event of ``tenant`` on ``committing`` and commit it, while ``idle``
    holds an xid it never WAL-logs (taken after the appender's own): the event's paging
    horizon lies above that xid, which a crash or a promotion hands out again. Both
    connections in autocommit; ``idle`` is left in its transaction. Returns the id."""
    committing.execute("BEGIN")
    set_tenant(committing, tenant)
    committing.execute("SELECT pg_current_xact_id()")
    idle.execute("BEGIN")
    idle.execute("SELECT pg_current_xact_id()")  # an xid, and no WAL record with it
    committed, _ = append(committing, **event(tenant_id=tenant, **fields))
    committing.execute("COMMIT")
    return committed


def read_as(
    conn: psycopg.Connection, tenant_id: str | None, sql: str, params: list[Any]
) -> list[dict[str, Any]]:
    """Run ``sql`` in a transaction of its own, ``tenant_id`` declared (None: none); its rows."""
    with conn.transaction():
        if tenant_id is not None:
            set_tenant(conn, tenant_id)
        return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()


def append_committed(conn: psycopg.Connection, **fields: Any) -> tuple[int, bool]:
    """Declare the event's tenant, append it and commit, on an autocommit connection."""
    with conn.transaction():
        set_tenant(conn, fields["tenant_id"])
        return append(conn, **fields)


@dataclass(frozen=True)
class LedgerState:
    """What the superuser sees of everything the product writes."""

    ledger_rows: int
    current_rows: int
    audit_rows: int
    current: tuple[str, ...]
    attempts: tuple[str, ...]
    leases: tuple[str, ...]


def ledger_state(superuser: psycopg.Connection) -> LedgerState:
    """Row counts of the ledger, the projection and the audit trail, and every projection row."""
    counts = superuser.execute(
        """
        SELECT
            (SELECT count(*) FROM os_core.work_order_ledger),
            (SELECT count(*) FROM os_core.work_orders_current),
            (SELECT count(*) FROM ph1j.audit_events)
        """
    ).fetchone()
    assert counts is not None

    def rows(table: str, order: str) -> tuple[str, ...]:
        found = superuser.execute(f"SELECT t::text FROM {table} AS t ORDER BY {order}").fetchall()
        return tuple(row[0] for row in found)

    return LedgerState(
        counts[0],
        counts[1],
        counts[2],
        rows("os_core.work_orders_current", "tenant_id, work_order_id"),
        rows(
            "os_core.work_order_step_attempts", "tenant_id, work_order_id, step_id, attempt_index"
        ),
        rows("os_core.work_order_leases", "tenant_id, work_order_id"),
    )


def current_row(superuser: psycopg.Connection, tenant_id: str, work_order_id: str) -> Any:
    """The projection row of a work order as a named tuple-like row, or None."""
    cur = superuser.cursor(row_factory=namedtuple_row)
    return cur.execute(
        "SELECT * FROM os_core.work_orders_current WHERE tenant_id = %s AND work_order_id = %s",
        [tenant_id, work_order_id],
    ).fetchone()


def wait_until_blocked(
    observer: psycopg.Connection, pid: int, wait_event: str, locktype: str
) -> None:
    """Return once backend ``pid`` waits on a heavyweight lock of ``locktype``; fail otherwise.

    ``observer`` must be in autocommit mode: pg_stat_activity is read once per transaction.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    seen: tuple[Any, ...] | None = None
    while time.monotonic() < deadline:
        row = observer.execute(
            """
            SELECT a.wait_event_type, a.wait_event, a.state,
                   (SELECT array_agg(l.locktype) FROM pg_catalog.pg_locks AS l
                    WHERE l.pid = a.pid AND NOT l.granted)
            FROM pg_catalog.pg_stat_activity AS a
            WHERE a.pid = %s
            """,
            [pid],
        ).fetchone()
        seen = row
        if (
            row is not None
            and row[0] == "Lock"
            and row[1] == wait_event
            and row[3] is not None
            and locktype in row[3]
        ):
            return
        time.sleep(0.01)
    raise AssertionError(
        f"backend {pid} never waited on a {wait_event} lock; last seen "
        f"(wait_event_type, wait_event, state, ungranted locktypes) = {seen}"
    )
