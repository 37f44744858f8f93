"""The benchmark suites: each measures ours and its baseline, interleaved, and adds metrics.

``read``
    ``work_order_current_read`` against a primary-key lookup, ``work_order_ledger_read``
    (one keyset page) against an index range scan, at the highest client count; each
    also with row-level security disabled (RLS overhead).
``append``
    ``work_order_ledger_append`` against a bare single-row INSERT into an equally indexed
    table, at every client count; at the highest also with row-level security disabled.
``client``
    The Python client: appends one call per event, ``append_many`` (one call of
    ``os_core.work_order_ledger_append_many`` per batch), the same appends by pgbench on
    one connection, and 100,000 events through the CLI's ``append --jsonl``.
``network``
    Latency at one client through a proxy adding 0.25 ms each way: pgbench and the
    Python client, ours against the bare INSERT and PK lookup (:mod:`benchmarks.network`).
``follow``
    Lag from an append's commit to a follower, with and without notifications, and one
    follower's events per second (:mod:`benchmarks.follow`).
``rebuild``
    The rebuild over the lifecycle data set against ``CREATE TABLE AS SELECT DISTINCT ON``.
``growth``
    Appends on a ledger of ``tenants x work_orders`` rows and on one ten times larger.
``citus``
    Append and current read through a Citus coordinator against the same on one node
    (:mod:`benchmarks.citus`).

Every pgbench run is preceded by a ``CHECKPOINT``, so that no run inherits another's
dirty buffers or meets a timed checkpoint halfway.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import datasets, pgbench
from benchmarks.citus import citus_suite
from benchmarks.cluster import APP_ROLE, DBA_ROLE, SUPERUSER, BenchCluster
from benchmarks.follow import follow_suite
from benchmarks.network import network_suite
from benchmarks.report import Metric, median, metric
from selene_core_tables import WorkOrderLedgerEventInput, WorkOrderRepository
from selene_core_tables.migrate import reinstall_sql

APPEND_DB = "bench"
"""Database of the ``simple`` data set: appends, reads, the client."""
REBUILD_DB = "bench_rebuild"
"""Database of the ``lifecycle`` data set: the rebuild."""
LARGE_DB = "bench_large"
"""Database of the ``simple`` data set with ten events a work order: growth."""

RLS_TABLES = (
    "os_core.work_order_ledger",
    "os_core.work_orders_current",
    "os_core.work_order_step_attempts",
    "os_core.work_order_leases",
    "ph1j.audit_events",
)

SUITES = ("read", "append", "client", "network", "follow", "rebuild", "growth", "citus")
"""Every suite, in the order they run."""

UNITS = {
    "tps": "tps",
    "p50_ms": "ms",
    "p99_ms": "ms",
    "server_cpu_us_per_tx": "µs",
    "coordinator_cpu_us_per_tx": "µs",
    "wal_bytes_per_tx": "B",
    "wal_records_per_tx": "records",
    "seconds": "s",
    "events_per_s": "events/s",
    "backend_peak_private_mb": "MB",
    "temp_written_mb": "MB",
    "client_peak_kb": "kB",
}
"""The unit of each figure a run keeps."""


@dataclass(frozen=True)
class Config:
    """What to load and how long to measure."""

    profile: str
    suites: tuple[str, ...]
    runs: int
    """Measurements of each figure; the median is reported."""
    duration: float
    """Seconds per pgbench run."""
    warmup: float
    """Seconds of each pgbench script before the measured runs (0: none)."""
    clients: tuple[int, ...]
    tenants: int
    work_orders: int
    """Work orders per tenant of the append data set (one event each)."""
    rebuild_work_orders: int
    """Work orders per tenant of the rebuild data set (ten events each)."""
    client_events: int
    """Appends per client-suite measurement."""
    batch_size: int
    """Events per ``append_many`` call."""
    page: int
    """Events per ledger page."""
    growth_factor: int
    """Events per work order of the large data set (growth)."""
    rebuild_tenant_counts: tuple[int, ...] = field(default=())
    """Tenant counts of smaller rebuild ledgers, for rebuild seconds against ledger size.

    Each tenant has ``rebuild_work_orders`` work orders; counts not below ``tenants``
    are skipped.
    """
    read_clients: int = field(default=0)
    """Clients of the read benchmarks; 0: the highest of ``clients``."""
    citus_work_orders: int = field(default=10_000)
    """Work orders per tenant of the ``citus`` suite's data set (both sides)."""

    @property
    def max_clients(self) -> int:
        """The highest client count."""
        return max(self.clients)


