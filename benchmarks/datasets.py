"""Loading the benchmark data sets: the ledger with ``generate_series``, then the projections.

Setup is not what is measured, so the ledger is written directly by the superuser with
one ``INSERT ... SELECT`` (``OVERRIDING SYSTEM VALUE`` for the event ids), its indexes
dropped during the load and rebuilt with the same definitions, and the three projections
are filled from the ``*_from_ledger`` views, which is what the rebuild writes. Every
loaded row is one the append would have accepted, in event-id order (``validate``
replays a small data set through ``os_core.work_order_ledger_append`` to prove it);
``paging_horizon`` stays NULL (counts as reached) and no audit rows are written.

Names: tenants ``bench-<t>`` (t = 1..tenants), work orders ``wo-<w>`` (w = 0..n-1, in
each tenant), correlation id ``t * 10^7 + w + 1``. Event ids interleave the work orders
(round k of every work order, then round k+1), so a work order's events are spread over
the ledger as they would be in production; ``created_at`` is ``10^12 + 1000 * id`` ns,
far below the clock-derived ``created_at`` the append benchmarks use afterwards.

Two shapes:

``simple``
    ``WORK_ORDER_CREATED`` then ``FIELD_SET`` events, all ``DRAFT``: the work orders
    stay open for appends (the append, read, client and growth benchmarks).
``lifecycle``
    ten events per work order through every event type, status, a retried step and
    lease acquisitions, renewals and a takeover after expiry, ending in DONE, FAILED,
    CANCELED or still EXECUTING with its lease active (the rebuild benchmark: all
    three projections have rows to rebuild).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

CORRELATION_STRIDE = 10_000_000
"""Correlation id of work order ``w`` of tenant ``t``: ``t * CORRELATION_STRIDE + w + 1``."""

CREATED_AT_BASE = 10**12
"""``created_at`` of event id ``i`` is ``CREATED_AT_BASE + 1000 * i`` (ns)."""

LIFECYCLE_EVENTS = 10
"""Events per work order in the ``lifecycle`` shape."""

Shape = Literal["simple", "lifecycle"]


@dataclass(frozen=True)
class Dataset:
    """A data set: ``tenants`` x ``work_orders`` work orders, ``events`` events each."""

    shape: Shape
    tenants: int
    work_orders: int
    """Work orders per tenant."""
    events: int
    """Events per work order (``lifecycle``: always 10)."""

    @property
    def total_work_orders(self) -> int:
        """Work orders over all tenants."""
        return self.tenants * self.work_orders

    @property
    def total_events(self) -> int:
        """Ledger rows."""
        return self.total_work_orders * self.events


def _event_columns(dataset: Dataset) -> str:
    """Return the SELECT list that turns ``i`` (0-based event number) into a ledger row."""
    n = dataset.total_work_orders
    # i = k * n + w * tenants + (t - 1): round k, work order w, tenant t.
    k = f"(i / {n})"
    w = f"((i % {n}) / {dataset.tenants})"
    t = f"((i % {n}) % {dataset.tenants} + 1)"
    event_id = "(i + 1)"
    created = f"({CREATED_AT_BASE}::bigint + 1000 * (i + 1))"
    common = f"""
        'bench-' || {t} AS tenant_id,
        {event_id} AS work_order_event_id,
        'wo-' || {w} AS work_order_id,
        ({t}::bigint * {CORRELATION_STRIDE} + {w} + 1)::numeric AS correlation_id,
        {k} + 1 AS turn_id,
        {created} AS created_at,
        'load-' || {k} AS idempotency_key"""
    if dataset.shape == "simple":
        return f"""{common},
        CASE WHEN {k} = 0 THEN 'WORK_ORDER_CREATED' ELSE 'FIELD_SET' END AS event_type,
        'DRAFT' AS work_order_status,
        {k} + 1 AS reason_code,
        NULL::text AS step_id, NULL::text AS step_input_hash,
        NULL::text AS lease_owner_id, NULL::text AS lease_token_hash,
        NULL::bigint AS lease_expires_at,
        CASE WHEN {k} > 0 THEN jsonb_build_object('field', 'f' || {k}, 'value', {k}) END
            AS payload"""
    # lifecycle: consecutive events of a work order are `spacing` ns apart; a lease lasts
    # 1.5 spacings, so the next event may renew it and the one after finds it expired.
    spacing = n * 1000
    lease = f"{created} + {spacing * 3 // 2}"
    v2, v3, v4 = f"({w} % 2)", f"({w} % 3)", f"({w} % 4)"
    owner_a = f"'worker-' || ({w} % 7)"
    owner_b = f"'worker-' || (({w} + 1) % 7)"
    owner_6 = f"CASE WHEN {v3} = 0 THEN {owner_b} ELSE {owner_a} END"
    has_lease = (
        f"({k} = 4 OR ({k} = 5 AND {v3} <> 0) OR {k} = 6"
        f" OR ({k} = 8 AND {v2} = 0) OR ({k} = 9 AND {v4} = 3))"
    )
    return f"""{common},
        CASE
            WHEN {k} = 9 THEN (ARRAY['STEP_FINISHED', 'STEP_FAILED', 'WORK_ORDER_CANCELED',
                'FIELD_SET'])[{v4} + 1]
            ELSE (ARRAY['WORK_ORDER_CREATED', 'FIELD_SET', 'STATUS_CHANGED',
                'FIELD_CONFLICT_RESOLVED', 'STEP_STARTED', 'STEP_FINISHED', 'STEP_STARTED',
                'STEP_FAILED', 'STEP_STARTED'])[{k} + 1]
        END AS event_type,
        CASE
            WHEN {k} < 2 THEN 'DRAFT' WHEN {k} = 2 THEN 'CLARIFY' WHEN {k} = 3 THEN 'CONFIRM'
            WHEN {k} < 9 THEN 'EXECUTING'
            ELSE (ARRAY['DONE', 'FAILED', 'CANCELED', 'EXECUTING'])[{v4} + 1]
        END AS work_order_status,
        CASE WHEN {k} = 7 OR ({k} = 9 AND {v4} = 1) THEN 500 ELSE {k} + 1 END AS reason_code,
        CASE
            WHEN {k} IN (4, 5) THEN 'plan'
            WHEN {k} IN (6, 7, 8) OR ({k} = 9 AND {v4} < 2) THEN 'exec'
        END AS step_id,
        CASE
            WHEN {k} = 4 THEN 'h-plan-' || {w}
            WHEN {k} = 6 THEN 'h-exec-1'
            WHEN {k} = 8 THEN 'h-exec-2'
        END AS step_input_hash,
        CASE WHEN {has_lease} THEN
            CASE WHEN {k} IN (4, 5) THEN {owner_a} ELSE {owner_6} END
        END AS lease_owner_id,
        CASE WHEN {has_lease} THEN 'tok-' || {event_id} END AS lease_token_hash,
        CASE WHEN {has_lease} THEN {lease} END AS lease_expires_at,
        CASE
            WHEN {k} = 1 THEN jsonb_build_object('field', 'title', 'value', 'wo-' || {w})
            WHEN {k} = 3 THEN jsonb_build_object('field', 'title', 'resolution', 'ours')
            WHEN {k} = 9 AND {v4} = 3 THEN jsonb_build_object('field', 'progress', 'value', 90)
        END AS payload"""


def _ledger_select(dataset: Dataset, first: int, last: int) -> str:
    """SELECT producing the ledger rows of event numbers ``first``..``last`` (0-based)."""
    return f"""
        SELECT {_event_columns(dataset)}
        FROM generate_series({first}::bigint, {last}::bigint) AS g (i)"""


_COLUMNS = (
    "tenant_id, work_order_event_id, work_order_id, correlation_id, turn_id, created_at, "
    "idempotency_key, event_type, work_order_status, reason_code, step_id, step_input_hash, "
    "lease_owner_id, lease_token_hash, lease_expires_at, payload"
)


def events(conn: psycopg.Connection, dataset: Dataset) -> list[dict[str, Any]]:
    """Return the data set's ledger rows as dicts, in event-id order (small data sets only)."""
    cursor = conn.cursor(row_factory=dict_row)
    sql = f"SELECT * FROM ({_ledger_select(dataset, 0, dataset.total_events - 1)}) AS e"
    return cursor.execute(sql + " ORDER BY work_order_event_id").fetchall()


