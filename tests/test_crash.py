"""Crash: kill -9 of the postmaster under a load of appends, restart, and nothing is lost.

The test starts its own server (an :class:`EmbeddedCluster` in the ``home`` fixture: fsync,
synchronous_commit and full_page_writes on, as it always runs), never the session
server of conftest.py. Each cycle:

1. writers append as ``selene_app`` (the embedded cluster's ``selene_os`` login) to their own
   work orders, every append with an idempotency key of its own, by three paths: SQL with
   explicit ``BEGIN`` / ``COMMIT``, ``WorkOrderRepository.append`` and ``append_many``;
2. at a random moment the postmaster gets SIGKILL (every other cycle, each of its backends
   too, at once, as in a machine crash); the writers' connections die;
3. once the old backends are gone, the cluster restarts (crash recovery);
4. every append the client saw acknowledged (the result *and* the ``COMMIT`` returned) is
   in the ledger exactly once, as sent; an append whose statement failed before ``COMMIT``
   was sent is not; one whose ``COMMIT`` got no answer is there at most once, as sent; no
   ledger row comes from anywhere else; the audit table has exactly one ``APPENDED`` row
   per ledger event (so one per acknowledged append); verify finds no drift and a rebuild
   rewrites nothing and changes no projection row;
5. the next cycle's appends (or, after the last, one more per work order) go through.

A process crash keeps what the kernel already holds: this proves that an acknowledged
commit is in the WAL and replayed, and that recovery leaves ledger, projections and audit
consistent. It does not simulate a power loss (that is what fsync is for).

``SELENE_LONG=1`` runs more cycles.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from selene_core_tables.embedded import APP_LOGIN, DBA_LOGIN, EmbeddedCluster
from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.sql_helpers import SENT_FIELDS as FIELDS
from tests.sql_helpers import append, commit_above_an_unlogged_xid, set_tenant

LONG = os.environ.get("SELENE_LONG") == "1"
CYCLES = 20 if LONG else 5
WRITERS = 6  # two per path: SQL, append, append_many
WORK_ORDERS_PER_WRITER = 4
BATCH = 4
KILL_AFTER = (0.3, 1.2)  # seconds of load before the kill, drawn uniformly
TENANT = "crash"

pytestmark = pytest.mark.timeout(900 if LONG else 180)

ACKED = "acknowledged"
IN_DOUBT = "in doubt"  # COMMIT sent (or the whole call failed somewhere): 0 or 1 times
NOT_COMMITTED = "not committed"  # failed before COMMIT was sent: must be absent


@dataclass
class WorkOrderState:
    correlation_id: int
    created: bool = False
    turn_id: int = 0
    created_at: int = 0


@dataclass
class Attempt:
    fields: dict[str, Any]
    outcome: str = NOT_COMMITTED


@dataclass
class CycleFigures:
    acknowledged: int = 0
    in_doubt: int = 0
    not_committed: int = 0
    in_doubt_present: int = 0
    ledger_events_after: int = 0  # in the ledger after the cycle, all cycles so far


@dataclass
class Writer:
    index: int
    work_orders: dict[str, WorkOrderState]
    attempts: list[Attempt] = field(default_factory=list)
    error: BaseException | None = None
    seq: int = 0

    @property
    def path(self) -> str:
        return ("sql", "append", "append_many")[self.index % 3]

    def next_event(self, cycle: int) -> dict[str, Any]:
        """The next event of one of this writer's work orders, and its state moved on."""
        self.seq += 1
        name = sorted(self.work_orders)[self.seq % len(self.work_orders)]
        state = self.work_orders[name]
        state.turn_id += 1
        state.created_at += 1_000
        fields: dict[str, Any] = {
            "tenant_id": TENANT,
            "work_order_id": name,
            "correlation_id": state.correlation_id,
            "turn_id": state.turn_id,
            "event_type": "FIELD_SET" if state.created else "WORK_ORDER_CREATED",
            "work_order_status": ("DRAFT", "CLARIFY", "CONFIRM", "EXECUTING")[self.seq % 4],
            "reason_code": self.seq,
            "created_at": state.created_at,
            "idempotency_key": f"c{cycle}-w{self.index}-{self.seq}",
            "payload": {"writer": self.index, "seq": self.seq, "cycle": cycle},
        }
        state.created = True
        return fields

    def run(self, conninfo: str, cycle: int, stop: threading.Event) -> None:
        """Append until the server dies (or ``stop``); classify every attempt."""
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                repo = WorkOrderRepository(conn)
                while not stop.is_set():
                    if self.path == "sql":
                        self._sql(conn, cycle)
                    elif self.path == "append":
                        attempt = Attempt(self.next_event(cycle), IN_DOUBT)
                        self.attempts.append(attempt)
                        repo.append(WorkOrderLedgerEventInput(**attempt.fields))
                        attempt.outcome = ACKED
                    else:
                        batch = [Attempt(self.next_event(cycle), IN_DOUBT) for _ in range(BATCH)]
                        self.attempts.extend(batch)
                        repo.append_many(
                            WorkOrderLedgerEventInput(**attempt.fields) for attempt in batch
                        )
                        for attempt in batch:
                            attempt.outcome = ACKED
        except Exception as error:  # the crash: recorded, judged by the checks
            self.error = error

    def _sql(self, conn: psycopg.Connection, cycle: int) -> None:
        attempt = Attempt(self.next_event(cycle), NOT_COMMITTED)
        self.attempts.append(attempt)
        conn.execute("BEGIN")
        set_tenant(conn, TENANT)
        _, replay = append(conn, **attempt.fields)
        assert replay is False
        attempt.outcome = IN_DOUBT
        conn.execute("COMMIT")
        attempt.outcome = ACKED


