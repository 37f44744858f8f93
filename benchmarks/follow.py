"""The ``follow`` suite: how late a follower sees an append, and how fast one follower reads.

Lag: 8 writer threads, each on its own connection as the app login, append one event
at a time (its own transaction, committed by the call) to one tenant for
``duration`` seconds (at most 4), pacing themselves at one append every 5 ms each; one
``WorkOrderRepository.follow`` of that tenant runs meanwhile in a thread of the same
process. The lag of an event is the time from the return of its writer's append call
(its COMMIT has returned) to the follower yielding it, on one clock (a negative
difference, a follower faster than the writer's return, counts as 0). Measured twice:
with notifications (the writers' sessions set ``selene.audit_notify``, the follower
LISTENs, poll interval 1 s as a fallback) and without (polling every
:data:`POLL_INTERVAL` s).

Throughput: one follower reads a tenant's ``5 x client_events`` events, loaded beforehand
(the ``simple`` data set of one tenant), from the start, pages of 1000, as fast as it
can: events per second over the whole read, the records built.

Metrics (targets of issue 14): ``follow.lag.p99_ms.8w.notify.vs_budget`` (p99 against
50 ms), ``follow.lag.p99_ms.8w.poll.vs_budget`` (against the poll interval + 50 ms),
the p50s alone, and ``follow.events_per_s.1f.vs_target`` against 20,000 events/s.
``runs`` of each: about 35 s in make bench (3 runs), 10 s in the quick profile.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import ConnectionPool

from benchmarks import datasets
from benchmarks.cluster import APP_ROLE
from benchmarks.report import metric
from selene_core_tables import WorkOrderLedgerEventInput, WorkOrderRepository

if TYPE_CHECKING:
    from benchmarks.harness import Bench

LAG_DB = "bench_follow"
"""Empty at first; the lag runs append to it."""
READ_DB = "bench_follow_read"
"""The throughput run's data set: one tenant's events."""
WRITERS = 8
LAG_SECONDS = 4.0
"""The longest lag run: make bench's 6 s runs would take the suite past a minute."""
PACE = 0.005
"""Seconds each writer waits between its appends."""
POLL_INTERVAL = 0.1
"""The follower's poll interval in the run without notifications."""
LAST = f"wo-{WRITERS}-0"
"""The work order of the last append of a lag run."""
NOTIFY_BUDGET_MS = 50.0
EVENTS_PER_S_TARGET = 20_000.0


def follow_suite(bench: Bench) -> None:
    """Measure the lag with and without notifications, then one follower's events/s."""
    config = bench.config
    bench.cluster.drop_database(LAG_DB)
    bench.cluster.ensure_database(LAG_DB)
    dsn = bench.cluster.conninfo(LAG_DB, APP_ROLE)
    for label, notify in (("notify", True), ("poll", False)):
        for run in range(config.runs):
            lags = _lags(dsn, f"lag-{label}-{run}", notify, min(config.duration, LAG_SECONDS))
            p50, p99 = _percentile(lags, 50), _percentile(lags, 99)
            figures = {"events": len(lags), "p50_ms": p50, "p99_ms": p99}
            bench.record(f"follow.lag.{label}", figures)
            bench.log(
                f"  follow lag, {label:<6} {len(lags):>6} events"
                f"  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
            )
    budgets = {"notify": NOTIFY_BUDGET_MS, "poll": POLL_INTERVAL * 1000 + 50}
    for label, budget in budgets.items():
        bench.add(
            metric(
                f"follow.lag.p99_ms.{WRITERS}w.{label}.vs_budget",
                bench.med(f"follow.lag.{label}", "p99_ms"),
                "ms",
                budget,
                1.0,
                lower_is_better=True,
            ),
            metric(
                f"follow.lag.p50_ms.{WRITERS}w.{label}",
                bench.med(f"follow.lag.{label}", "p50_ms"),
                "ms",
                lower_is_better=True,
            ),
        )

    count = 5 * config.client_events
    bench.ensure_dataset(READ_DB, datasets.Dataset("simple", 1, count, 1))
    with psycopg.connect(bench.cluster.conninfo(READ_DB, APP_ROLE), autocommit=True) as conn:
        repo = WorkOrderRepository(conn)
        for _ in range(config.runs):
            started = time.perf_counter()
            for read, _event in enumerate(repo.follow("bench-1", poll_interval=1.0), start=1):
                if read == count:
                    break
            seconds = time.perf_counter() - started
            bench.record("follow.read", {"seconds": seconds, "events_per_s": count / seconds})
            bench.log(f"  follow read      {count:>6} events  {count / seconds:>10.0f} events/s")
    bench.add(
        metric(
            "follow.events_per_s.1f.vs_target",
            bench.med("follow.read", "events_per_s"),
            "events/s",
            EVENTS_PER_S_TARGET,
            1.0,
        )
    )