def _index_definitions(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """(drop, create) statements for the table's indexes and unique / primary keys."""
    rows = conn.execute(
        """
        SELECT c.conname, pg_get_constraintdef(c.oid), NULL
        FROM pg_constraint AS c
        WHERE c.conrelid = %(t)s::regclass AND c.contype IN ('p', 'u')
        UNION ALL
        SELECT i.indexrelid::regclass::text, NULL, pg_get_indexdef(i.indexrelid)
        FROM pg_index AS i
        WHERE
            i.indrelid = %(t)s::regclass
            AND NOT EXISTS (SELECT FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
        """,
        {"t": table},
    ).fetchall()
    statements = []
    for name, constraint, index in rows:
        if constraint is not None:
            statements.append(
                (
                    f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                    f"ALTER TABLE {table} ADD CONSTRAINT {name} {constraint}",
                )
            )
        else:
            statements.append((f"DROP INDEX {name}", index))
    return statements


def _load_without_indexes(conn: psycopg.Connection, table: str, inserts: list[str]) -> None:
    """Run ``inserts`` into ``table`` with its indexes dropped, then rebuild them as they were."""
    definitions = _index_definitions(conn, table)
    for drop, _ in definitions:
        conn.execute(drop)
    for insert in inserts:
        conn.execute(insert)
    for _, create in definitions:
        conn.execute(create)


def load(conn: psycopg.Connection, dataset: Dataset, *, log: Any = print) -> None:
    """Load ``dataset`` into the (migrated, empty) database of ``conn``, a superuser's.

    Writes the ledger, advances its identity, fills the three projections from the
    ``*_from_ledger`` views, records the data set in ``bench.dataset`` and runs
    ``VACUUM ANALYZE``.
    """
    started = time.monotonic()
    total = dataset.total_events
    chunk = max(dataset.total_work_orders, 1)
    inserts = [
        f"INSERT INTO os_core.work_order_ledger ({_COLUMNS}) OVERRIDING SYSTEM VALUE "
        f"SELECT {_COLUMNS} FROM ({_ledger_select(dataset, first, min(first + chunk, total) - 1)})"
        " AS e"
        for first in range(0, total, chunk)
    ]
    _load_without_indexes(conn, "os_core.work_order_ledger", inserts)
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('os_core.work_order_ledger', "
        "'work_order_event_id'), %s)",
        [total],
    )
    log(f"  ledger: {total:,} events in {time.monotonic() - started:.1f} s")
    # Statistics of the whole ledger before the views read it: autovacuum may have
    # analyzed it after its first chunks, which hold no step events. With those, the
    # step attempts view, when it paired starts and closes by a join (before 7da495b),
    # ran as a nested loop that did not finish; any view may be misplanned on them.
    conn.execute("ANALYZE os_core.work_order_ledger")
    fill_projections(conn)
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
    conn.execute("CREATE TABLE IF NOT EXISTS bench.dataset (description jsonb NOT NULL)")
    conn.execute("INSERT INTO bench.dataset VALUES (%s)", [json.dumps(asdict(dataset))])
    conn.execute("VACUUM (ANALYZE)")
    log(f"  loaded and vacuumed in {time.monotonic() - started:.1f} s")


def fill_projections(conn: psycopg.Connection) -> None:
    """Empty the three projections and write them from the ledger (as the rebuild does)."""
    conn.execute(
        "TRUNCATE os_core.work_orders_current, os_core.work_order_step_attempts, "
        "os_core.work_order_leases"
    )
    _load_without_indexes(
        conn,
        "os_core.work_orders_current",
        [
            "INSERT INTO os_core.work_orders_current "
            "SELECT * FROM os_core.work_orders_current_from_ledger"
        ],
    )
    conn.execute(
        "INSERT INTO os_core.work_order_step_attempts "
        "SELECT * FROM os_core.work_order_step_attempts_from_ledger"
    )
    conn.execute(
        "INSERT INTO os_core.work_order_leases SELECT * FROM os_core.work_order_leases_from_ledger"
    )


def loaded(conn: psycopg.Connection) -> Dataset | None:
    """Return the data set recorded in the database, or None when none was loaded."""
    exists = conn.execute("SELECT to_regclass('bench.dataset') IS NOT NULL").fetchone()
    if exists is None or not exists[0]:
        return None
    row = conn.execute("SELECT description FROM bench.dataset").fetchone()
    return None if row is None else Dataset(**row[0])


def create_bare_tables(conn: psycopg.Connection) -> None:
    """Create the bare copies the baselines write: ledger, current projection, audit trail.

    ``bench.bare_ledger`` and ``bench.bare_current`` have the columns, domains,
    constraints, indexes and rows of ``os_core.work_order_ledger`` and
    ``os_core.work_orders_current``; ``bench.bare_audit`` those of ``ph1j.audit_events``
    (empty, as the loaded audit trail is). No row-level security, no triggers, no
    function: what PostgreSQL itself needs for the rows an append writes.
    """
    copies = (  # (name, source, whether its rows are copied)
        ("bare_ledger", "os_core.work_order_ledger", True),
        ("bare_current", "os_core.work_orders_current", True),
        ("bare_audit", "ph1j.audit_events", False),
    )
    for name, source, with_rows in copies:
        conn.execute(f"DROP TABLE IF EXISTS bench.{name}")
        conn.execute(f"CREATE TABLE bench.{name} (LIKE {source} INCLUDING ALL)")
        if with_rows:  # the ledger's event ids as they are (its identity column)
            conn.execute(f"INSERT INTO bench.{name} OVERRIDING SYSTEM VALUE SELECT * FROM {source}")
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('bench.bare_ledger', 'work_order_event_id'), "
        "(SELECT max(work_order_event_id) FROM os_core.work_order_ledger))"
    )
    for name, _, _ in copies:
        conn.execute(f"VACUUM (ANALYZE) bench.{name}")