@pytest.fixture
def cluster(home: Path) -> Iterator[EmbeddedCluster]:
    cluster = EmbeddedCluster(home)
    cluster.ensure_running()
    yield cluster


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the postmaster's backends and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def wait_until_exited(pids: list[int], seconds: float = 30.0) -> None:
    """Wait until every process of ``pids`` has exited (a zombie has: it holds nothing)."""
    deadline = time.monotonic() + seconds
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        still = []
        for pid in alive:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if state != "Z":
                still.append(pid)
        alive = still
        if alive:
            time.sleep(0.02)
    assert not alive, f"backends {alive} still running {seconds} s after the postmaster died"


def kill_server(cluster: EmbeddedCluster, *, every_process: bool) -> None:
    """SIGKILL the postmaster; with ``every_process``, each of its backends at once too.

    The postmaster alone (the issue's kill -9) leaves its backends to notice its death at
    their next wait, so a transaction already running usually completes; killing every
    process at once (as a machine crash does) also cuts transactions mid-commit.
    """
    pid = cluster.status().pid
    assert pid is not None
    backends = children_of(pid)
    os.kill(pid, signal.SIGKILL)
    if every_process:
        for backend in backends:
            with suppress(ProcessLookupError):
                os.kill(backend, signal.SIGKILL)
    wait_until_exited([pid, *backends])


