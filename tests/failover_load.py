"""Writers that append through a failover, the record of what was acknowledged, and the checks.

Shared by the failover suites: tests/test_failover.py (a synchronous standby promoted
with pg_ctl) and any other harness that moves the primary (pg_auto_failover). The
harness owns the servers; this module owns the load and the verdict:

* :class:`FailoverLoad` runs ``writers`` threads that append to their own work orders of
  one tenant through one :class:`WorkOrderRepository` (over a pool or a DSN, so that
  it can retry): writer 0 through ``append_many`` (batches of :data:`BATCH`), the
  others through ``append``, every event with an idempotency key of its own, until
  stopped. Each call's outcome goes to a :class:`LoadRecord`: the event id
  acknowledged (and whether it came back as an idempotent replay, which is how a
  retried append whose first COMMIT was in doubt but had reached the standby
  answers), or the error. A writer that gets an error records it and goes on.
* :func:`check_ledger` reads the tenant's ledger, audit rows and projections on the
  (new) primary and returns :class:`LedgerCheck`: the figures (acknowledged, lost,
  duplicated, ...) and a list of problems: an acknowledged append missing or under
  another id, an idempotency key twice, a row nobody sent, a row that differs from
  what was sent, audit rows that do not match the ledger, ``verify`` finding drift,
  a rebuild rewriting anything or changing a projection row.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.sql_helpers import SENT_FIELDS as FIELDS

TENANT = "failover"
WORK_ORDERS_PER_WRITER = 3
BATCH = 4

PROJECTIONS = (
    ("os_core.work_orders_current", "work_order_id"),
    ("os_core.work_order_step_attempts", "work_order_id, step_id, attempt_index"),
    ("os_core.work_order_leases", "work_order_id"),
)


@dataclass
class Sent:
    """One event a writer sent, and what came of it."""

    fields: dict[str, Any]
    event_id: int | None = None  # the id acknowledged
    replay: bool = False  # acknowledged as an idempotent replay
    acked_at: float | None = None  # time.monotonic() of the acknowledgement
    error: BaseException | None = None  # the call failed (the event is in doubt)


@dataclass
class LoadRecord:
    """Everything the writers sent, by idempotency key, and every error they got."""

    sent: dict[str, Sent] = field(default_factory=dict)
    errors: list[tuple[int, BaseException]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fields: dict[str, Any]) -> Sent:
        with self.lock:
            sent = Sent(fields)
            assert fields["idempotency_key"] not in self.sent, "a key sent twice by the test"
            self.sent[fields["idempotency_key"]] = sent
            return sent

    def acknowledged(self) -> list[Sent]:
        with self.lock:
            return [sent for sent in self.sent.values() if sent.event_id is not None]

    def ack_times(self) -> list[float]:
        return sorted(sent.acked_at for sent in self.acknowledged() if sent.acked_at is not None)

    def acks_after(self, moment: float) -> int:
        return sum(acked > moment for acked in self.ack_times())

    def writers_acked_after(self, moment: float) -> set[int]:
        """The writers (by index) with an acknowledgement after ``moment``."""
        return {
            sent.fields["payload"]["writer"]
            for sent in self.acknowledged()
            if sent.acked_at is not None and sent.acked_at > moment
        }

    def first_ack_after(self, moment: float) -> float | None:
        return next((acked for acked in self.ack_times() if acked > moment), None)

    def longest_gap(self) -> float:
        """The longest time between two acknowledgements (of any writer)."""
        times = self.ack_times()
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


@dataclass
class WorkOrderState:
    correlation_id: int
    created: bool = False
    turn_id: int = 0
    created_at: int = 0


class Writer:
    """One writer thread's work orders and how it appends (``append`` or ``append_many``)."""

    def __init__(self, index: int, tenant: str, record: LoadRecord, *, batch: bool) -> None:
        self.index = index
        self.tenant = tenant
        self.record = record
        self.batch = batch
        self.seq = 0
        self.work_orders = {
            f"w{index}-{number}": WorkOrderState(correlation_id=index * 100 + number + 1)
            for number in range(WORK_ORDERS_PER_WRITER)
        }

    def next_event(self) -> dict[str, Any]:
        """The next event of one of this writer's work orders, and its state moved on."""
        self.seq += 1
        name = sorted(self.work_orders)[self.seq % len(self.work_orders)]
        state = self.work_orders[name]
        state.turn_id += 1
        state.created_at += 1_000
        fields: dict[str, Any] = {
            "tenant_id": self.tenant,
            "work_order_id": name,
            "correlation_id": state.correlation_id,
            "turn_id": state.turn_id,
            "event_type": "FIELD_SET" if state.created else "WORK_ORDER_CREATED",
            "work_order_status": ("DRAFT", "CLARIFY", "CONFIRM", "EXECUTING")[self.seq % 4],
            "reason_code": self.seq,
            "created_at": state.created_at,
            "idempotency_key": f"w{self.index}-{self.seq}",
            "payload": {"writer": self.index, "seq": self.seq},
        }
        state.created = True
        return fields

    def run(self, repo: WorkOrderRepository, stop: threading.Event) -> None:
        """Append until ``stop``; record every acknowledgement and every error."""
        while not stop.is_set():
            size = BATCH if self.batch else 1
            calls = [self.record.add(self.next_event()) for _ in range(size)]
            events = [WorkOrderLedgerEventInput(**sent.fields) for sent in calls]
            try:
                results = repo.append_many(events) if self.batch else [repo.append(events[0])]
            except Exception as error:  # judged by the test: there must be none
                for sent in calls:
                    sent.error = error
                with self.record.lock:
                    self.record.errors.append((self.index, error))
                time.sleep(0.1)
                continue
            acked_at = time.monotonic()
            for sent, result in zip(calls, results, strict=True):
                sent.event_id = result.work_order_event_id
                sent.replay = result.idempotency_replay
                sent.acked_at = acked_at