def has_bare_tables(conn: psycopg.Connection) -> bool:
    """Whether ``create_bare_tables`` ran in this database (a reused one may predate it)."""
    row = conn.execute(
        "SELECT to_regclass('bench.bare_current') IS NOT NULL"
        " AND to_regclass('bench.bare_audit') IS NOT NULL"
    ).fetchone()
    return bool(row and row[0])


def validate(superuser: psycopg.Connection, app: psycopg.Connection, dataset: Dataset) -> int:
    """Append every event of ``dataset`` through the append function; return how many.

    ``app`` is a connection as ``selene_os`` to a freshly migrated, empty database, and
    ``superuser`` one to any database (it only generates the rows). Raises the append's
    error when a generated event breaks a rule: the proof that the loaded rows are valid.
    """
    fields = [
        "tenant_id",
        "work_order_id",
        "correlation_id",
        "turn_id",
        "event_type",
        "work_order_status",
        "reason_code",
        "created_at",
        "step_id",
        "step_input_hash",
        "lease_owner_id",
        "lease_token_hash",
        "lease_expires_at",
        "idempotency_key",
        "payload",
    ]
    casts = {
        "correlation_id": "numeric",
        "turn_id": "bigint",
        "reason_code": "bigint",
        "created_at": "bigint",
        "lease_expires_at": "bigint",
        "payload": "jsonb",
    }
    call = (
        "SELECT * FROM os_core.work_order_ledger_append("
        + ", ".join(f"p_{name} => %({name})s::{casts.get(name, 'text')}" for name in fields)
        + ")"
    )
    rows = events(superuser, dataset)
    for row in rows:
        with app.transaction():
            app.execute("SELECT os_core.set_tenant(%s)", [row["tenant_id"]])
            values = {name: row[name] for name in fields}
            if values["payload"] is not None:
                values["payload"] = Jsonb(values["payload"])
            app.execute(call, values)
    return len(rows)