def load_states(cluster: EmbeddedCluster, writers: int) -> list[dict[str, WorkOrderState]]:
    """Each writer's work orders as the database has them now."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as su:
        rows = su.execute(
            "SELECT work_order_id, correlation_id, turn_id, last_updated_at"
            " FROM os_core.work_orders_current WHERE tenant_id = %s",
            [TENANT],
        ).fetchall()
    existing = {row[0]: row[1:] for row in rows}
    states = []
    for index in range(writers):
        own = {}
        for number in range(WORK_ORDERS_PER_WRITER):
            name = f"w{index}-{number}"
            state = WorkOrderState(correlation_id=index * 100 + number + 1)
            if name in existing:
                correlation_id, turn_id, created_at = existing[name]
                state = WorkOrderState(int(correlation_id), True, turn_id, created_at)
            own[name] = state
        states.append(own)
    return states


def check_after_restart(cluster: EmbeddedCluster, attempts: list[Attempt]) -> set[str]:
    """Check item 4 of the module docstring on the restarted cluster; return the keys found."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as su:
        ledger = su.cursor(row_factory=dict_row).execute(
            "SELECT * FROM os_core.work_order_ledger WHERE tenant_id = %s", [TENANT]
        )
        by_key: dict[str, list[dict[str, Any]]] = {}
        for row in ledger.fetchall():
            by_key.setdefault(row["idempotency_key"], []).append(row)
        audit = su.execute(
            "SELECT work_order_event_id, outcome, idempotency_key FROM ph1j.audit_events"
            " WHERE tenant_id = %s",
            [TENANT],
        ).fetchall()
        current_before = su.execute(
            "SELECT c::text FROM os_core.work_orders_current AS c ORDER BY work_order_id"
        ).fetchall()

    sent = {attempt.fields["idempotency_key"]: attempt for attempt in attempts}
    phantom = sorted(set(by_key) - set(sent))
    assert phantom == [], f"ledger rows no writer sent: {phantom[:5]}"
    for key, attempt in sent.items():
        rows = by_key.get(key, [])
        assert len(rows) <= 1, f"{key}: {len(rows)} ledger rows"
        if attempt.outcome == ACKED:
            assert len(rows) == 1, f"acknowledged append {key} lost in the crash"
        if attempt.outcome == NOT_COMMITTED:
            assert rows == [], f"{key} failed before COMMIT and is in the ledger"
        for row in rows:
            got = {name: row[name] for name in FIELDS}
            assert got == {name: attempt.fields[name] for name in FIELDS}, key

    ledger_ids = sorted(row["work_order_event_id"] for rows in by_key.values() for row in rows)
    appended = sorted(event_id for event_id, outcome, _ in audit if outcome == "APPENDED")
    assert appended == ledger_ids, "audit APPENDED rows differ from the ledger events"
    assert len(audit) == len(appended), "audit rows other than APPENDED"

    with psycopg.connect(cluster.conninfo(DBA_LOGIN), autocommit=True) as dba:
        assert (
            dba.execute("SELECT * FROM os_core.work_orders_current_verify(NULL)").fetchall() == []
        )
        rebuilt = dba.execute(
            "SELECT rewritten_work_order_count FROM os_core.work_orders_current_rebuild(NULL)"
        ).fetchone()
        assert rebuilt == (0,)
    with psycopg.connect(cluster.conninfo(), autocommit=True) as su:
        current_after = su.execute(
            "SELECT c::text FROM os_core.work_orders_current AS c ORDER BY work_order_id"
        ).fetchall()
    assert current_after == current_before
    return set(by_key)


