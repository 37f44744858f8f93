"""The ``rebuild`` suite: the rebuild against ``CREATE TABLE AS SELECT DISTINCT ON``.

Over the lifecycle data set, then the same on smaller ledgers (seconds against size).
"""

from __future__ import annotations

import contextlib
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import datasets
from benchmarks.cluster import DBA_ROLE, SUPERUSER, BenchCluster
from benchmarks.harness import Bench, rows_label
from benchmarks.report import metric
from selene_core_tables import WorkOrderRepository

REBUILD_DB = "bench_rebuild"
"""Database of the ``lifecycle`` data set: the rebuild."""


class _PeakMemory:
    """Samples a process's private memory (RssAnon) every 10 ms in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self._stop = threading.Event()
        self.peak_kb = 0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError):
                for line in self._status.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            if self._stop.wait(0.01):
                return


def _temp_bytes(cluster: BenchCluster, dbname: str) -> int:
    with cluster.connect(dbname) as conn:
        row = conn.execute(
            "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def _ledger_events(cluster: BenchCluster, dbname: str) -> int:
    with cluster.connect(dbname) as conn:
        row = conn.execute("SELECT count(*) FROM os_core.work_order_ledger").fetchone()
    return int(row[0]) if row else 0


def _timed(
    bench: Bench,
    key: str,
    user: str,
    run: Callable[[psycopg.Connection], object],
    dbname: str = REBUILD_DB,
) -> object:
    """Run ``run`` on a fresh connection to ``dbname`` as ``user``; keep its figures.

    Wall time, the backend's peak private memory, temporary files written, and events
    per second over that database's ledger.
    """
    cluster = bench.cluster
    bench.checkpoint(dbname)
    temp_before = _temp_bytes(cluster, dbname)
    events = _ledger_events(cluster, dbname)
    with cluster.connect(dbname, user) as conn:
        pid_row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert pid_row is not None
        tracemalloc.start()
        with _PeakMemory(pid_row[0]) as memory:
            started = time.perf_counter()
            result = run(conn)
            seconds = time.perf_counter() - started
        client_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    time.sleep(0.3)  # the backend's statistics are flushed when it exits
    temp = _temp_bytes(cluster, dbname) - temp_before
    run_figures = {
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "backend_peak_private_mb": memory.peak_kb / 1024,
        "temp_written_mb": temp / 2**20,
        "client_peak_kb": client_peak / 1024,
    }
    bench.record(key, run_figures)
    bench.log(
        f"  {key:<34} {seconds:8.2f} s  {events / seconds:>10.0f} events/s"
        f"  backend peak {memory.peak_kb / 1024:.0f} MB  temp {temp / 2**20:.0f} MB"
    )
    return result


_CTAS_DISTINCT_ON = (
    "CREATE TABLE bench.ctas_current AS SELECT DISTINCT ON (tenant_id, work_order_id) * "
    "FROM os_core.work_order_ledger "
    "ORDER BY tenant_id, work_order_id, work_order_event_id DESC"
)
"""The baseline: the current projection by ``CREATE TABLE AS SELECT DISTINCT ON``."""
_CTAS_CURRENT_VIEW = (
    "CREATE TABLE bench.ctas_current AS SELECT * FROM os_core.work_orders_current_from_ledger"
)
"""The current projection computed as the rebuild computes it, into a bare table too."""
_REPLAY_CURRENT = (
    "INSERT INTO os_core.work_orders_current SELECT * FROM os_core.work_orders_current_from_ledger"
)
"""What the rebuild does with it: into work_orders_current, its three indexes, domains."""


def _rebuild(conn: psycopg.Connection) -> Any:
    return WorkOrderRepository(conn).rebuild()


def _rebuild_round(bench: Bench, dbname: str, prefix: str, *, complete: bool) -> None:
    """One run of the rebuild measurements on ``dbname``, kept under ``prefix``.

    Always: the CTAS baseline, the current view as a CTAS, the rebuild of all three
    projections from empty ones. ``complete`` adds the current view into its indexed
    table and the rebuild of consistent projections (nothing to repair).
    """
    cluster = bench.cluster
    events = _ledger_events(cluster, dbname)

    def execute(*statements: str) -> None:
        with cluster.connect(dbname) as conn:
            for statement in statements:
                conn.execute(statement)

    execute("DROP TABLE IF EXISTS bench.ctas_current")
    _timed(
        bench,
        f"{prefix}.ctas_distinct_on",
        SUPERUSER,
        lambda c: c.execute(_CTAS_DISTINCT_ON),
        dbname,
    )
    execute("DROP TABLE bench.ctas_current")
    _timed(bench, f"{prefix}.current", SUPERUSER, lambda c: c.execute(_CTAS_CURRENT_VIEW), dbname)
    execute("DROP TABLE bench.ctas_current")
    if complete:
        execute("TRUNCATE os_core.work_orders_current")
        _timed(
            bench,
            f"{prefix}.current_into_table",
            SUPERUSER,
            lambda c: c.execute(_REPLAY_CURRENT),
            dbname,
        )
    execute(
        "TRUNCATE os_core.work_orders_current, os_core.work_order_step_attempts, "
        "os_core.work_order_leases"
    )
    result = _timed(bench, f"{prefix}.all", DBA_ROLE, _rebuild, dbname)
    if getattr(result, "event_count", None) != events:
        raise RuntimeError(f"the rebuild from empty projections returned {result}")
    if complete:
        result = _timed(bench, f"{prefix}.no_drift", DBA_ROLE, _rebuild, dbname)
        if getattr(result, "rewritten_work_order_count", None) != 0:
            raise RuntimeError(f"the rebuild of consistent projections returned {result}")


def rebuild_suite(bench: Bench) -> None:
    """Rebuild of the lifecycle data set against CTAS DISTINCT ON over the same ledger.

    Then the same on smaller ledgers (``rebuild_tenant_counts``): seconds against size.
    """
    config = bench.config
    dataset = datasets.Dataset(
        "lifecycle", config.tenants, config.rebuild_work_orders, datasets.LIFECYCLE_EVENTS
    )
    bench.ensure_dataset(REBUILD_DB, dataset)
    bench.log(f"rebuild: {dataset.total_events:,} events, {config.runs} runs")
    for _ in range(config.runs):
        _rebuild_round(bench, REBUILD_DB, "rebuild", complete=True)

    ctas = "rebuild.ctas_distinct_on"

    def seconds_and_rate(name: str, key: str, target: float | None) -> None:
        bench.add(
            bench.compare(f"{name}.seconds", key, ctas, "seconds", target, lower_is_better=True),
            bench.compare(f"{name}.events_per_s", key, ctas, "events_per_s"),
        )

    seconds_and_rate("rebuild.current_projection", "rebuild.current", 1.3)
    seconds_and_rate(
        "rebuild.current_projection.into_indexed_table", "rebuild.current_into_table", None
    )
    seconds_and_rate("rebuild.all_projections", "rebuild.all", 2.0)
    seconds_and_rate("rebuild.all_projections.nothing_to_repair", "rebuild.no_drift", None)
    for key, name in (
        ("rebuild.all", "all_projections"),
        ("rebuild.no_drift", "all_projections.nothing_to_repair"),
    ):
        bench.add(
            bench.compare(
                f"rebuild.{name}.backend_peak_private_mb",
                key,
                ctas,
                "backend_peak_private_mb",
                lower_is_better=True,
            ),
        )
    bench.add(
        bench.compare(
            "rebuild.all_projections.temp_written_mb",
            "rebuild.all",
            ctas,
            "temp_written_mb",
            lower_is_better=True,
        ),
        metric(
            "rebuild.all_projections.client_peak_alloc_kb",
            bench.med("rebuild.all", "client_peak_kb"),
            "kB",
            lower_is_better=True,
        ),
    )
    _rebuild_size_series(bench)


def _rebuild_size_series(bench: Bench) -> None:
    """Rebuild and its baselines on ledgers of fewer tenants: seconds against ledger size."""
    config = bench.config
    for tenants in sorted(set(config.rebuild_tenant_counts)):
        if tenants >= config.tenants:
            continue
        dataset = datasets.Dataset(
            "lifecycle", tenants, config.rebuild_work_orders, datasets.LIFECYCLE_EVENTS
        )
        label = rows_label(dataset.total_events)
        dbname = f"{REBUILD_DB}_{label.lower()}"
        bench.ensure_dataset(dbname, dataset)
        bench.log(f"rebuild: {dataset.total_events:,} events, {config.runs} runs")
        prefix = f"rebuild@{label}"
        for _ in range(config.runs):
            _rebuild_round(bench, dbname, prefix, complete=False)
        for name, key in (("current_projection", "current"), ("all_projections", "all")):
            bench.add(
                bench.compare(
                    f"rebuild.{name}.seconds.{label}_events",
                    f"{prefix}.{key}",
                    f"{prefix}.ctas_distinct_on",
                    "seconds",
                    lower_is_better=True,
                )
            )