_LEDGER_CONTRACT_COLUMNS = (
    "tenant_id, work_order_event_id, work_order_id, correlation_id, turn_id, event_type, "
    "work_order_status, reason_code, step_id, step_input_hash, lease_owner_id, "
    "lease_token_hash, lease_expires_at, created_at, idempotency_key, payload"
)
_PROJECTIONS = (
    ("os_core.work_orders_current", "tenant_id, work_order_id"),
    ("os_core.work_order_step_attempts", "tenant_id, work_order_id, step_id, attempt_index"),
    ("os_core.work_order_leases", "tenant_id, work_order_id"),
)


def check_loading(appended: psycopg.Connection, loaded_db: psycopg.Connection) -> None:
    """Compare a database filled by the append function with one filled by :func:`load`.

    Both must hold the same ledger (every contract column, the event ids included) and
    the same three projections, row for row. Raises AssertionError naming what differs.
    """
    queries = [f"SELECT {_LEDGER_CONTRACT_COLUMNS} FROM os_core.work_order_ledger ORDER BY 2"]
    queries += [f"SELECT * FROM {table} ORDER BY {key}" for table, key in _PROJECTIONS]
    for query in queries:
        expected = appended.execute(query).fetchall()
        actual = loaded_db.execute(query).fetchall()
        if expected != actual:
            raise AssertionError(f"loaded data differs from appended data: {query}")
