"""The capabilities of SELENE_OS_CORE_TABLES v1 as coroutines of one asyncio repository object.

Each method is one call of an ``os_core`` function inside a transaction that
first declares the tenant with ``os_core.set_tenant``, all sent in one pipeline: one
network round trip per call (two for an append without idempotency key, whose COMMIT
waits for its result). The database does all validation, deduplication, projection
and auditing; this module only sends typed parameters and turns rows into records
and refusals into
:mod:`selene_core_tables.errors` exceptions.

Over a psycopg AsyncConnection, each call runs in ``connection.transaction()``: on its own
when no transaction is open, or as a savepoint of yours when one is, so several
calls can share your transaction::

    repo = AsyncWorkOrderRepository(conn)
    async with conn.transaction():
        await repo.append(created)
        await repo.append(confirmed)   # both or neither

Over a ``psycopg_pool.AsyncConnectionPool``, each call borrows a connection and
commits before returning it; given a connection string, the repository opens
one connection of its own and reopens it when it is lost.

Retries (docs/ha.md): over a pool or a connection string, a call whose outcome
can be retried without harm is re-run on a fresh connection when its connection
is lost, the server shuts down, the server turned out to be a standby after a
failover, or the transaction lost a race (:mod:`selene_core_tables.retry`), with
backoff until the :class:`RetryPolicy` deadline. Those calls are the reads, the
appends and cancels with an idempotency key, and ``append_many`` of keyed events.
An append without key is re-run only when its COMMIT was never sent (so it sends
its COMMIT in a second round trip, once the append succeeded); when the
connection is lost after, it raises :class:`AppendOutcomeUnknown`. A connection
you hand in is never retried: a retry would leave your transaction. Each retry
is logged (logger ``selene_core_tables.retry``, level WARNING) and counted in
``repository.retries``.

This module is the one source of both repositories: ``scripts/generate_sync.py``
writes :mod:`selene_core_tables.repository` (the synchronous WorkOrderRepository)
from it, and a test fails when the two differ. Edit this file, then run the script.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing, asynccontextmanager, suppress
from typing import Any

import psycopg
import psycopg.sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool

from selene_core_tables._acompat import AsyncLock, async_sleep
from selene_core_tables._queries import (
    APPEND_MANY_SQL,
    APPEND_SQL,
    AUDIT_SQL,
    BEGIN_SQL,
    CANCEL_SQL,
    COMMIT_SQL,
    CONSUMER_COMMIT_SQL,
    CONSUMER_POSITION_SQL,
    CONSUMER_STATS_SQL,
    CURRENT_SQL,
    DEFAULT_PAGE_SIZE,
    DEFAULT_POLL_INTERVAL,
    LEASE_SQL,
    LEDGER_SQL,
    LIST_PENDING_DEFAULT_SQL,
    LIST_PENDING_STATUSES_SQL,
    LISTEN_SQL,
    LOCK_TIMEOUT_SQL,
    PAYLOAD_MAX_DEPTH,
    REBUILD_SQL,
    RELEASE_POOLER_SQL,
    RELEASE_SQL,
    ROLLBACK_SQL,
    ROLLBACK_TO_SAVEPOINT_SQL,
    SAVEPOINT_SQL,
    SET_TENANT_SQL,
    STATS_SQL,
    STEP_ATTEMPTS_SQL,
    UNLISTEN_SQL,
    VERIFY_SQL,
    append_parameters,
    batch_document,
    check_integer,
    check_poll_interval,
    check_stream,
    one,
    position_of,
    replay_error,
)
from selene_core_tables.errors import storage_errors
from selene_core_tables.records import (
    AppendResult,
    AuditEvent,
    CancelResult,
    ConsumerStats,
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
    IN_DOUBT_REASONS,
    AppendOutcomeUnknown,
    RetryPolicy,
    retry_reason,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_POLL_INTERVAL",
    "PAYLOAD_MAX_DEPTH",
    "AsyncConsumer",
    "AsyncWorkOrderRepository",
]


_log = logging.getLogger("selene_core_tables.retry")
_follow_log = logging.getLogger("selene_core_tables.follow")


class AsyncWorkOrderRepository:
    """The capabilities over a psycopg AsyncConnection, a ``psycopg_pool`` pool or a DSN.

    Connect as a login role that is a member of ``selene_os`` (services) or
    ``selene_dba`` (rebuilds across tenants). Every method declares its tenant for
    its transaction; none keeps state between calls.

    ``retry`` says how long calls that can be retried safely are re-run after a
    lost connection or a failover (None: never); it applies to a pool or a DSN,
    never to a connection you hand in. ``prepared_statements=False`` never uses
    server-side prepared statements, as PgBouncer's transaction pooling needs.
    A repository over a DSN holds one connection and runs one call at a time
    (tasks take turns); share a pool between tasks instead.
    """

    def __init__(
        self,
        source: psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any] | str,
        *,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (frozen, so shared safely)
        prepared_statements: bool = True,
    ) -> None:
        """Use ``source``: a connection (calls join its transaction), a pool or a DSN."""
        if not isinstance(source, psycopg.AsyncConnection | AsyncConnectionPool | str):
            raise TypeError(
                f"{type(self).__name__} takes a psycopg AsyncConnection, a psycopg_pool "
                f"AsyncConnectionPool or a connection string, not {type(source).__name__}"
            )
        self._source = source
        self._retry = None if isinstance(source, psycopg.AsyncConnection) else retry
        # prepare=None lets psycopg prepare a query run often; False never prepares.
        self._prepare: bool | None = None if prepared_statements else False
        self._owned: psycopg.AsyncConnection[Any] | None = None
        self._owned_lock = AsyncLock()
        # Never held across a wait: the counter may be read from another thread.
        self._retries_lock = threading.Lock()
        #: How many times a call was re-run, by reason (a SQLSTATE, or "connection").
        self.retries: Counter[str] = Counter()

    async def close(self) -> None:
        """Close the connection the repository opened for a DSN (nothing otherwise)."""
        async with self._owned_lock:
            if self._owned is not None:
                await self._owned.close()
                self._owned = None

    async def __aenter__(self) -> AsyncWorkOrderRepository:
        """Use the repository as a context manager that closes it on exit."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the repository's own connection (see :meth:`close`)."""
        await self.close()

    async def _call(
        self,
        tenant_id: str | None,
        sql: str,
        params: Any,
        *,
        idempotent: bool,
        append: bool = False,
        dict_rows: bool = False,
    ) -> tuple[psycopg.AsyncCursor[Any], bool]:
        """Run a call's statement in a transaction that declares ``tenant_id``.

        Returns its cursor, holding its rows (dicts with ``dict_rows``), and whether an
        attempt was re-run after its COMMIT was sent; retries as allowed.
        ``idempotent``: running the whole call twice has the effect of running it
        once. Such a call is one network round trip, re-run after any retryable
        error: on a connection in autocommit with no transaction open (the
        repository's own, or a pool's), the tenant's declaration and the statement
        go as one simple-protocol message, which PostgreSQL runs as one transaction
        (``_one_message``); otherwise BEGIN (or a savepoint in your transaction), the
        declaration, the statement and COMMIT go in one pipeline. Any other call
        takes two: its statement, then the COMMIT once it succeeded, so that it is
        re-run only when its COMMIT was not sent, or was answered with an error; when
        the connection went away after the COMMIT was sent an ``append`` raises
        AppendOutcomeUnknown, anything else its error.
        """
        row_factory = dict_row if dict_rows else tuple_row
        started = time.monotonic()
        attempt = 0
        resent_after_commit = False
        while True:
            commit_sent = False
            try:
                async with self._connection() as conn:
                    with storage_errors():
                        # A transaction of the call's own when none is open (as
                        # psycopg's transaction() does), else a savepoint in yours;
                        # sent by hand, as transaction() syncs the pipeline on entry.
                        own = conn.info.transaction_status == TransactionStatus.IDLE
                        if own and conn.autocommit and idempotent and tenant_id is not None:
                            commit_sent = True  # the message's end commits it
                            cursor = await self._one_message(
                                conn, tenant_id, sql, params, row_factory
                            )
                            return cursor, resent_after_commit
                        try:
                            async with conn.pipeline() as pipeline:
                                if not own:
                                    await conn.execute(SAVEPOINT_SQL, prepare=False)
                                elif conn.autocommit:
                                    await conn.execute(BEGIN_SQL, prepare=False)
                                # (else psycopg sends BEGIN itself before the first statement)
                                if tenant_id is not None:
                                    await conn.execute(
                                        SET_TENANT_SQL, [tenant_id], prepare=self._prepare
                                    )
                                cursor = conn.cursor(row_factory=row_factory)
                                await cursor.execute(sql, params, prepare=self._prepare)
                                if not idempotent:
                                    await pipeline.sync()  # the second round trip
                                commit_sent = True
                                await conn.execute(
                                    COMMIT_SQL if own else RELEASE_SQL, prepare=False
                                )
                        except BaseException:
                            await self._abandon(conn, own=own)
                            raise
                    if self._prepare is False:
                        await self._release_pooler_connection(conn)
                    return cursor, resent_after_commit
            except psycopg.Error as error:
                reason = retry_reason(error) if self._retry is not None else None
                if reason is None or self._retry is None:
                    raise
                in_doubt = commit_sent and reason in IN_DOUBT_REASONS
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
                await async_sleep(delay)

    @staticmethod
    async def _one_message(
        conn: psycopg.AsyncConnection[Any],
        tenant_id: str,
        sql: str,
        params: Any,
        row_factory: Any,
    ) -> psycopg.AsyncCursor[Any]:
        """Declare the tenant and run ``sql`` as one simple-protocol message; its cursor.

        PostgreSQL runs the statements of one Query message as one transaction (an
        implicit one): the declaration, transaction-local, holds for the statement;
        an error in either rolls both back and leaves the connection idle. The
        values are bound by psycopg on the client (``AsyncClientCursor``), each cast
        by the statement to its parameter's type. Against a pipeline of BEGIN, the
        declaration, the statement and COMMIT it saves the client half its work per
        call (one message and one wait for the answer instead of four of each) and
        leaves no pipeline Flush for a transaction pooler to answer.
        """
        cursor = psycopg.AsyncClientCursor(conn, row_factory=row_factory)
        text = cursor.mogrify(SET_TENANT_SQL, [tenant_id]) + ";\n" + cursor.mogrify(sql, params)
        await cursor.execute(text)
        cursor.nextset()
        return cursor

    @staticmethod
    async def _abandon(conn: psycopg.AsyncConnection[Any], *, own: bool) -> None:
        """Roll back a failed call (its transaction, or its savepoint in yours), forget prepares.

        A failed pipeline leaves the transaction aborted (the statements after the
        error were skipped, COMMIT included), and may leave psycopg believing in
        statements whose Parse was skipped with them: psycopg's own transaction()
        forgets them on rollback, and so does this. Nothing to do on a lost connection.
        """
        if conn.closed or conn.broken:
            return
        # A rollback that fails (the caller's transaction was aborted before the call)
        # must not hide the call's own error.
        with suppress(psycopg.Error):
            if conn.info.transaction_status != TransactionStatus.IDLE:
                if own:
                    await conn.execute(ROLLBACK_SQL, prepare=False)
                else:
                    await conn.execute(ROLLBACK_TO_SAVEPOINT_SQL, prepare=False)
                    await conn.execute(RELEASE_SQL, prepare=False)
            if conn.info.transaction_status != TransactionStatus.INERROR:
                # psycopg's cache of prepared statements has no public reset; this is
                # what its transaction() runs on rollback (a DEALLOCATE ALL).
                prepared = conn._prepared
                if prepared.clear():
                    await conn.wait(prepared.maintain_gen(conn))

    @staticmethod
    async def _release_pooler_connection(conn: psycopg.AsyncConnection[Any]) -> None:
        """Make a transaction pooler give back the server connection a pipeline left taken.

        psycopg ends a pipeline with a Sync and then a Flush. PgBouncer (1.18) hands
        the server connection back on the Sync's reply, then takes one again for the
        Flush and keeps it for this client until its next statement. One statement
        now gives it back; the batch has committed already, so a failure here (a
        lost connection) is not the batch's, and the pool drops a broken connection.
        """
        with suppress(psycopg.OperationalError):
            await conn.execute(RELEASE_POOLER_SQL, prepare=False)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        source = self._source
        if isinstance(source, AsyncConnectionPool):
            async with source.connection() as conn:
                yield conn
        elif isinstance(source, str):
            async with self._owned_lock:
                if self._owned is None or self._owned.closed or self._owned.broken:
                    if self._owned is not None:
                        await self._owned.close()
                    self._owned = await psycopg.AsyncConnection.connect(
                        source,
                        autocommit=True,
                        prepare_threshold=None if self._prepare is False else 5,
                    )
                yield self._owned
        else:
            yield source

    async def append(
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
        parameters = append_parameters(event, expected_event_count)

        cursor, resent_after_commit = await self._call(
            event.tenant_id,
            APPEND_SQL,
            parameters,
            idempotent=event.idempotency_key is not None,
            append=True,
        )
        result = AppendResult(*one(await cursor.fetchone()))
        # A replay seen only because a COMMIT whose answer was lost is re-sent is
        # most likely this call's own first attempt: not an error then.
        if replay_is_error and result.idempotency_replay and not resent_after_commit:
            raise replay_error(event, result)
        return result

    async def append_many(self, events: Iterable[WorkOrderLedgerEventInput]) -> list[AppendResult]:
        """Append a batch of one tenant's events in one transaction and one round trip.

        One call of ``os_core.work_order_ledger_append_many``, which validates, writes
        and projects the whole batch in a few statements. Results come back in the
        order of ``events``, each telling whether it was an idempotent replay, and are
        those of appending the events one by one. The batch is atomic: when the
        database refuses one event, nothing of the batch is written and the error
        raised (the single append's) carries ``event_index``, the position of the
        first event refused.

        Raises ValueError (before any round trip) when the events are of more than
        one tenant: the tenant is declared once per transaction.
        """
        batch = list(events)
        if not batch:
            return []
        tenants = sorted({event.tenant_id for event in batch})
        if len(tenants) > 1:
            raise ValueError(f"append_many takes the events of one tenant per batch, got {tenants}")
        document = batch_document(batch)

        cursor, _ = await self._call(
            tenants[0],
            APPEND_MANY_SQL,
            [tenants[0], document],
            idempotent=all(event.idempotency_key is not None for event in batch),
            append=True,
        )
        return [AppendResult(event_id, replay) for _, event_id, replay in await cursor.fetchall()]

    async def current(self, tenant_id: str, work_order_id: str) -> WorkOrderCurrentRecord | None:
        """Return the current record of a work order (OS_WORK_ORDER_CURRENT_READ), or None."""
        rows = await self._rows(tenant_id, CURRENT_SQL, [tenant_id, work_order_id])
        return WorkOrderCurrentRecord.from_row(rows[0]) if rows else None

    async def cancel(
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
            check_integer(name, value, "bigint")
        # The key is required, so a cancel re-sent after a lost COMMIT replays.
        (row,) = await self._rows(
            tenant_id,
            CANCEL_SQL,
            [tenant_id, work_order_id, reason_code, idempotency_key, created_at, turn_id],
        )
        return CancelResult(
            row["work_order_id"], WorkOrderStatus(row["work_order_status"]), row["last_event_id"]
        )

    async def list_pending(
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
        sql = LIST_PENDING_DEFAULT_SQL
        if statuses is not None:
            sql = LIST_PENDING_STATUSES_SQL
            params["statuses"] = [str(status) for status in statuses]
        rows = await self._rows(tenant_id, sql, params)
        return [WorkOrderCurrentRecord.from_row(row) for row in rows]

    async def ledger_page(
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
        rows = await self._rows(tenant_id, LEDGER_SQL, [tenant_id, work_order_id, after, limit])
        return [WorkOrderLedgerEvent.from_row(row) for row in rows]

    async def ledger(
        self,
        tenant_id: str,
        work_order_id: str | None = None,
        *,
        after: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[WorkOrderLedgerEvent]:
        """Iterate over the events with ids above ``after``, reading page after page.

        Each page is its own short transaction: nothing is held open between pages,
        and events appended while iterating appear in a later page. It stops at the
        first short page: with writers in flight a tenant-wide page ends before an
        event that may still be preceded by an uncommitted one, so call it again
        with ``after`` = the last id seen to read on; it never skips an event.
        """
        while True:
            page = await self.ledger_page(tenant_id, work_order_id, after=after, limit=page_size)
            for event in page:
                after = event.work_order_event_id
                yield event
            if len(page) < page_size:
                return

    def follow(
        self,
        tenant_id: str,
        *,
        after_event_id: int = 0,
        work_order_id: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        page_size: int = DEFAULT_PAGE_SIZE,
        notify: bool = False,
    ) -> AsyncIterator[WorkOrderLedgerEvent]:
        """Iterate over every event after ``after_event_id``, then wait for more, endlessly.

        Yields the tenant's events (or one work order's, with ``work_order_id``) in
        event-id order, each exactly once, and when it has caught up waits for the
        next ones, until you stop iterating. It reads with :meth:`ledger_page`,
        page after page (each a short transaction of its own, retried as every read
        is, so a follower over a pool or a DSN survives a failover), until a page
        comes back short; then it waits ``poll_interval`` seconds (default 0.5, at
        most 60) and reads on from the last id it yielded. Nothing is held open
        while you handle an event, except the listening connection below.

        It never passes over an event still to commit: a tenant-wide page ends before
        an event that an uncommitted transaction could still precede, and the
        follower reads it later. So **a long or idle transaction that holds an
        event id open delays the follower** (it yields nothing past that event's
        position, however many later events commit) **until that transaction
        ends**; any transaction of the cluster that had written something (holds
        a transaction id) when a later event's id was drawn counts. Bound it with
        ``idle_in_transaction_session_timeout`` (and ``statement_timeout`` for
        long statements); PostgreSQL 15 has no ``transaction_timeout``.

        ``notify=True`` LISTENs on channel ``ph1j_audit`` on a connection of its
        own (a connection of the pool, held while the follower runs, or one more
        connection to the DSN) and wakes on a notification, or after
        ``poll_interval`` at the latest: the appends NOTIFY only in sessions with
        the setting ``selene.audit_notify`` on (``ALTER ROLE ... SET``), and a page
        held back by an uncommitted event yields its successors only when that
        one commits. A lost listening connection is opened again at the next wait,
        polling meanwhile. Over a connection you hand in, ``notify`` is refused. On
        Citus the appends NOTIFY on a worker, so a follower there only polls.

        Stop it with ``break``, or close it to release its connections at once
        (``await follower.aclose()``, ``async with contextlib.aclosing(...)``);
        cancelling the task that iterates releases them as well.

        Raises ValueError for a ``poll_interval`` out of range, or ``notify=True``
        over a connection; ContractValidationFailed (a non-integral or out-of-range
        ``after_event_id`` or ``page_size`` here, a negative ``after_event_id`` or
        a ``page_size`` outside 1-10000 at the first read) and TenantScopeViolation
        as :meth:`ledger_page` does.
        """
        check_poll_interval(poll_interval)
        check_integer("after_event_id", after_event_id, "bigint")
        check_integer("page_size", page_size, "integer")
        if notify and isinstance(self._source, psycopg.AsyncConnection):
            raise ValueError(
                "follow(notify=True) listens on a connection of its own: build the "
                "repository over a pool or a connection string, not a connection"
            )
        wakeup = _Wakeup(self._source, poll_interval, listen=notify)
        return self._follow(tenant_id, work_order_id, after_event_id, page_size, wakeup)

    async def audit_page(
        self, tenant_id: str, *, after: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[AuditEvent]:
        """Return one page of the tenant's PH1.J audit rows (``os_core.audit_read``).

        The rows with ids above ``after``, in id order, at most ``limit`` (1 to 10000):
        appends, idempotent replays, and rebuilds and verifies run with ``audit=True``.
        Like a tenant-wide ledger page, a page ends before a row that a transaction
        still in flight could precede; pass its last id as ``after`` for the next.
        """
        rows = await self._rows(tenant_id, AUDIT_SQL, [tenant_id, after, limit])
        return [AuditEvent.from_row(row) for row in rows]

    def follow_audit(
        self,
        tenant_id: str,
        *,
        after_audit_event_id: int = 0,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        page_size: int = DEFAULT_PAGE_SIZE,
        notify: bool = False,
    ) -> AsyncIterator[AuditEvent]:
        """Iterate over every PH1.J audit row after ``after_audit_event_id``, then wait for more.

        :meth:`follow` for the audit trail: it yields the tenant's audit rows
        (:class:`AuditEvent`) in id order, each exactly once, reading with
        :meth:`audit_page`, and waits ``poll_interval`` or for a notification when
        caught up. It never passes over an audit row still to commit, so a long or
        idle transaction that wrote one (an append, a replay, or a rebuild or verify
        with ``audit=True``) delays it until that transaction ends, as for
        :meth:`follow`. ``notify=True`` wakes on the appends' and replays'
        notifications; a rebuild's or verify's row sends none and comes at the next
        poll. Raises as :meth:`follow` does.
        """
        check_poll_interval(poll_interval)
        check_integer("after_audit_event_id", after_audit_event_id, "bigint")
        check_integer("page_size", page_size, "integer")
        if notify and isinstance(self._source, psycopg.AsyncConnection):
            raise ValueError(
                "follow_audit(notify=True) listens on a connection of its own: build the "
                "repository over a pool or a connection string, not a connection"
            )
        wakeup = _Wakeup(self._source, poll_interval, listen=notify)
        return self._follow(tenant_id, None, after_audit_event_id, page_size, wakeup, "audit")

    async def _follow(
        self,
        tenant_id: str,
        work_order_id: str | None,
        after: int,
        page_size: int,
        wakeup: _Wakeup,
        stream: str = "ledger",
        consumer: AsyncConsumer | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Page, yield, wait, and again: the loop of follow, follow_audit and the consumers."""
        try:
            # LISTEN before the first read: an append committed after it wakes the follower.
            await wakeup.listen()
            while True:
                if consumer is not None:
                    # A consumer reads a page, and its caller handles it, under its claim.
                    after = await consumer._claim(after)
                page: list[Any]
                if stream == "audit":
                    page = await self.audit_page(tenant_id, after=after, limit=page_size)
                else:
                    page = await self.ledger_page(
                        tenant_id, work_order_id, after=after, limit=page_size
                    )
                for event in page:
                    if consumer is not None and await consumer._claim(after) != after:
                        break  # another instance went on meanwhile: read after its position
                    after = position_of(event)
                    yield event
                else:
                    if len(page) < page_size:
                        if consumer is not None:
                            await consumer._release()  # never wait holding the claim
                        await wakeup.wait()
        finally:
            if consumer is not None:
                await consumer._release()
            await wakeup.close()

    def consumer(
        self,
        tenant_id: str,
        name: str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        page_size: int = DEFAULT_PAGE_SIZE,
        notify: bool = False,
        lock_timeout: float | None = None,
        stream: str = "ledger",
    ) -> AsyncConsumer:
        """Return the durable consumer ``name`` of the tenant's ledger (:class:`AsyncConsumer`).

        Iterating it yields the events after its committed position
        (``os_core.consumer_position``), as :meth:`follow` does (``poll_interval``,
        ``page_size`` and ``notify`` are follow's), and :meth:`AsyncConsumer.commit`
        moves the position (``os_core.consumer_commit``). One instance of a named
        consumer works at a time: a second one waits for the first one's transaction
        to end, or with ``lock_timeout`` (seconds) raises psycopg's LockNotAvailable
        (55P03) once that has passed. ``stream="audit"`` makes it a consumer of the
        PH1.J audit trail instead (a PH1.J shipper): it yields :class:`AuditEvent`
        rows as :meth:`follow_audit` does, and commits audit ids; a ledger consumer
        and an audit consumer of the same name are two consumers. Raises ValueError
        (an unknown stream too) and ContractValidationFailed as follow does.
        """
        check_stream(stream)
        check_poll_interval(poll_interval)
        check_integer("page_size", page_size, "integer")
        if notify and isinstance(self._source, psycopg.AsyncConnection):
            raise ValueError(
                "consumer(notify=True) listens on a connection of its own: build the "
                "repository over a pool or a connection string, not a connection"
            )
        wakeup = _Wakeup(self._source, poll_interval, listen=notify)
        return AsyncConsumer(
            self,
            tenant_id,
            name,
            page_size=page_size,
            wakeup=wakeup,
            lock_timeout=lock_timeout,
            stream=stream,
        )

    async def consumer_stats(self, tenant_id: str) -> list[ConsumerStats]:
        """Return each durable consumer of the tenant, its position and its lag.

        One :class:`ConsumerStats` per consumer of either stream
        (``os_core.consumer_stats``), ordered by stream and name: its committed
        position, the stream's last id and ``pending_events``, the number of the
        tenant's events (or audit rows) after the position. A consumer appears once
        it has committed a position (0 included). Writes and locks nothing.
        """
        rows = await self._rows(tenant_id, CONSUMER_STATS_SQL, [tenant_id])
        return [ConsumerStats.from_row(row) for row in rows]

    async def step_attempts(self, tenant_id: str, work_order_id: str) -> list[WorkOrderStepAttempt]:
        """Return every attempt of every step of a work order, in the order they started."""
        rows = await self._rows(tenant_id, STEP_ATTEMPTS_SQL, [tenant_id, work_order_id])
        return [WorkOrderStepAttempt.from_row(row) for row in rows]

    async def lease(self, tenant_id: str, work_order_id: str) -> WorkOrderLease | None:
        """Return the lease of a work order, or None when it never carried one."""
        rows = await self._rows(tenant_id, LEASE_SQL, [tenant_id, work_order_id])
        return WorkOrderLease.from_row(rows[0]) if rows else None

    async def rebuild(self, tenant_id: str | None = None, *, audit: bool = False) -> RebuildResult:
        """Make the projections equal to the ledger (OS_WORK_ORDER_CURRENT_REBUILD).

        For one tenant, or for every tenant with ``tenant_id=None`` (which needs a
        login role in ``selene_dba``). Online: appends wait only while work orders
        that had drifted are rewritten. With ``audit=True`` it writes one PH1.J audit
        row per tenant. Returns what the projection now holds and what was rewritten.
        """
        # Re-running a rebuild changes nothing more, but would write its audit rows twice.
        (row,) = await self._rows(tenant_id, REBUILD_SQL, [tenant_id, audit], idempotent=not audit)
        return RebuildResult(**row)

    async def stats(self, tenant_id: str | None = None) -> list[TenantStats]:
        """Return each tenant's monitoring figures (``os_core.tenant_stats``); [] without events.

        ``tenant_id=None`` (every tenant) needs a login role in ``selene_dba``. Reads
        the ledger's index and the projections once; writes nothing.
        """
        rows = await self._rows(tenant_id, STATS_SQL, [tenant_id])
        return [TenantStats.from_row(row) for row in rows]

    async def verify(
        self, tenant_id: str | None = None, *, audit: bool = False
    ) -> list[ProjectionDifference]:
        """Return every difference between the projections and the ledger; [] when none.

        Writes nothing, except with ``audit=True`` one PH1.J audit row per tenant.
        ``tenant_id=None`` (every tenant) needs a login role in ``selene_dba``.
        """
        rows = await self._rows(tenant_id, VERIFY_SQL, [tenant_id, audit], idempotent=not audit)
        return [ProjectionDifference.from_row(row) for row in rows]

    async def _rows(
        self, tenant_id: str | None, sql: str, params: Any, *, idempotent: bool = True
    ) -> list[dict[str, Any]]:
        """Run one capability query for ``tenant_id`` and return its rows as dicts."""
        cursor, _ = await self._call(tenant_id, sql, params, idempotent=idempotent, dict_rows=True)
        return await cursor.fetchall()


class AsyncConsumer:
    """A durable consumer of a tenant's ledger or audit trail: what follows its position.

    Build it with :meth:`AsyncWorkOrderRepository.consumer`; use it as a context
    manager (or call :meth:`close`)::

        async with repo.consumer("tenant-a", "projector") as consumer:
            async for event in consumer:
                await consumer.connection.execute(...)  # effects, in its transaction
                await consumer.commit(event.work_order_event_id)

    It works in transactions of its own on one connection, :attr:`connection`: the
    repository's when it was built over a connection (yours), else one it takes from
    the pool or opens on the DSN for its life. Each transaction declares the tenant
    and first claims the consumer (``os_core.consumer_position``, whose lock lasts
    until the transaction ends); the events read and handled in it are those after
    the committed position. :meth:`commit` writes the new position in that
    transaction and COMMITs it, with whatever you did on :attr:`connection`
    meanwhile: effects in this database are kept exactly once, with the position;
    effects elsewhere, done before the commit, at least once. Commit after each
    event, or after the last of a batch.

    Before it waits for more events, and when it is closed, it rolls back a
    transaction not committed, effects included. It never waits holding the claim,
    so a second instance of the same consumer takes turns with it: it claims the
    consumer whenever this one is between transactions, and this one then goes on
    after the position the other committed. A consumer restarted after a crash
    starts after its last committed position. Open no transaction blocks of your own
    on :attr:`connection` around the iteration or a commit.
    """

    def __init__(
        self,
        repository: AsyncWorkOrderRepository,
        tenant_id: str,
        name: str,
        *,
        page_size: int,
        wakeup: _Wakeup,
        lock_timeout: float | None,
        stream: str = "ledger",
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        #: What it follows: ``ledger`` (work-order events) or ``audit`` (PH1.J audit rows).
        self.stream = stream
        #: The committed position, as this instance last read or wrote it (0: none yet).
        self.position = 0
        self._repository = repository
        self._page_size = page_size
        self._wakeup = wakeup
        self._lock_timeout = None if lock_timeout is None else f"{int(lock_timeout * 1000)}ms"
        source = repository._source
        self._conn = source if isinstance(source, psycopg.AsyncConnection) else None
        self._holding = False
        self._events: AsyncGenerator[Any, None] | None = None

    @property
    def connection(self) -> psycopg.AsyncConnection[Any] | None:
        """The connection of the consumer's transactions (None before it first reads)."""
        return self._conn

    def __aiter__(self) -> AsyncIterator[Any]:
        """Return the events (or audit rows) after the position, in id order, then each new one."""
        if self._events is None:
            self._events = self._follow()
        return self._events

    async def __aenter__(self) -> AsyncConsumer:
        """Use the consumer as a context manager that closes it on exit."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the consumer (see :meth:`close`)."""
        await self.close()

    async def commit(self, event_id: int) -> int:
        """Make ``event_id`` the consumer's position and COMMIT its transaction; return it.

        ``event_id`` is the id of the last event handled (of an audit consumer, the
        ``audit_event_id`` of the last audit row). The position is written in
        the consumer's transaction (claiming the consumer first when none is open),
        with the effects done on :attr:`connection`, and committed with them.
        Raises ContractValidationFailed for a position behind the committed one or
        past the last event, TenantScopeViolation; nothing is written then.
        """
        check_integer("event_id", event_id, "bigint")
        await self._claim(0)
        conn = self._conn
        assert conn is not None
        try:
            with storage_errors():
                await conn.execute(
                    CONSUMER_COMMIT_SQL, [self.tenant_id, self.name, event_id, self.stream]
                )
                await conn.commit()
        except BaseException:
            await self._release()
            raise
        self._holding = False
        self.position = event_id
        return event_id

    async def close(self) -> None:
        """Stop following, roll back a transaction not committed, give back the connection."""
        if self._events is not None:
            await self._events.aclose()
        await self._release()
        conn, source = self._conn, self._repository._source
        if conn is not None and not isinstance(source, psycopg.AsyncConnection):
            self._conn = None
            if isinstance(source, AsyncConnectionPool):
                await source.putconn(conn)
            else:
                await conn.close()

    async def _follow(self) -> AsyncGenerator[Any, None]:
        """Follow's own loop, over a repository on the consumer's connection."""
        reader = AsyncWorkOrderRepository(
            await self._connect(),
            prepared_statements=self._repository._prepare is not False,
        )
        follower = reader._follow(
            self.tenant_id, None, 0, self._page_size, self._wakeup, self.stream, self
        )
        async with aclosing(follower) as events:
            async for event in events:
                yield event

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            source = self._repository._source
            if isinstance(source, AsyncConnectionPool):
                self._conn = await source.getconn()
            else:
                assert isinstance(source, str)
                self._conn = await psycopg.AsyncConnection.connect(
                    source,
                    autocommit=True,
                    prepare_threshold=None if self._repository._prepare is False else 5,
                )
        return self._conn

    async def _claim(self, after: int) -> int:
        """Open a transaction that holds the consumer, unless one is; return where to read on.

        That is ``after``, or the committed position when another instance moved it
        past ``after`` while this one was between transactions.
        """
        if not self._holding:
            conn = await self._connect()
            try:
                with storage_errors():
                    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                        await conn.execute("BEGIN")
                    self._holding = True
                    await conn.execute(SET_TENANT_SQL, [self.tenant_id])
                    if self._lock_timeout is not None:
                        await conn.execute(
                            LOCK_TIMEOUT_SQL.format(psycopg.sql.Literal(self._lock_timeout))
                        )
                    cursor = await conn.execute(
                        CONSUMER_POSITION_SQL, [self.tenant_id, self.name, self.stream]
                    )
                    (self.position,) = one(await cursor.fetchone())
            except psycopg.errors.LockNotAvailable as error:
                error.add_note(
                    f"selene_core_tables: consumer {self.name!r} of tenant {self.tenant_id!r} "
                    f"is held by another instance (waited lock_timeout = {self._lock_timeout})"
                )
                await self._release()
                raise
            except BaseException:
                await self._release()
                raise
        return max(after, self.position)

    async def _release(self) -> None:
        """Roll back the consumer's open transaction, if any, ending its claim."""
        if not self._holding:
            return
        self._holding = False
        conn = self._conn
        if conn is not None and not conn.closed:
            with suppress(psycopg.Error):
                await conn.rollback()


class _Wakeup:
    """A follower's wait between reads: ``poll_interval``, or until a NOTIFY on ph1j_audit.

    With ``listen``, it holds a connection of its own (borrowed from the pool, or
    opened on the DSN) that LISTENs; a notification ends the wait early, and all
    that arrived by then are consumed with it (the read that follows covers them).
    """

    def __init__(
        self,
        source: psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any] | str,
        poll_interval: float,
        *,
        listen: bool,
    ) -> None:
        self._source = source
        self._poll_interval = poll_interval
        self._listen = listen
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def listen(self) -> bool:
        """LISTEN on a connection of its own, unless it does already; True when it began now.

        A failure (no connection to be had) is logged, and the wait polls instead
        until the next attempt.
        """
        if not self._listen or self._conn is not None:
            return False
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            if isinstance(self._source, AsyncConnectionPool):
                conn = await self._source.getconn()
            else:
                assert isinstance(self._source, str)
                conn = await psycopg.AsyncConnection.connect(self._source, autocommit=True)
            await conn.execute(LISTEN_SQL)
            if not conn.autocommit:
                await conn.commit()  # notifications come only outside a transaction
        except psycopg.Error as error:
            _follow_log.warning("cannot LISTEN, polling until the next wait: %s", error)
            if conn is not None:
                await self._release(conn)
            return False
        self._conn = conn
        return True

    async def wait(self) -> None:
        """Return after ``poll_interval`` seconds, or as soon as a notification comes."""
        if await self.listen():
            return  # listening again after a loss: read first, a notification may be missed
        conn = self._conn
        if conn is None:
            await async_sleep(self._poll_interval)
            return
        try:
            async for _ in conn.notifies(timeout=self._poll_interval, stop_after=1):
                pass
            async for _ in conn.notifies(timeout=0):
                pass  # the rest of those that came already: one read covers them all
        except psycopg.OperationalError as error:
            # The listening connection is lost (a failover): the read that follows
            # retries on its own; the next wait listens again.
            _follow_log.warning("the LISTEN connection was lost: %s", error)
            self._conn = None
            await self._release(conn)

    async def close(self) -> None:
        """Stop listening and give back (or close) the listening connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._release(conn)

    async def _release(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if isinstance(self._source, AsyncConnectionPool):
            # A pooled connection goes back clean; a broken one the pool discards.
            with suppress(psycopg.Error):
                if not conn.broken and not conn.closed:
                    await conn.execute(UNLISTEN_SQL)
                    if not conn.autocommit:
                        await conn.commit()
            await self._source.putconn(conn)
        else:
            with suppress(psycopg.Error):
                await conn.close()
