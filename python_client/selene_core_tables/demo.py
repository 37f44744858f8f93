"""``selene-core-tables demo``: every capability and every failure mode, on two tenants.

Each run uses fresh work-order ids, so it can be run again on the same database.
It checks what it shows: a failure mode that is not refused, a refusal that
wrote something, or a rebuild that changes the projection stops the demo with
:class:`DemoFailed` (and the CLI with a non-zero exit).

It logs in three ways: as the service role (``selene_os``), as the DBA role
(``selene_dba``) for the rebuild, and as a superuser for what only a DBA at
psql would try (UPDATE of the ledger, counting rows across tenants). On the
embedded database each is its own login; with a DSN, that DSN must be a
superuser's and the demo uses ``SET ROLE`` for the other two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import Any

import psycopg
from rich.console import Console
from rich.rule import Rule

from selene_core_tables.database import Database, Login
from selene_core_tables.errors import (
    AppendOnlyViolation,
    CancelInvalidState,
    ContractValidationFailed,
    StorageError,
    TenantScopeViolation,
    storage_errors,
)
from selene_core_tables.records import (
    ProjectionDifference,
    WorkEventType,
    WorkOrderCurrentRecord,
    WorkOrderLedgerEventInput,
    WorkOrderStatus,
)
from selene_core_tables.repository import WorkOrderRepository
from selene_core_tables.tables import (
    current_table,
    differences_table,
    lease_table,
    ledger_table,
    stats_table,
    step_attempts_table,
)

ACME = "acme"
GLOBEX = "globex"
SECOND_NS = 1_000_000_000


class DemoFailed(RuntimeError):
    """The database did not do what the demo shows it doing."""


class _Demo:
    def __init__(self, database: Database, console: Console) -> None:
        self.console = console
        self.admin = database.connect(Login.ADMIN)
        self.app_conn = database.connect(Login.APP)
        self.dba_conn = database.connect(Login.DBA)
        if not database.is_embedded:
            self.app_conn.execute("SET ROLE selene_os")
            self.dba_conn.execute("SET ROLE selene_dba")
        self.app = WorkOrderRepository(self.app_conn)
        self.dba = WorkOrderRepository(self.dba_conn)
        start = time.time_ns()
        self.run_id = format(start, "x")[-7:]
        self.clock = start
        self.correlation = start

    def close(self) -> None:
        for conn in (self.admin, self.app_conn, self.dba_conn):
            conn.close()

    # -- helpers -----------------------------------------------------------------

    def section(self, title: str) -> None:
        self.console.print()
        self.console.print(Rule(title, align="left"))

    def work_order(self, name: str) -> str:
        return f"wo-{self.run_id}-{name}"

    def tick(self) -> int:
        self.clock += SECOND_NS
        return self.clock

    def create(self, tenant: str, name: str, **fields: Any) -> WorkOrderLedgerEventInput:
        self.correlation += 1
        values: dict[str, Any] = {
            "tenant_id": tenant,
            "work_order_id": self.work_order(name),
            "correlation_id": self.correlation,
            "turn_id": 1,
            "event_type": WorkEventType.WORK_ORDER_CREATED,
            "work_order_status": WorkOrderStatus.DRAFT,
            "reason_code": 1,
            "created_at": self.tick(),
            "idempotency_key": f"create-{name}",
        }
        values.update(fields)
        return WorkOrderLedgerEventInput(**values)

    def next(
        self, previous: WorkOrderLedgerEventInput, event_type: str, status: str, **fields: Any
    ) -> WorkOrderLedgerEventInput:
        values: dict[str, Any] = {
            "turn_id": previous.turn_id + 1,
            "event_type": event_type,
            "work_order_status": status,
            "created_at": self.tick(),
            "step_id": None,
            "step_input_hash": None,
            "lease_owner_id": None,
            "lease_token_hash": None,
            "lease_expires_at": None,
            "idempotency_key": None,
            "payload": None,
        }
        values.update(fields)
        return dataclasses.replace(previous, **values)

    def append(self, event: WorkOrderLedgerEventInput) -> int:
        result = self.app.append(event)
        outcome = "replay of event" if result.idempotency_replay else "appended event"
        self.console.print(
            f"  {event.tenant_id}/{event.work_order_id}  {event.event_type:<24}"
            f" {event.work_order_status:<10} → {outcome} {result.work_order_event_id}",
            markup=False,
        )
        return result.work_order_event_id

    def written_rows(self) -> tuple[int, int]:
        """Ledger and audit rows of this run's work orders, across tenants (as superuser)."""
        pattern = f"wo-{self.run_id}-%"
        row = self.admin.execute(
            "SELECT (SELECT count(*) FROM os_core.work_order_ledger WHERE work_order_id LIKE %s),"
            " (SELECT count(*) FROM ph1j.audit_events WHERE work_order_id LIKE %s)",
            [pattern, pattern],
        ).fetchone()
        assert row is not None
        return row[0], row[1]

    def refused(self, attempt: str, call: Callable[[], object], expected: type[Exception]) -> None:
        """Run ``call``, which must be refused with ``expected`` and write nothing."""
        before = self.written_rows()
        self.console.print(f"  [bold]{attempt}[/bold]")
        try:
            with storage_errors():
                call()
        except StorageError as error:
            if not isinstance(error, expected):
                raise DemoFailed(
                    f"{attempt}: expected {expected.__name__}, got {error!r}"
                ) from error
            self.console.print(
                f"    refused: {error.reason_code} [SQLSTATE {error.sqlstate}]",
                style="red",
                markup=False,
            )
            self.console.print(f"    because: {str(error).partition(': ')[2]}", markup=False)
        else:
            raise DemoFailed(f"{attempt}: was not refused")
        if self.written_rows() != before:
            raise DemoFailed(f"{attempt}: was refused but wrote rows")

    def in_tenant(self, tenant: str, sql: str, params: list[Any]) -> Callable[[], object]:
        """Return a call that declares ``tenant`` on the service connection and runs ``sql``."""

        def call() -> object:
            with self.app_conn.transaction():
                self.app_conn.execute("SELECT os_core.set_tenant(%s::text)", [tenant])
                return self.app_conn.execute(sql, params).fetchall()

        return call

    def as_superuser(self, sql: str) -> Callable[[], object]:
        return lambda: self.admin.execute(sql)

    def current_rows(self) -> list[WorkOrderCurrentRecord]:
        rows = self.admin.cursor(row_factory=psycopg.rows.dict_row).execute(
            "SELECT * FROM os_core.work_orders_current WHERE work_order_id LIKE %s"
            " ORDER BY tenant_id, work_order_id",
            [f"wo-{self.run_id}-%"],
        )
        return [WorkOrderCurrentRecord.from_row(row) for row in rows.fetchall()]

    # -- the story ---------------------------------------------------------------

    def run(self, where: str) -> None:
        self.console.print(f"[bold]selene-core-tables demo[/bold] on {where}", markup=True)
        self.console.print(f"run {self.run_id}: tenants {ACME!r} and {GLOBEX!r}", markup=False)
        self.appends()
        self.replay()
        self.reads()
        self.failures()
        self.verify_and_rebuild()
        self.monitoring()
        ledger_rows, audit_rows = self.written_rows()
        self.console.print(
            f"PH1.J audit: {audit_rows} audit rows for {ledger_rows} ledger rows of this run"
            " (one per append and per replay)",
            markup=False,
        )

    def leased(self, event: WorkOrderLedgerEventInput, owner: str) -> WorkOrderLedgerEventInput:
        """``event`` carrying ``owner``'s lease for the next 60 s of its created_at."""
        return dataclasses.replace(
            event,
            lease_owner_id=owner,
            lease_token_hash=hashlib.sha256(f"{owner} secret lease token".encode()).hexdigest(),
            lease_expires_at=event.created_at + 60 * SECOND_NS,
        )

    def appends(self) -> None:
        self.section("OS_WORK_ORDER_LEDGER_APPEND: a work order through its statuses")
        self.created = self.create(ACME, "heatpump", payload={"title": "install a heat pump"})
        self.append(self.created)
        clarify = self.next(
            self.created, "FIELD_SET", "CLARIFY", payload={"fields": {"site": "Berlin"}}
        )
        self.append(clarify)
        confirm = self.next(clarify, "STATUS_CHANGED", "CONFIRM")
        self.append(confirm)
        executing = self.leased(self.next(confirm, "STATUS_CHANGED", "EXECUTING"), "worker-1")
        self.append(executing)
        started = self.next(executing, "STEP_STARTED", "EXECUTING", step_id="survey")
        self.append(started)
        failed = self.next(started, "STEP_FAILED", "EXECUTING", step_id="survey", reason_code=4)
        self.append(failed)
        retried = self.next(failed, "STEP_STARTED", "EXECUTING", step_id="survey")
        self.append(retried)
        finished = self.next(retried, "STEP_FINISHED", "EXECUTING", step_id="survey")
        self.append(finished)
        self.done = self.next(finished, "STATUS_CHANGED", "DONE", idempotency_key="done")
        self.append(self.done)

        self.console.print("  The same work-order id in another tenant is another work order:")
        self.other = self.create(GLOBEX, "heatpump")
        self.append(self.other)
        canceled = self.app.cancel(
            GLOBEX,
            self.other.work_order_id,
            reason_code=7,
            idempotency_key="cancel",
            created_at=self.tick(),
            turn_id=2,
        )
        self.console.print(
            f"  {GLOBEX}/{canceled.work_order_id}  cancel (WORKORDER_CANCEL)"
            f" → {canceled.work_order_status} by event {canceled.last_event_id}",
            markup=False,
        )

        self.console.print("  A batch of three work orders in one round trip (append_many):")
        self.batch = [self.create(GLOBEX, f"batch-{n}") for n in range(1, 4)]
        for event, result in zip(self.batch, self.app.append_many(self.batch), strict=True):
            self.console.print(
                f"  {event.tenant_id}/{event.work_order_id}  → event {result.work_order_event_id}"
                f" (replay: {result.idempotency_replay})",
                markup=False,
            )

    def replay(self) -> None:
        self.section("OS_WORK_ORDER_IDEMPOTENCY_REPLAY: the same event again")
        created = self.created
        first_id = self.app.ledger_page(ACME, created.work_order_id, limit=1)[0].work_order_event_id
        before = self.written_rows()
        replayed = self.app.append(created)
        if not replayed.idempotency_replay or replayed.work_order_event_id != first_id:
            raise DemoFailed(f"the replay returned {replayed}, not event {first_id}")
        after = self.written_rows()
        self.console.print(
            f"  appended {created.idempotency_key!r} again → event {replayed.work_order_event_id},"
            f" idempotency_replay={replayed.idempotency_replay};"
            f" ledger rows {before[0]} → {after[0]}, audit rows {before[1]} → {after[1]}",
            markup=False,
        )

    def reads(self) -> None:
        self.section("OS_WORK_ORDER_CURRENT_READ and OS_WORK_ORDER_LEDGER_READ")
        work_order = self.created.work_order_id
        records = [self.app.current(ACME, work_order), self.app.current(GLOBEX, work_order)]
        self.console.print(current_table([r for r in records if r is not None], "current state"))
        events = list(self.app.ledger(ACME, work_order, page_size=3))
        self.console.print(ledger_table(events, f"ledger of {ACME}/{work_order} (pages of 3)"))
        self.console.print(
            step_attempts_table(self.app.step_attempts(ACME, work_order), "its step attempts")
        )
        lease = self.app.lease(ACME, work_order)
        if lease is not None:
            self.console.print(f"  its lease ({lease.lease_state}, released by DONE):")
            self.console.print(lease_table(lease))
        pending = [
            record
            for record in self.app.list_pending(GLOBEX)
            if record.work_order_id.startswith(f"wo-{self.run_id}-")
        ]
        self.console.print(
            current_table(pending, f"{GLOBEX}'s pending work orders (WORKORDER_LIST_PENDING)")
        )

    def failures(self) -> None:
        self.section("Failure modes: each refused with its reason code, nothing written")
        created, done, other = self.created, self.done, self.other
        self.refused(
            f"{ACME} reads {GLOBEX}'s work order",
            self.in_tenant(
                ACME,
                "SELECT * FROM os_core.work_order_current_read(%s::text, %s::text)",
                [GLOBEX, other.work_order_id],
            ),
            TenantScopeViolation,
        )
        self.refused(
            "a read with no tenant declared",
            lambda: self.app_conn.execute(
                "SELECT * FROM os_core.work_order_current_read(%s::text, %s::text)",
                [ACME, created.work_order_id],
            ),
            TenantScopeViolation,
        )
        self.refused(
            "the service role SELECTs the ledger table directly",
            self.in_tenant(ACME, "SELECT * FROM os_core.work_order_ledger", []),
            TenantScopeViolation,
        )
        self.refused(
            "a superuser UPDATEs the ledger",
            self.as_superuser("UPDATE os_core.work_order_ledger SET reason_code = 2"),
            AppendOnlyViolation,
        )
        self.refused(
            "a superuser DELETEs from the audit trail",
            self.as_superuser("DELETE FROM ph1j.audit_events"),
            AppendOnlyViolation,
        )
        self.refused(
            "an event with reason_code 0",
            lambda: self.app.append(self.create(ACME, "invalid", reason_code=0)),
            ContractValidationFailed,
        )
        self.refused(
            "an idempotency key reused for different content",
            lambda: self.app.append(dataclasses.replace(created, reason_code=99)),
            ContractValidationFailed,
        )
        self.refused(
            "an event after DONE",
            lambda: self.app.append(self.next(done, "STATUS_CHANGED", "EXECUTING")),
            ContractValidationFailed,
        )
        self.refused(
            "a cancel of the DONE work order",
            lambda: self.app.cancel(
                ACME,
                created.work_order_id,
                reason_code=7,
                idempotency_key="cancel-too-late",
                created_at=self.tick(),
                turn_id=99,
            ),
            CancelInvalidState,
        )
        leased = self.leased(self.next(self.batch[0], "STATUS_CHANGED", "EXECUTING"), "worker-1")
        self.app.append(leased)
        self.refused(
            "a STEP_FINISHED of a step that was never started",
            lambda: self.app.append(
                self.next(leased, "STEP_FINISHED", "EXECUTING", step_id="install")
            ),
            ContractValidationFailed,
        )
        taker = self.leased(
            self.next(leased, "STEP_STARTED", "EXECUTING", step_id="install"), "worker-2"
        )
        self.refused(
            "worker-2 takes over worker-1's unexpired lease",
            lambda: self.app.append(taker),
            ContractValidationFailed,
        )

    def this_run(self, differences: list[ProjectionDifference]) -> list[ProjectionDifference]:
        """Keep the differences about this run's work orders (the database may hold older ones)."""
        prefix = f"wo-{self.run_id}-"
        return [d for d in differences if d.work_order_id.startswith(prefix)]

    def verify_and_rebuild(self) -> None:
        self.section("OS_WORK_ORDER_CURRENT_REBUILD and verify: the projections, from the ledger")
        if self.this_run(self.dba.verify()):
            raise DemoFailed("verify found drift in this run before anything was broken")
        self.console.print("  verify: this run's projections agree with the ledger")
        projected = self.current_rows()
        target = self.batch[1].work_order_id
        self.admin.execute(
            "UPDATE os_core.work_orders_current SET turn_id = 99"
            " WHERE tenant_id = %s AND work_order_id = %s",
            [GLOBEX, target],
        )
        self.console.print(f"  a superuser breaks {GLOBEX}/{target} (turn_id = 99); verify finds:")
        differences = self.this_run(self.dba.verify())
        if [(d.work_order_id, d.difference) for d in differences] != [(target, "turn_id")]:
            raise DemoFailed(f"verify found {differences}, not the broken turn_id")
        self.console.print(differences_table(differences))
        result = self.dba.rebuild(audit=True)
        rebuilt = self.current_rows()
        if rebuilt != projected or self.this_run(self.dba.verify()):
            raise DemoFailed(f"the rebuild did not repair the broken row: {result}")
        self.console.print(
            f"  rebuilt {result.work_order_count} work orders of {result.tenant_count} tenants"
            f" from {result.event_count} events, rewriting {result.rewritten_work_order_count}"
            f" that had drifted: this run's {len(rebuilt)} rows are again what the appends made,"
            " and verify is clean",
            markup=False,
        )
        self.console.print(current_table(rebuilt, "current state of this run, after rebuild"))

    def monitoring(self) -> None:
        self.section("tenant_stats: what a DBA watches (every run so far, not only this one)")
        stats = [tenant for tenant in self.dba.stats() if tenant.tenant_id in (ACME, GLOBEX)]
        if [tenant.tenant_id for tenant in stats] != [ACME, GLOBEX] or not all(
            tenant.projection_agrees for tenant in stats
        ):
            raise DemoFailed(f"tenant_stats after the rebuild: {stats}")
        self.console.print(stats_table(stats))


def run_demo(database: Database, console: Console) -> None:
    """Run the demo on ``database``, printing to ``console``; raise DemoFailed if it misbehaves."""
    demo = _Demo(database, console)
    try:
        demo.run(database.describe())
    finally:
        demo.close()