def test_kill_9_of_the_postmaster_under_load_loses_and_duplicates_nothing(
    cluster: EmbeddedCluster,
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    with psycopg.connect(cluster.conninfo(), autocommit=True) as su:
        settings = su.execute(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'),"
            " current_setting('full_page_writes')"
        ).fetchone()
    assert settings == ("on", "on", "on")

    all_attempts: list[Attempt] = []
    report = []
    for cycle in range(CYCLES):
        writers = [
            Writer(index, states) for index, states in enumerate(load_states(cluster, WRITERS))
        ]
        stop = threading.Event()
        threads = [
            threading.Thread(target=writer.run, args=(cluster.conninfo(APP_LOGIN), cycle, stop))
            for writer in writers
        ]
        for thread in threads:
            thread.start()
        delay = rng.uniform(*KILL_AFTER)
        time.sleep(delay)
        try:
            kill_server(cluster, every_process=cycle % 2 == 1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)

        cluster.ensure_running()  # crash recovery
        attempts = [attempt for writer in writers for attempt in writer.attempts]
        all_attempts.extend(attempts)
        present = check_after_restart(cluster, all_attempts)
        figures = CycleFigures(
            acknowledged=sum(attempt.outcome == ACKED for attempt in attempts),
            in_doubt=sum(attempt.outcome == IN_DOUBT for attempt in attempts),
            not_committed=sum(attempt.outcome == NOT_COMMITTED for attempt in attempts),
            in_doubt_present=sum(
                attempt.outcome == IN_DOUBT and attempt.fields["idempotency_key"] in present
                for attempt in attempts
            ),
            ledger_events_after=len(present),
        )
        report.append((round(delay, 2), figures))
        # The writers were cut off by the crash (a writer between two calls when the last
        # backend was gone may have stopped without an error), not by anything else.
        errors = [writer.error for writer in writers if writer.error is not None]
        assert errors, "no writer was cut off by the crash"
        assert all(isinstance(error, psycopg.Error) for error in errors), errors
        assert figures.acknowledged > 0, f"seed {seed}: nothing acknowledged in cycle {cycle}"

    # Appends resume after the last crash: one more on every work order.
    with psycopg.connect(cluster.conninfo(APP_LOGIN), autocommit=True) as conn:
        repo = WorkOrderRepository(conn)
        for index, states in enumerate(load_states(cluster, WRITERS)):
            writer = Writer(index, states, seq=10**6)
            for _ in range(WORK_ORDERS_PER_WRITER):
                attempt = Attempt(writer.next_event(CYCLES), ACKED)
                result = repo.append(WorkOrderLedgerEventInput(**attempt.fields))
                assert result.idempotency_replay is False
                all_attempts.append(attempt)
    check_after_restart(cluster, all_attempts)
    totals = {
        "cycles": CYCLES,
        "acknowledged": sum(figures.acknowledged for _, figures in report),
        "in doubt": sum(figures.in_doubt for _, figures in report),
        "in doubt and present": sum(figures.in_doubt_present for _, figures in report),
        "not committed": sum(figures.not_committed for _, figures in report),
    }
    print(f"crash seed {seed}: {report}; totals {totals}")


def test_after_a_crash_paging_reaches_what_was_committed_before_it(
    cluster: EmbeddedCluster,
) -> None:
    """kill -9 while a session holds an xid it never logged: after recovery, the event
    committed meanwhile (whose horizon is above that xid) is on the first page at once.

    Recovery gives that xid out again: the server's next xid is then below the stored
    horizon, with nothing running, which the reads used to wait on until a transaction
    took and ended that xid (for good on a server that takes no writes).
    """
    tenant = "crash-paging"
    committing = psycopg.connect(cluster.conninfo(APP_LOGIN), autocommit=True)
    idle = psycopg.connect(cluster.conninfo(APP_LOGIN), autocommit=True)
    try:
        committed = commit_above_an_unlogged_xid(committing, idle, tenant)
        kill_server(cluster, every_process=True)
    finally:
        for conn in (committing, idle):
            with suppress(psycopg.Error):
                conn.close()
    cluster.ensure_running()  # crash recovery

    with (
        psycopg.connect(cluster.conninfo(APP_LOGIN), autocommit=True) as conn,
        conn.transaction(),
    ):
        set_tenant(conn, tenant)
        ledger = conn.execute(
            "SELECT work_order_event_id FROM os_core.work_order_ledger_read("
            "p_tenant_id => %s::text, p_after_event_id => 0, p_limit => 100)",
            [tenant],
        ).fetchall()
        trail = conn.execute(
            "SELECT work_order_event_id FROM os_core.audit_read("
            "p_tenant_id => %s::text, p_after_audit_event_id => 0, p_limit => 100)",
            [tenant],
        ).fetchall()
    assert ledger == [(committed,)]
    assert trail == [(committed,)]