PROFILES: dict[str, Config] = {
    # Sized so that `make bench` ends within 10 minutes on 2 cores (issue 13): runs of
    # 4 s hold a few thousand transactions at 8 clients, and a ledger of 500,000 events
    # has the index depth of one of a million.
    "default": Config(
        profile="default",
        suites=("read", "append", "client", "network", "follow", "rebuild", "citus"),
        runs=3,
        duration=4,
        warmup=1,
        clients=(1, 4, 8),
        tenants=10,
        work_orders=50_000,
        rebuild_work_orders=5_000,
        client_events=5_000,
        batch_size=500,
        page=100,
        growth_factor=10,
        rebuild_tenant_counts=(2,),
    ),
    "quick": Config(
        profile="quick",
        suites=("read", "append", "client", "network", "rebuild"),
        runs=1,
        duration=3,
        warmup=1,
        clients=(1, 4, 8),
        tenants=10,
        work_orders=10_000,
        rebuild_work_orders=1_000,
        client_events=1_000,
        batch_size=500,
        page=100,
        growth_factor=10,
        rebuild_tenant_counts=(1,),
    ),
    "large": Config(
        profile="large",
        suites=("growth",),
        runs=3,
        duration=10,
        warmup=3,
        clients=(1, 8),
        tenants=10,
        work_orders=100_000,
        rebuild_work_orders=10_000,
        client_events=10_000,
        batch_size=500,
        page=100,
        growth_factor=10,
    ),
}
"""``make bench`` runs ``default``, ``make bench-large`` ``large``, ``BENCH_QUICK=1`` ``quick``."""