class FailoverLoad:
    """``writers`` threads appending through ``repo`` until :meth:`stop` or the block's end."""

    def __init__(self, repo: WorkOrderRepository, *, writers: int = 4, tenant: str = TENANT):
        self.record = LoadRecord()
        self.writers = [
            Writer(index, tenant, self.record, batch=index == 0) for index in range(writers)
        ]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=writer.run, args=(repo, self._stop), name=f"writer-{n}", daemon=True
            )
            for n, writer in enumerate(self.writers)
        ]

    def start(self) -> FailoverLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, seconds: float = 60.0) -> None:
        """Let each writer finish its call in flight (retries included) and stop."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=seconds)
        hung = [thread.name for thread in self._threads if thread.is_alive()]
        assert not hung, f"writers still running {seconds} s after stop: {hung}"

    def __enter__(self) -> FailoverLoad:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_for_acks(self, count: int, *, after: float, seconds: float = 60.0) -> None:
        """Wait until ``count`` appends, and one of every writer, were acknowledged after
        ``after`` (monotonic): each writer's call cut off before then has come back."""
        deadline = time.monotonic() + seconds
        everyone = set(range(len(self.writers)))
        while (
            self.record.acks_after(after) < count
            or self.record.writers_acked_after(after) != everyone
        ):
            assert time.monotonic() < deadline, (
                f"{self.record.acks_after(after)} of {count} acknowledgements in {seconds} s, "
                f"from writers {sorted(self.record.writers_acked_after(after))}; "
                f"errors: {self.record.errors[-3:]}"
            )
            time.sleep(0.02)


@dataclass
class LedgerCheck:
    """The verdict of :func:`check_ledger`: figures, and problems (empty when all is well)."""

    acknowledged: int = 0
    acknowledged_as_replay: int = 0
    lost: int = 0
    duplicated: int = 0
    unacknowledged_present: int = 0  # sent, got an error, and in the ledger (at most once)
    ledger_events: int = 0
    replay_audit_rows: int = 0
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, int]:
        return {
            "acknowledged": self.acknowledged,
            "acknowledged as idempotent replay": self.acknowledged_as_replay,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unacknowledged but present": self.unacknowledged_present,
            "ledger events": self.ledger_events,
        }


def _projection_rows(conn: psycopg.Connection, tenant: str) -> dict[str, list[str]]:
    return {
        table: [
            row[0]
            for row in conn.execute(
                f"SELECT t::text FROM {table} AS t WHERE tenant_id = %s ORDER BY {order}",
                [tenant],
            ).fetchall()
        ]
        for table, order in PROJECTIONS
    }


