"""The capabilities of SELENE_OS_CORE_TABLES v1 as methods of one repository object.

Each method is one call of an ``os_core`` function (or, for ``append_many``, one
pipeline of them) inside a transaction that first declares the tenant with
``os_core.set_tenant``. The database does all validation, deduplication,
projection and auditing; this module only sends typed parameters and turns rows
into records and refusals into :mod:`selene_core_tables.errors` exceptions.

Over a connection, each call runs in ``connection.transaction()``: on its own
when no transaction is open, or as a savepoint of yours when one is, so several
calls can share your transaction::

    repo = WorkOrderRepository(conn)
    with conn.transaction():
        repo.append(created)
        repo.append(confirmed)   # both or neither

Over a ``psycopg_pool.ConnectionPool``, each call borrows a connection and
commits before returning it; given a connection string, the repository opens
one connection of its own and reopens it when it is lost.

Retries (docs/ha.md): over a pool or a connection string, a call whose outcome
can be retried without harm is re-run on a fresh connection when its connection
is lost, the server shuts down, the server turned out to be a standby after a
failover, or the transaction lost a race (:mod:`selene_core_tables.retry`), with
backoff until the :class:`RetryPolicy` deadline. Those calls are the reads, the
appends and cancels with an idempotency key, and ``append_many`` of keyed events.
An append without key is re-run only when its COMMIT was never sent; when the
connection is lost after, it raises :class:`AppendOutcomeUnknown`. A connection
you hand in is never retried: a retry would leave your transaction. Each retry
is logged (logger ``selene_core_tables.retry``, level WARNING) and counted in
``repository.retries``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from selene_core_tables.errors import (
    ContractValidationFailed,
    IdempotencyReplay,
    StorageError,
    storage_errors,
)
from selene_core_tables.records import (
    AppendResult,
    CancelResult,
    ProjectionDifference,
    RebuildResult,
    TenantStats,
    WorkOrderCurrentRecord,
    WorkOrderLease,
    WorkOrderLedgerEvent,
    WorkOrderLedgerEventInput,
    WorkOrderStatus,
    WorkOrderStepAttempt,
)
from selene_core_tables.retry import (
    CONNECTION_LOST,
    AppendOutcomeUnknown,
    RetryPolicy,
    retry_reason,
)

#: Parameter (without its ``p_`` prefix) -> SQL type, in the order of
#: ``os_core.work_order_ledger_append``'s signature. Every value is cast, because
#: psycopg would otherwise send a Python int as int2, int4, int8 or numeric by size.
_APPEND_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "text"),
    ("work_order_id", "text"),
    ("correlation_id", "numeric"),
    ("turn_id", "bigint"),
    ("event_type", "text"),
    ("work_order_status", "text"),
    ("reason_code", "bigint"),
    ("created_at", "bigint"),
    ("step_id", "text"),
    ("step_input_hash", "text"),
    ("lease_owner_id", "text"),
    ("lease_token_hash", "text"),
    ("lease_expires_at", "bigint"),
    ("idempotency_key", "text"),
    ("payload", "jsonb"),
    ("schema_version", "integer"),
    ("expected_event_count", "bigint"),
)

_APPEND_SQL = (
    "SELECT work_order_event_id, idempotency_replay FROM os_core.work_order_ledger_append("
    + ", ".join(f"p_{name} => %({name})s::{sql_type}" for name, sql_type in _APPEND_PARAMETERS)
    + ")"
)
_SET_TENANT_SQL = "SELECT os_core.set_tenant(%s::text)"
_CURRENT_SQL = (
    "SELECT * FROM os_core.work_order_current_read("
    "p_tenant_id => %s::text, p_work_order_id => %s::text)"
)
_LEDGER_SQL = (
    "SELECT * FROM os_core.work_order_ledger_read("
    "p_tenant_id => %s::text, p_work_order_id => %s::text, "
    "p_after_event_id => %s::bigint, p_limit => %s::integer)"
)
_CANCEL_SQL = (
    "SELECT work_order_id, work_order_status, last_event_id FROM os_core.work_order_cancel("
    "p_tenant_id => %s::text, p_work_order_id => %s::text, p_reason_code => %s::bigint, "
    "p_idempotency_key => %s::text, p_created_at => %s::bigint, p_turn_id => %s::bigint)"
)
# Without statuses the database's default (the pending statuses) applies: the
# argument is left out rather than sent, so that the default lives in one place.
_LIST_PENDING_SQL = (
    "SELECT * FROM os_core.work_orders_list_pending("
    "p_tenant_id => %(tenant_id)s::text, {statuses}"
    "p_updated_after => %(updated_after)s::bigint, p_limit => %(limit)s::integer)"
)
_LIST_PENDING_DEFAULT_SQL = _LIST_PENDING_SQL.format(statuses="")
_LIST_PENDING_STATUSES_SQL = _LIST_PENDING_SQL.format(
    statuses="p_statuses => %(statuses)s::text[], "
)
_REBUILD_SQL = (
    "SELECT tenant_count, work_order_count, event_count, rewritten_work_order_count "
    "FROM os_core.work_orders_current_rebuild(p_tenant_id => %s::text, p_emit_audit => %s::boolean)"
)
_STATS_SQL = "SELECT * FROM os_core.tenant_stats(p_tenant_id => %s::text)"
_VERIFY_SQL = (
    "SELECT * FROM os_core.work_orders_current_verify("
    "p_tenant_id => %s::text, p_emit_audit => %s::boolean)"
)
_STEP_ATTEMPTS_SQL = (
    "SELECT * FROM os_core.work_order_step_attempts_read("
    "p_tenant_id => %s::text, p_work_order_id => %s::text)"
)
_LEASE_SQL = (
    "SELECT * FROM os_core.work_order_lease_read("
    "p_tenant_id => %s::text, p_work_order_id => %s::text)"
)

#: Default number of events per ledger page (the database allows 1 to 10000).
DEFAULT_PAGE_SIZE = 1000


_T = TypeVar("_T")

#: Retry reasons after which a COMMIT already sent may have taken effect: the
#: connection went away before its answer came (a server error answer, such as a
#: serialization failure, means the transaction rolled back).
_IN_DOUBT_REASONS = frozenset({CONNECTION_LOST, "57P01", "57P02", "57P03"})

_log = logging.getLogger("selene_core_tables.retry")


class WorkOrderRepository:
    """The capabilities over a psycopg connection, a ``psycopg_pool`` pool or a DSN.

    Connect as a login role that is a member of ``selene_os`` (services) or
    ``selene_dba`` (rebuilds across tenants). Every method declares its tenant for
    its transaction; none keeps state between calls.

    ``retry`` says how long calls that can be retried safely are re-run after a
    lost connection or a failover (None: never); it applies to a pool or a DSN,
    never to a connection you hand in. ``prepared_statements=False`` never uses
    server-side prepared statements, as PgBouncer's transaction pooling needs.
    A repository over a DSN holds one connection and runs one call at a time
    (threads take turns); share a pool between threads instead.
    """

    def __init__(
        self,
        source: psycopg.Connection[Any] | ConnectionPool[Any] | str,
        *,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (frozen, so shared safely)
        prepared_statements: bool = True,
    ) -> None:
        """Use ``source``: a connection (calls join its transaction), a pool or a DSN."""
        if not isinstance(source, psycopg.Connection | ConnectionPool | str):
            raise TypeError(
                "WorkOrderRepository takes a psycopg Connection, a psycopg_pool ConnectionPool "
                f"or a connection string, not {type(source).__name__}"
            )
        self._source = source
        self._retry = None if isinstance(source, psycopg.Connection) else retry
        # prepare=None lets psycopg prepare a query run often; False never prepares.
        self._prepare: bool | None = None if prepared_statements else False
        self._owned: psycopg.Connection[Any] | None = None
        self._owned_lock = threading.Lock()
        self._retries_lock = threading.Lock()
        #: How many times a call was re-run, by reason (a SQLSTATE, or "connection").
        self.retries: Counter[str] = Counter()

    def close(self) -> None:
        """Close the connection the repository opened for a DSN (nothing otherwise)."""
        with self._owned_lock:
            if self._owned is not None:
                self._owned.close()
                self._owned = None

    def __enter__(self) -> WorkOrderRepository:
        """Use the repository as a context manager that closes it on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the repository's own connection (see :meth:`close`)."""
        self.close()

    def _call(
        self,
        tenant_id: str | None,
        body: Callable[[psycopg.Connection[Any]], _T],
        *,
        idempotent: bool,
        append: bool = False,
        pipeline: bool = False,
    ) -> tuple[_T, bool]:
        """Run ``body`` in a transaction that declares ``tenant_id``, retrying as allowed.

        ``idempotent``: running the whole call twice has the effect of running it once.
        Otherwise it is re-run only when its COMMIT was not sent, or was answered
        with an error; when the connection went away after the COMMIT was sent an
        ``append`` raises AppendOutcomeUnknown, anything else its error. Returns the
        result and whether an attempt was re-run after its COMMIT was sent.
        """
        started = time.monotonic()
        attempt = 0
        resent_after_commit = False
        while True:
            commit_sent = False
            try:
                with self._connection() as conn, storage_errors():
                    with conn.pipeline() if pipeline else nullcontext(), conn.transaction():
                        if tenant_id is not None:
                            conn.execute(_SET_TENANT_SQL, [tenant_id], prepare=self._prepare)
                        result = body(conn)
                        commit_sent = True  # leaving the block sends COMMIT
                    if pipeline and self._prepare is False:
                        self._release_pooler_connection(conn)
                    return result, resent_after_commit
            except psycopg.Error as error:
                reason = retry_reason(error) if self._retry is not None else None
                if reason is None or self._retry is None:
                    raise
                in_doubt = commit_sent and reason in _IN_DOUBT_REASONS
                if in_doubt and not idempotent:
                    if append:
                        raise AppendOutcomeUnknown(
                            "the connection was lost after the COMMIT of an append without "
                            "idempotency_key was sent: the event may or may not have been "
                            "appended, and is not re-sent (read the ledger to find out)"
                        ) from error
                    raise
                attempt += 1
                delay = self._retry.delay(attempt)
                elapsed = time.monotonic() - started
                if elapsed + delay > self._retry.deadline:
                    error.add_note(
                        f"selene_core_tables: gave up after {attempt - 1} retries in "
                        f"{elapsed:.1f} s (RetryPolicy.deadline = {self._retry.deadline} s)"
                    )
                    raise
                with self._retries_lock:
                    self.retries[reason] += 1
                _log.warning(
                    "retrying a call for tenant %r in %.2f s (retry %d, %s, %.1f s elapsed): %s",
                    tenant_id,
                    delay,
                    attempt,
                    reason,
                    elapsed,
                    str(error).strip(),
                )
                resent_after_commit = resent_after_commit or in_doubt
                time.sleep(delay)

    @staticmethod
    def _release_pooler_connection(conn: psycopg.Connection[Any]) -> None:
        """Make a transaction pooler give back the server connection a pipeline left taken.

        psycopg ends a pipeline with a Sync and then a Flush. PgBouncer (1.18) hands
        the server connection back on the Sync's reply, then takes one again for the
        Flush and keeps it for this client until its next statement. One statement
        now gives it back; the batch has committed already, so a failure here (a
        lost connection) is not the batch's, and the pool drops a broken connection.
        """
        with suppress(psycopg.OperationalError):
            conn.execute("SELECT 1", prepare=False)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        source = self._source
        if isinstance(source, ConnectionPool):
            with source.connection() as conn:
                yield conn
        elif isinstance(source, str):
            with self._owned_lock:
                if self._owned is None or self._owned.closed or self._owned.broken:
                    if self._owned is not None:
                        self._owned.close()
                    self._owned = psycopg.connect(
                        source,
                        autocommit=True,
                        prepare_threshold=None if self._prepare is False else 5,
                    )
                yield self._owned
        else:
            yield source

    def append(
        self,
        event: WorkOrderLedgerEventInput,
        *,
        expected_event_count: int | None = None,
        replay_is_error: bool = False,
    ) -> AppendResult:
        """Append one event (OS_WORK_ORDER_LEDGER_APPEND) and return its id.

        An event whose idempotency key and content were appended before returns the
        original id with ``idempotency_replay=True`` and writes nothing but an audit
        row; with ``replay_is_error=True`` that raises :class:`IdempotencyReplay`
        instead (after the transaction, so the replay's audit row is kept). Pass
        ``expected_event_count`` to refuse the append when the work order no longer
        has that many events (another writer got there first).

        Raises TenantScopeViolation or ContractValidationFailed; nothing is written then.
        """
        parameters = _append_parameters(event, expected_event_count)

        def body(conn: psycopg.Connection[Any]) -> AppendResult:
            row = conn.execute(_APPEND_SQL, parameters, prepare=self._prepare).fetchone()
            return AppendResult(*_one(row))

        result, resent_after_commit = self._call(
            event.tenant_id, body, idempotent=event.idempotency_key is not None, append=True
        )
        # A replay seen only because a COMMIT whose answer was lost is re-sent is
        # most likely this call's own first attempt: not an error then.
        if replay_is_error and result.idempotency_replay and not resent_after_commit:
            replay = IdempotencyReplay(
                IdempotencyReplay.reason_code,
                sqlstate=IdempotencyReplay.sqlstate_code,
                detail=(
                    f"idempotency_key {event.idempotency_key!r} of work order "
                    f"{event.work_order_id!r} already names event {result.work_order_event_id}"
                ),
            )
            replay.work_order_event_id = result.work_order_event_id
            raise replay
        return result

    def append_many(self, events: Iterable[WorkOrderLedgerEventInput]) -> list[AppendResult]:
        """Append a batch of one tenant's events in one transaction and one round trip.

        The calls are sent in psycopg's pipeline mode; results come back in the order
        of ``events``, each telling whether it was an idempotent replay. The batch is
        atomic: when the database refuses one event, nothing of the batch is written
        and the error raised carries ``event_index``, the position of that event.

        Raises ValueError (before any round trip) when the events are of more than
        one tenant: the tenant is declared once per transaction.
        """
        batch = list(events)
        if not batch:
            return []
        tenants = sorted({event.tenant_id for event in batch})
        if len(tenants) > 1:
            raise ValueError(f"append_many takes the events of one tenant per batch, got {tenants}")
        parameters = [_append_parameters(event, None) for event in batch]
        cursors: list[psycopg.Cursor[Any]] = []

        def body(conn: psycopg.Connection[Any]) -> list[psycopg.Cursor[Any]]:
            cursors.clear()
            for values in parameters:
                cursor = conn.cursor()
                cursors.append(cursor)
                cursor.execute(_APPEND_SQL, values, prepare=self._prepare)
            return cursors

        try:
            sent, _ = self._call(
                tenants[0],
                body,
                idempotent=all(event.idempotency_key is not None for event in batch),
                append=True,
                pipeline=True,
            )
        except StorageError as error:
            error.event_index = _first_without_result(cursors)
            raise
        return [AppendResult(*_one(cursor.fetchone())) for cursor in sent]

    def current(self, tenant_id: str, work_order_id: str) -> WorkOrderCurrentRecord | None:
        """Return the current record of a work order (OS_WORK_ORDER_CURRENT_READ), or None."""
        rows = self._rows(tenant_id, _CURRENT_SQL, [tenant_id, work_order_id])
        return WorkOrderCurrentRecord.from_row(rows[0]) if rows else None

    def cancel(
        self,
        tenant_id: str,
        work_order_id: str,
        *,
        reason_code: int,
        idempotency_key: str,
        created_at: int,
        turn_id: int,
    ) -> CancelResult:
        """Cancel a work order (WORKORDER_CANCEL): append its WORK_ORDER_CANCELED event.

        The event goes through the append (same contract, idempotency and audit),
        with the work order's own correlation_id. The same ``idempotency_key`` and
        content again returns the first cancel's result and writes only an audit row.

        Raises CancelInvalidState when the work order is already DONE, REFUSED,
        FAILED or CANCELED (and this is not a replay); ContractValidationFailed for a
        bad argument or a work order that does not exist; TenantScopeViolation.
        Nothing is written then.
        """
        for name, value in (
            ("reason_code", reason_code),
            ("created_at", created_at),
            ("turn_id", turn_id),
        ):
            _check_integer(name, value, "bigint")
        # The key is required, so a cancel re-sent after a lost COMMIT replays.
        (row,) = self._rows(
            tenant_id,
            _CANCEL_SQL,
            [tenant_id, work_order_id, reason_code, idempotency_key, created_at, turn_id],
        )
        return CancelResult(
            row["work_order_id"], WorkOrderStatus(row["work_order_status"]), row["last_event_id"]
        )

    def list_pending(
        self,
        tenant_id: str,
        *,
        statuses: Iterable[WorkOrderStatus | str] | None = None,
        updated_after: int | None = None,
        limit: int = 50,
    ) -> list[WorkOrderCurrentRecord]:
        """Return a tenant's newest work orders in a set of statuses (WORKORDER_LIST_PENDING).

        ``statuses`` defaults to the pending ones (DRAFT, CLARIFY, CONFIRM); with
        ``updated_after``, only work orders whose ``last_updated_at`` is after it.
        Newest first (``last_updated_at`` descending, then ``work_order_id``), at most
        ``limit`` (1 to 1000). An empty or unknown status set, or a limit out of
        range, raises ContractValidationFailed.
        """
        params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "updated_after": updated_after,
            "limit": limit,
        }
        sql = _LIST_PENDING_DEFAULT_SQL
        if statuses is not None:
            sql = _LIST_PENDING_STATUSES_SQL
            params["statuses"] = [str(status) for status in statuses]
        return [WorkOrderCurrentRecord.from_row(row) for row in self._rows(tenant_id, sql, params)]

    def ledger_page(
        self,
        tenant_id: str,
        work_order_id: str | None = None,
        *,
        after: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[WorkOrderLedgerEvent]:
        """Return one page of events (OS_WORK_ORDER_LEDGER_READ) with ids above ``after``.

        The events are the tenant's, or one work order's, in event-id order, at most
        ``limit`` (1 to 10000). Pass the last id of a page as ``after`` for the next.
        """
        rows = self._rows(tenant_id, _LEDGER_SQL, [tenant_id, work_order_id, after, limit])
        return [WorkOrderLedgerEvent.from_row(row) for row in rows]

    def ledger(
        self,
        tenant_id: str,
        work_order_id: str | None = None,
        *,
        after: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[WorkOrderLedgerEvent]:
        """Iterate over the events with ids above ``after``, reading page after page.

        Each page is its own short transaction: nothing is held open between pages,
        and events appended while iterating appear in a later page. It stops at the
        first short page: with writers in flight a tenant-wide page ends before an
        event that may still be preceded by an uncommitted one, so call it again
        with ``after`` = the last id seen to read on; it never skips an event.
        """
        while True:
            page = self.ledger_page(tenant_id, work_order_id, after=after, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].work_order_event_id

    def step_attempts(self, tenant_id: str, work_order_id: str) -> list[WorkOrderStepAttempt]:
        """Return every attempt of every step of a work order, in the order they started."""
        rows = self._rows(tenant_id, _STEP_ATTEMPTS_SQL, [tenant_id, work_order_id])
        return [WorkOrderStepAttempt.from_row(row) for row in rows]

    def lease(self, tenant_id: str, work_order_id: str) -> WorkOrderLease | None:
        """Return the lease of a work order, or None when it never carried one."""
        rows = self._rows(tenant_id, _LEASE_SQL, [tenant_id, work_order_id])
        return WorkOrderLease.from_row(rows[0]) if rows else None

    def rebuild(self, tenant_id: str | None = None, *, audit: bool = False) -> RebuildResult:
        """Make the projections equal to the ledger (OS_WORK_ORDER_CURRENT_REBUILD).

        For one tenant, or for every tenant with ``tenant_id=None`` (which needs a
        login role in ``selene_dba``). Online: appends wait only while work orders
        that had drifted are rewritten. With ``audit=True`` it writes one PH1.J audit
        row per tenant. Returns what the projection now holds and what was rewritten.
        """
        # Re-running a rebuild changes nothing more, but would write its audit rows twice.
        (row,) = self._rows(tenant_id, _REBUILD_SQL, [tenant_id, audit], idempotent=not audit)
        return RebuildResult(**row)

    def stats(self, tenant_id: str | None = None) -> list[TenantStats]:
        """Return each tenant's monitoring figures (``os_core.tenant_stats``); [] without events.

        ``tenant_id=None`` (every tenant) needs a login role in ``selene_dba``. Reads
        the ledger's index and the projections once; writes nothing.
        """
        return [TenantStats.from_row(row) for row in self._rows(tenant_id, _STATS_SQL, [tenant_id])]

    def verify(
        self, tenant_id: str | None = None, *, audit: bool = False
    ) -> list[ProjectionDifference]:
        """Return every difference between the projections and the ledger; [] when none.

        Writes nothing, except with ``audit=True`` one PH1.J audit row per tenant.
        ``tenant_id=None`` (every tenant) needs a login role in ``selene_dba``.
        """
        rows = self._rows(tenant_id, _VERIFY_SQL, [tenant_id, audit], idempotent=not audit)
        return [ProjectionDifference.from_row(row) for row in rows]

    def _rows(
        self, tenant_id: str | None, sql: str, params: Any, *, idempotent: bool = True
    ) -> list[dict[str, Any]]:
        """Run one capability query for ``tenant_id`` and return its rows as dicts."""

        def body(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            cursor = conn.cursor(row_factory=dict_row)
            return cursor.execute(sql, params, prepare=self._prepare).fetchall()

        return self._call(tenant_id, body, idempotent=idempotent)[0]


#: The append's integer parameters: a value PostgreSQL would round on its way in
#: (a float 2.5 cast to bigint becomes 2) is refused here instead.
_INTEGER_PARAMETERS = frozenset(
    name for name, sql_type in _APPEND_PARAMETERS if sql_type in ("bigint", "integer", "numeric")
)
_PARAMETER_TYPES = dict(_APPEND_PARAMETERS)

#: The range of each fixed-width SQL integer type. A value outside it cannot even
#: reach the database's contract check (the cast of the argument fails with 22003),
#: so it is refused here, with the contract's code and the field's name.
_SQL_INTEGER_RANGES = {"bigint": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}

#: The contract's payload nesting limit (os_core.work_order_event_contract_violation):
#: no value more than this many levels below the payload object.
PAYLOAD_MAX_DEPTH = 64


def _append_parameters(
    event: WorkOrderLedgerEventInput, expected_event_count: int | None
) -> dict[str, Any]:
    if event.payload is not None:
        _check_payload_depth(event.payload)  # first: json.dumps recurses into it
    values = event.to_dict()
    values["expected_event_count"] = expected_event_count
    for name in _INTEGER_PARAMETERS:
        _check_integer(name, values[name], _PARAMETER_TYPES[name])
    if event.payload is not None:
        try:
            text = _strict_json(values["payload"])
        except (TypeError, ValueError) as error:
            raise _refused_here(f"payload must be a JSON object of JSON values: {error}") from None
        # Serialised once: the text that passed the check is the text sent.
        values["payload"] = Jsonb(values["payload"], dumps=lambda _payload: text)
    return values


def _check_integer(name: str, value: Any, sql_type: str) -> None:
    """Refuse a non-integral number, or one beyond the range of the parameter's SQL type."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, float | Decimal):
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not (finite and value == int(value)):
            raise _refused_here(f"{name} must be an integer, got {value!r}")
    if sql_type in _SQL_INTEGER_RANGES and isinstance(value, int | float | Decimal):
        low, high = _SQL_INTEGER_RANGES[sql_type]
        if not low <= int(value) <= high:
            raise _refused_here(
                f"{name} must be between {low} and {high} (its SQL type, {sql_type}), "
                f"got {int(value)}"
            )


def _check_payload_depth(payload: Any) -> None:
    """Refuse a payload with a value nested deeper than PAYLOAD_MAX_DEPTH levels.

    The database has the same rule; checked here first because json.dumps and
    PostgreSQL's jsonb input both fail on very deep nesting with errors of their
    own (RecursionError, 54001) before the contract is ever checked. Iterative,
    so that the check itself cannot overflow the stack; a cycle counts as too deep.
    """
    pending: list[tuple[Any, int]] = [(payload, 0)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, Mapping):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        for child in children:
            if level + 1 > PAYLOAD_MAX_DEPTH:
                raise _refused_here(
                    f"payload must not nest values more than {PAYLOAD_MAX_DEPTH} levels deep"
                )
            pending.append((child, level + 1))


def _strict_json(value: Any) -> str:
    """JSON text, refusing NaN and Infinity (which json.dumps writes and jsonb refuses)."""
    return json.dumps(value, allow_nan=False)


def _refused_here(detail: str) -> ContractValidationFailed:
    """Refuse, before any round trip, a value the database could not even be sent.

    It carries the contract's SQLSTATE (SE004), as the database's refusal would.
    """
    return ContractValidationFailed(
        ContractValidationFailed.reason_code,
        sqlstate=ContractValidationFailed.sqlstate_code,
        detail=detail,
    )


def _one(row: Sequence[Any] | None) -> Sequence[Any]:
    if row is None:  # the functions always return a row; a None here is a bug
        raise RuntimeError("the capability function returned no row")
    return row


def _first_without_result(cursors: Sequence[psycopg.Cursor[Any]]) -> int | None:
    """Return the position of the first call of a failed pipeline that got no result."""
    for index, cursor in enumerate(cursors):
        result = cursor.pgresult
        if result is None or result.status != pq.ExecStatus.TUPLES_OK:
            return index
    return None