class Bench:
    """One benchmark run: the cluster, the configuration, and what has been measured."""

    def __init__(
        self, cluster: BenchCluster, config: Config, log: Callable[[str], None] = print
    ) -> None:
        """Measure on ``cluster`` as ``config`` says, reporting progress through ``log``."""
        self.cluster = cluster
        self.config = config
        self.log = log
        self.metrics: list[Metric] = []
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.patches: list[str] = []
        """SQL run in every database once it is loaded (``--patch``): a proposed change."""
        self._prepared: set[str] = set()
        self.keep_data = False
        """Whether clusters of the run keep their data afterwards (``--workdir``, ``--keep``)."""

    # -- data sets ------------------------------------------------------------------

    def append_dataset(self) -> datasets.Dataset:
        """Return the ``simple`` data set of the append, read and client suites."""
        return datasets.Dataset("simple", self.config.tenants, self.config.work_orders, 1)

    def ensure_dataset(self, dbname: str, dataset: datasets.Dataset, *, bare: bool = False) -> None:
        """Load ``dataset`` into ``dbname`` unless it holds it already (``--workdir`` reuse).

        The first time in a run, a reused database gets ``sql/`` installed again (so that
        it runs the functions of this checkout), then every database gets the patches.
        """
        if dbname in self._prepared:
            return
        reused = False
        if self.cluster.database_exists(dbname):
            with self.cluster.connect(dbname) as conn:
                reused = datasets.loaded(conn) == dataset
            if not reused:
                self.cluster.drop_database(dbname)
        if reused:
            self.log(f"reusing {dbname}: {dataset}")
            reinstall_sql(self.cluster.conninfo(dbname))
        else:
            self.log(f"loading {dbname}: {dataset}")
            self.cluster.ensure_database(dbname)
            with self.cluster.connect(dbname) as conn:
                datasets.load(conn, dataset, log=self.log)
        if bare:
            with self.cluster.connect(dbname) as conn:
                if not reused or not datasets.has_bare_tables(conn):
                    datasets.create_bare_tables(conn)
        with self.cluster.connect(dbname) as conn:
            for patch in self.patches:
                conn.execute(patch)
            conn.execute("CHECKPOINT")
        self._prepared.add(dbname)

    # -- measuring ------------------------------------------------------------------

    def checkpoint(self, dbname: str) -> None:
        """CHECKPOINT, so that every run starts from clean buffers."""
        self.cluster.checkpoint(dbname)

    def pgbench(
        self,
        key: str,
        dbname: str,
        user: str,
        script: str,
        clients: int,
        variables: dict[str, object],
        *,
        transactions: int | None = None,
        record: bool = True,
        duration: float | None = None,
        address: tuple[str, int] | None = None,
    ) -> pgbench.PgbenchRun:
        """Run a pgbench script after a checkpoint; keep the run under ``key``.

        ``address``: connect there (a latency proxy) instead of the Unix socket.
        """
        self.checkpoint(dbname)
        result = pgbench.run(
            self.cluster,
            dbname,
            user,
            script,
            clients=clients,
            variables={**variables, "clients": clients},
            duration=None if transactions else (duration or self.config.duration),
            transactions=transactions,
            address=address,
        )
        if record:
            self.record(key, asdict(result))
            self.log(
                f"  {key:<34} {result.tps:>10.1f} tps  p50 {result.p50_ms:7.3f} ms"
                f"  p99 {result.p99_ms:7.3f} ms"
            )
        return result

    def record(self, key: str, run: dict[str, Any]) -> None:
        """Keep one run's figures under ``key`` (latest-details.json)."""
        self.runs.setdefault(key, []).append(run)

    def med(self, key: str, field_name: str) -> float:
        """Return the median of ``field_name`` over the runs kept under ``key``."""
        return median([run[field_name] for run in self.runs[key]])

    def warm_up(self, dbname: str, jobs: list[tuple[str, str, dict[str, object]]]) -> None:
        """Run each (user, script, variables) briefly at the highest client count."""
        if self.config.warmup <= 0:
            return
        for user, script, variables in jobs:
            self.pgbench(
                "warmup",
                dbname,
                user,
                script,
                self.config.max_clients,
                variables,
                record=False,
                duration=self.config.warmup,
            )

    def add(self, *metrics: Metric) -> None:
        """Add metrics to the results."""
        self.metrics.extend(metrics)

    def compare(
        self,
        name: str,
        ours: str,
        baseline: str,
        field_name: str,
        target: float | None = None,
        *,
        lower_is_better: bool = False,
        baseline_field: str | None = None,
    ) -> Metric:
        """Return the metric of the median ``field_name`` of ``ours`` against ``baseline``.

        ``baseline_field`` names the baseline's figure when it is another one (appends
        per second against pgbench's transactions per second).
        """
        return metric(
            name,
            self.med(ours, field_name),
            UNITS[field_name],
            self.med(baseline, baseline_field or field_name),
            target,
            lower_is_better=lower_is_better,
        )

    def throughput_metrics(
        self, name: str, ours: str, baseline: str, clients: int, target: float | None
    ) -> None:
        """Add TPS (with ``target``), p50, p99 and CPU of ``ours`` against ``baseline``."""
        self.add(self.compare(f"{name}.tps.{clients}c", ours, baseline, "tps", target))
        for field_name in ("p50_ms", "p99_ms", "server_cpu_us_per_tx"):
            self.add(
                self.compare(
                    f"{name}.{field_name}.{clients}c",
                    ours,
                    baseline,
                    field_name,
                    lower_is_better=True,
                )
            )