def check_ledger(
    connect: Callable[..., psycopg.Connection], record: LoadRecord, tenant: str = TENANT
) -> LedgerCheck:
    """Compare the tenant's ledger on the primary with ``record``; see the module docstring.

    ``connect(user=None)`` opens an autocommit connection to the primary as the
    superuser, ``connect(user=DBA)`` as a ``selene_dba`` login (for verify and rebuild).
    """
    from tests.conftest import DBA_ROLE  # here, so that importing this module needs no fixtures

    check = LedgerCheck()
    with connect() as su:
        rows = (
            su.cursor(row_factory=dict_row)
            .execute("SELECT * FROM os_core.work_order_ledger WHERE tenant_id = %s", [tenant])
            .fetchall()
        )
        audit = su.execute(
            "SELECT work_order_event_id, outcome, idempotency_key FROM ph1j.audit_events"
            " WHERE tenant_id = %s",
            [tenant],
        ).fetchall()
        before = _projection_rows(su, tenant)

    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(row["idempotency_key"], []).append(row)
    check.ledger_events = len(rows)
    with record.lock:
        sent = dict(record.sent)
    phantom = sorted(set(by_key) - set(sent))
    if phantom:
        check.problems.append(f"{len(phantom)} ledger rows no writer sent: {phantom[:5]}")
    for key, attempt in sent.items():
        found = by_key.get(key, [])
        if len(found) > 1:
            check.duplicated += len(found) - 1
            check.problems.append(f"{key}: {len(found)} ledger rows")
        if attempt.event_id is not None:
            check.acknowledged += 1
            check.acknowledged_as_replay += attempt.replay
            if not found:
                check.lost += 1
                check.problems.append(f"acknowledged append {key} ({attempt.event_id}) lost")
            elif [row["work_order_event_id"] for row in found] != [attempt.event_id]:
                check.problems.append(
                    f"{key} acknowledged as {attempt.event_id}, in the ledger as "
                    f"{[row['work_order_event_id'] for row in found]}"
                )
        elif found:
            check.unacknowledged_present += 1
        for row in found:
            got = {name: row[name] for name in FIELDS}
            if got != {name: attempt.fields[name] for name in FIELDS}:
                check.problems.append(f"{key}: the ledger row differs from what was sent")

    ledger_ids = sorted(row["work_order_event_id"] for row in rows)
    appended = sorted(event_id for event_id, outcome, _ in audit if outcome == "APPENDED")
    if appended != ledger_ids:
        check.problems.append(
            f"audit APPENDED rows ({len(appended)}) differ from the ledger ({len(ledger_ids)})"
        )
    others = {outcome for _, outcome, _ in audit} - {"APPENDED", "OS_WORK_ORDER_IDEMPOTENCY_REPLAY"}
    if others:
        check.problems.append(f"unexpected audit outcomes {sorted(others)}")
    check.replay_audit_rows = sum(
        outcome == "OS_WORK_ORDER_IDEMPOTENCY_REPLAY" for _, outcome, _ in audit
    )

    with connect(user=DBA_ROLE) as dba:
        repo = WorkOrderRepository(dba)
        drift = repo.verify(tenant)
        if drift:
            check.problems.append(f"verify found drift: {drift[:3]}")
        rebuilt = repo.rebuild(tenant)
        if rebuilt.rewritten_work_order_count != 0 or rebuilt.event_count != len(rows):
            check.problems.append(f"the rebuild rewrote or counted otherwise: {rebuilt}")
    with connect() as su:
        after = _projection_rows(su, tenant)
    if after != before:
        check.problems.append("a rebuild changed projection rows")
    return check


def report_and_assert(
    check: LedgerCheck,
    record: LoadRecord,
    repo: WorkOrderRepository,
    *,
    label: str,
    writers: int,
    last_failover_at: float,
    record_property: Callable[[str, object], None],
    **figures: object,
) -> None:
    """Print and record a failover run's figures, then assert its verdict.

    No writer error; every acknowledged append present exactly once, nothing else wrong;
    every writer acknowledged after the last failover; and at least one call retried (a
    failover that cut nothing off proved nothing). ``figures`` add to the printed ones.
    """
    errors = record.errors
    shown = {
        **check.figures(),
        "writer errors": len(errors),
        "retries": dict(repo.retries),
        **figures,
    }
    record_property("failover_figures", json.dumps(shown))
    print(f"\n{label}: {json.dumps(shown)}")

    assert errors == [], f"{len(errors)} writer errors, the first: {errors[0][1]!r}"
    assert check.problems == [], check.problems
    assert check.lost == 0 and check.duplicated == 0
    assert check.acknowledged > 0
    assert record.writers_acked_after(last_failover_at) == set(range(writers))
    assert sum(repo.retries.values()) > 0, "no failover cut a call off: it proved nothing"