def _lags(dsn: str, tenant: str, notify: bool, seconds: float) -> list[float]:
    """Run the writers for ``seconds`` against one follower; each event's lag in ms."""
    committed: dict[int, float] = {}
    received: dict[int, float] = {}
    errors: list[BaseException] = []
    stop = threading.Event()
    with ConnectionPool(dsn, min_size=2, max_size=2, kwargs={"autocommit": True}) as pool:
        follower = WorkOrderRepository(pool).follow(
            tenant, poll_interval=1.0 if notify else POLL_INTERVAL, notify=notify
        )
        writers = [
            threading.Thread(target=_write, args=(dsn, tenant, n, notify, stop, committed, errors))
            for n in range(WRITERS)
        ]

        def follow() -> None:
            try:
                for event in follower:
                    received[event.work_order_event_id] = time.perf_counter()
                    if event.work_order_id == LAST:
                        return  # the last append: every earlier one came before it
            except BaseException as error:  # reported below
                errors.append(error)

        reader = threading.Thread(target=follow)
        reader.start()
        time.sleep(0.2)  # the follower has read its first (empty) page and waits
        for writer in writers:
            writer.start()
        time.sleep(seconds)
        stop.set()
        for writer in writers:
            writer.join()
        # The last append, once every writer has stopped: the follower stops after it.
        _write(dsn, tenant, WRITERS, notify, threading.Event(), committed, errors, once=True)
        reader.join(timeout=30)
        follower.close()
    if errors:
        raise errors[0]
    missing = set(committed) - set(received)
    if missing:
        raise RuntimeError(f"the follower never received {len(missing)} committed events")
    return [max(0.0, (received[i] - at) * 1000) for i, at in committed.items()]


def _write(
    dsn: str,
    tenant: str,
    number: int,
    notify: bool,
    stop: threading.Event,
    committed: dict[int, float],
    errors: list[BaseException],
    *,
    once: bool = False,
) -> None:
    """Append one event at a time until ``stop`` (or once), noting when each call returned."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if notify:
                conn.execute("SET selene.audit_notify = on")
            repo = WorkOrderRepository(conn)
            step = 0
            while True:
                result = repo.append(
                    WorkOrderLedgerEventInput(
                        tenant_id=tenant,
                        work_order_id=f"wo-{number}-{step}",
                        correlation_id=number * 1_000_000 + step + 1,
                        turn_id=1,
                        event_type="WORK_ORDER_CREATED",
                        work_order_status="DRAFT",
                        reason_code=1,
                        created_at=time.time_ns(),
                    )
                )
                committed[result.work_order_event_id] = time.perf_counter()
                step += 1
                if once or stop.wait(PACE):
                    return
    except BaseException as error:  # reported by _lags
        errors.append(error)


def _percentile(values: list[float], percent: int) -> float:
    """Return the ``percent`` percentile of ``values`` (inclusive method), 0 for none."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