@contextlib.contextmanager
def policies_disabled(cluster: BenchCluster, dbname: str) -> Iterator[None]:
    """Disable row-level security on the five tables for the block, then force it again."""
    with cluster.connect(dbname) as conn:
        for table in RLS_TABLES:
            conn.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            conn.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    try:
        yield
    finally:
        with cluster.connect(dbname) as conn:
            for table in RLS_TABLES:
                conn.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
                conn.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            unforced = conn.execute(
                "SELECT count(*) FROM pg_class WHERE oid = ANY(%s::regclass[])"
                " AND relrowsecurity AND relforcerowsecurity",
                [list(RLS_TABLES)],
            ).fetchone()
            if unforced is None or unforced[0] != len(RLS_TABLES):
                raise RuntimeError("row-level security could not be forced again")


# -- validate --------------------------------------------------------------------------


def validate_loading(bench: Bench) -> None:
    """Prove on small data sets that loading writes what the append function would.

    Each shape is appended event by event through ``os_core.work_order_ledger_append``
    (every event must be accepted) into one database and loaded with ``generate_series``
    into another; ledgers and projections must then be equal.
    """
    cluster = bench.cluster
    for dataset in (
        datasets.Dataset("simple", 2, 20, 3),
        datasets.Dataset("lifecycle", 2, 20, datasets.LIFECYCLE_EVENTS),
    ):
        appended_db, loaded_db = f"check_{dataset.shape}_appended", f"check_{dataset.shape}_loaded"
        for dbname in (appended_db, loaded_db):
            cluster.drop_database(dbname)
            cluster.ensure_database(dbname)
        with (
            cluster.connect(appended_db) as superuser,
            cluster.connect(appended_db, APP_ROLE) as app,
            cluster.connect(loaded_db) as loader,
        ):
            count = datasets.validate(superuser, app, dataset)
            datasets.load(loader, dataset, log=lambda _: None)
            datasets.check_loading(superuser, loader)
        for dbname in (appended_db, loaded_db):
            cluster.drop_database(dbname)
        bench.log(f"validated {dataset.shape}: {count} events appended = loaded")


def rls_metrics(bench: Bench, name: str, ours: str, without: str, clients: int) -> None:
    """Add the RLS overhead of ``name``: TPS, p99 and CPU with the policies vs without.

    Overhead at most 10 %: TPS ratio >= 0.9, CPU per transaction ratio <= 1.1.
    """
    label = f"{clients}c.with_vs_without_policies"
    bench.add(
        bench.compare(f"rls.{name}.tps.{label}", ours, without, "tps", 0.9),
        bench.compare(f"rls.{name}.p99_ms.{label}", ours, without, "p99_ms", lower_is_better=True),
        bench.compare(
            f"rls.{name}.server_cpu_us_per_tx.{label}",
            ours,
            without,
            "server_cpu_us_per_tx",
            1.1,
            lower_is_better=True,
        ),
    )


# -- read ------------------------------------------------------------------------------


def read_suite(bench: Bench) -> None:
    """Measure current read vs PK lookup, ledger page vs range scan, with and without RLS."""
    config = bench.config
    dataset = bench.append_dataset()
    bench.ensure_dataset(APPEND_DB, dataset, bare=True)
    clients = config.read_clients or config.max_clients
    variables: dict[str, object] = {
        "tenants": config.tenants,
        "work_orders": config.work_orders,
        # A page must find `page` events of the tenant after the random start.
        "max_after": max(0, dataset.total_events - 2 * config.page * config.tenants),
        "page": config.page,
    }
    ours_current = ("current_read", APP_ROLE, "current_read")
    ours_ledger = ("ledger_read", APP_ROLE, "ledger_read")
    baselines = (
        ("pk_lookup", SUPERUSER, "pk_lookup"),
        ("pk_lookup_in_transaction", SUPERUSER, "pk_lookup_in_transaction"),
        ("range_scan", SUPERUSER, "range_scan"),
    )
    bench.log(f"read: {clients} clients, {config.runs} x {config.duration:g} s")
    jobs = [ours_current, ours_ledger, *baselines]
    bench.warm_up(APPEND_DB, [(user, script, variables) for _, user, script in jobs])
    for run in range(config.runs):
        # Each of ours runs right beside its twin without the policies, first in one run
        # and second in the next, and the jobs' order flips too: drift over the run
        # (the machine's other work) falls on both sides alike.
        for key, user, script in jobs if run % 2 == 0 else reversed(jobs):
            if (key, user, script) not in (ours_current, ours_ledger):
                bench.pgbench(key, APPEND_DB, user, script, clients, variables)
                continue
            for without_policies in (False, True) if run % 2 == 0 else (True, False):
                if without_policies:
                    with policies_disabled(bench.cluster, APPEND_DB):
                        bench.pgbench(
                            f"{key}_without_rls", APPEND_DB, user, script, clients, variables
                        )
                else:
                    bench.pgbench(key, APPEND_DB, user, script, clients, variables)
    bench.throughput_metrics("current_read", "current_read", "pk_lookup", clients, 0.9)
    bench.add(
        bench.compare(
            f"current_read.tps.{clients}c.vs_pk_lookup_in_transaction",
            "current_read",
            "pk_lookup_in_transaction",
            "tps",
        )
    )
    bench.throughput_metrics("ledger_read", "ledger_read", "range_scan", clients, None)
    for name in ("current_read", "ledger_read"):
        rls_metrics(bench, name, name, f"{name}_without_rls", clients)


# -- append ----------------------------------------------------------------------------


def append_suite(bench: Bench) -> None:
    """Append vs bare INSERT at each client count; at the highest also without RLS."""
    config = bench.config
    bench.ensure_dataset(APPEND_DB, bench.append_dataset(), bare=True)
    variables: dict[str, object] = {"tenants": config.tenants, "work_orders": config.work_orders}
    bench.log(f"append: {config.clients} clients, {config.runs} x {config.duration:g} s")
    bench.warm_up(
        APPEND_DB,
        [
            (SUPERUSER, "bare_insert", variables),
            (SUPERUSER, "bare_append_writes_in_transaction", variables),
            (APP_ROLE, "append", variables),
        ],
    )
    top = config.max_clients
    for _ in range(config.runs):
        for clients in config.clients:
            bench.pgbench(
                f"bare_insert.{clients}c", APPEND_DB, SUPERUSER, "bare_insert", clients, variables
            )
            bench.pgbench(f"append.{clients}c", APPEND_DB, APP_ROLE, "append", clients, variables)
        # Right after the append at the top count: its twin without the policies.
        with policies_disabled(bench.cluster, APPEND_DB):
            bench.pgbench(
                f"append_without_rls.{top}c", APPEND_DB, APP_ROLE, "append", top, variables
            )
        for baseline in ("bare_insert_in_transaction", "bare_append_writes_in_transaction"):
            bench.pgbench(f"{baseline}.{top}c", APPEND_DB, SUPERUSER, baseline, top, variables)
    for clients in config.clients:
        target = 0.8 if clients == top else None
        bench.throughput_metrics(
            "append", f"append.{clients}c", f"bare_insert.{clients}c", clients, target
        )
    ours = f"append.{top}c"
    in_transaction, writes = "bare_insert_in_transaction", "bare_append_writes_in_transaction"
    # (figure, baseline); every figure but TPS is lower-is-better, and the name says the
    # baseline unless it is the target's own, the bare INSERT.
    comparisons = (
        ("tps", in_transaction),
        ("server_cpu_us_per_tx", in_transaction),
        ("wal_bytes_per_tx", "bare_insert"),
        ("wal_records_per_tx", writes),
        ("wal_bytes_per_tx", writes),
        ("tps", writes),
        ("server_cpu_us_per_tx", writes),
    )
    for field_name, baseline in comparisons:
        suffix = "" if baseline == "bare_insert" else f".vs_{baseline}"
        bench.add(
            bench.compare(
                f"append.{field_name}.{top}c{suffix}",
                ours,
                f"{baseline}.{top}c",
                field_name,
                lower_is_better=field_name != "tps",
            )
        )
    rls_metrics(bench, "append", ours, f"append_without_rls.{top}c", top)


# -- client ----------------------------------------------------------------------------


def _field_set(config: Config, number: int, tenant: int | None = None) -> WorkOrderLedgerEventInput:
    """Return a valid FIELD_SET event for work order ``number`` (spread over tenants), now."""
    t = tenant if tenant is not None else number % config.tenants + 1
    w = (
        (number // config.tenants) % config.work_orders
        if tenant is None
        else number % config.work_orders
    )
    return WorkOrderLedgerEventInput(
        tenant_id=f"bench-{t}",
        work_order_id=f"wo-{w}",
        correlation_id=t * datasets.CORRELATION_STRIDE + w + 1,
        turn_id=2,
        event_type="FIELD_SET",
        work_order_status="DRAFT",
        reason_code=7,
        created_at=time.time_ns(),
        idempotency_key=str(uuid.uuid4()),
        payload={"field": "priority", "value": 3},
    )


def client_suite(bench: Bench) -> None:
    """Measure appends one call each, ``append_many`` in batches, pgbench on one connection.

    Then, in the first run only (it takes longest), 100,000 events through the CLI's
    ``append --jsonl``.
    """
    config = bench.config
    bench.ensure_dataset(APPEND_DB, bench.append_dataset(), bare=True)
    count, size = config.client_events, config.batch_size
    variables: dict[str, object] = {"tenants": config.tenants, "work_orders": config.work_orders}
    bench.log(f"client: {count:,} appends, batches of {size}, {config.runs} runs")
    with psycopg.connect(bench.cluster.conninfo(APPEND_DB, APP_ROLE), autocommit=True) as conn:
        repo = WorkOrderRepository(conn)
        for run in range(config.runs):
            bench.checkpoint(APPEND_DB)
            started = time.perf_counter()
            for number in range(count):
                repo.append(_field_set(config, number))
            _events_per_s(bench, "client.append_loop", count, time.perf_counter() - started)

            bench.checkpoint(APPEND_DB)
            started = time.perf_counter()
            for first in range(0, count, size):
                tenant = (first // size) % config.tenants + 1
                batch = [
                    _field_set(config, number, tenant)
                    for number in range(first, min(first + size, count))
                ]
                repo.append_many(batch)
            _events_per_s(bench, "client.append_many", count, time.perf_counter() - started)

            bench.pgbench(
                "client.pgbench", APPEND_DB, APP_ROLE, "append", 1, variables, transactions=count
            )

            if run == 0:
                bench.checkpoint(APPEND_DB)
                _append_jsonl(bench, JSONL_EVENTS_PER_CLIENT_EVENT * count)
    many, loop, pgbench_1c = "client.append_many", "client.append_loop", "client.pgbench"
    bench.add(
        bench.compare(
            f"{many}.events_per_s.batch{size}.vs_one_call_loop", many, loop, "events_per_s", 20.0
        ),
        # Absolute (the target, >= 10,000 events/s on this machine, is no ratio).
        metric(
            "client.append_jsonl.events_per_s",
            bench.med("client.append_jsonl", "events_per_s"),
            UNITS["events_per_s"],
        ),
        bench.compare(
            f"{loop}.events_per_s.vs_pgbench_1c",
            loop,
            pgbench_1c,
            "events_per_s",
            baseline_field="tps",
        ),
        bench.compare(
            f"{many}.events_per_s.batch{size}.vs_pgbench_1c",
            many,
            pgbench_1c,
            "events_per_s",
            baseline_field="tps",
        ),
    )


#: Events through ``append --jsonl`` per client-suite append (100,000 by default).
JSONL_EVENTS_PER_CLIENT_EVENT = 20


def _append_jsonl(bench: Bench, count: int) -> None:
    """``count`` events through the CLI's ``append --jsonl``, in a process of its own.

    The file is written first (not timed): FIELD_SET events as ``_field_set`` makes
    them, one tenant per run of ``batch_size`` lines, so that the CLI's batches are full.
    Timed: the whole command, the interpreter's start included.
    """
    config = bench.config
    with tempfile.TemporaryDirectory(prefix="selene-bench-jsonl-") as directory:
        path = Path(directory) / "events.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for number in range(count):
                tenant = (number // config.batch_size) % config.tenants + 1
                out.write(json.dumps(_field_set(config, number, tenant).to_dict()) + "\n")
        environment = {
            **os.environ,
            "SELENE_CORE_TABLES_DSN": bench.cluster.conninfo(APPEND_DB, APP_ROLE),
        }
        command = [
            sys.executable, "-c", "from selene_core_tables.cli import run; run()",
            "append", "--jsonl", str(path), "--batch-size", str(config.batch_size),
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0 or f"{count} appended" not in done.stdout:
        raise RuntimeError(f"append --jsonl failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    _events_per_s(bench, "client.append_jsonl", count, seconds)


def _events_per_s(bench: Bench, key: str, count: int, seconds: float) -> None:
    bench.record(key, {"seconds": seconds, "events_per_s": count / seconds})
    bench.log(f"  {key:<34} {count / seconds:>10.1f} events/s ({seconds:.2f} s)")


# -- rebuild ---------------------------------------------------------------------------


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
        label = _rows(dataset.total_events)
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


# -- growth ----------------------------------------------------------------------------


def _rows(count: int) -> str:
    """1_000_000 -> '1M', 100_000 -> '100k'."""
    for unit, size in (("M", 10**6), ("k", 10**3)):
        if count >= size and count % size == 0:
            return f"{count // size}{unit}"
    return str(count)


def growth_suite(bench: Bench) -> None:
    """Measure appends on the append data set's ledger and on one ``growth_factor`` x larger."""
    config = bench.config
    small = bench.append_dataset()
    large = datasets.Dataset("simple", config.tenants, config.work_orders, config.growth_factor)
    bench.ensure_dataset(APPEND_DB, small, bare=True)
    bench.ensure_dataset(LARGE_DB, large)
    variables: dict[str, object] = {"tenants": config.tenants, "work_orders": config.work_orders}
    names = {APPEND_DB: _rows(small.total_events), LARGE_DB: _rows(large.total_events)}
    bench.log(f"growth: {names[APPEND_DB]} vs {names[LARGE_DB]} ledger rows, {config.clients}")
    for dbname in (APPEND_DB, LARGE_DB):
        bench.warm_up(dbname, [(APP_ROLE, "append", variables)])
    for _ in range(config.runs):
        for clients in config.clients:
            for dbname in (APPEND_DB, LARGE_DB):
                key = f"append@{names[dbname]}.{clients}c"
                bench.pgbench(key, dbname, APP_ROLE, "append", clients, variables)
    for clients in config.clients:
        ours, base = f"append@{names[LARGE_DB]}.{clients}c", f"append@{names[APPEND_DB]}.{clients}c"
        label = f"{names[LARGE_DB]}_vs_{names[APPEND_DB]}_rows"
        bench.add(
            bench.compare(f"growth.append.tps.{clients}c.{label}", ours, base, "tps", 0.9),
            bench.compare(
                f"growth.append.p99_ms.{clients}c.{label}",
                ours,
                base,
                "p99_ms",
                1.2,
                lower_is_better=True,
            ),
        )


RUNNERS: dict[str, Callable[[Bench], None]] = {
    "read": read_suite,
    "append": append_suite,
    "client": client_suite,
    "network": network_suite,
    "follow": follow_suite,
    "rebuild": rebuild_suite,
    "growth": growth_suite,
    "citus": citus_suite,
}
"""Suite name -> the function that runs it."""


def cpu_count() -> int:
    """Return the number of CPUs this process may use."""
    return len(os.sched_getaffinity(0))
