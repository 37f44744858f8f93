"""The benchmark harness: configuration, profiles, the run's state and its shared steps.

:class:`Bench` holds the cluster, the configuration and what has been measured: it
loads the data sets (``ensure_dataset``), runs pgbench (``pgbench``, ``warm_up``), keeps
each run's figures (``record``, ``med``) and turns them into metrics against a baseline
(``compare``, ``throughput_metrics``, ``add``). The suites are in their own modules
(:mod:`benchmarks.suites` lists them); a suite is a function of a :class:`Bench`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks import datasets, pgbench
from benchmarks.cluster import APP_ROLE, BenchCluster
from benchmarks.report import Metric, median, metric
from selene_core_tables.migrate import reinstall_sql

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
    citus_runs: int = field(default=0)
    """Measurements per figure of the ``citus`` suite; 0: ``runs``."""
    citus_duration: float = field(default=0)
    """Seconds per pgbench run of the ``citus`` suite; 0: ``duration``."""

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
        # The Citus figures are far from their targets and move with the machine by more
        # than their runs differ: two runs of 3 s each side keep the suite under 1 minute.
        citus_runs=2,
        citus_duration=3,
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


def rows_label(count: int) -> str:
    """1_000_000 -> '1M', 100_000 -> '100k'."""
    for unit, size in (("M", 10**6), ("k", 10**3)):
        if count >= size and count % size == 0:
            return f"{count // size}{unit}"
    return str(count)


def cpu_count() -> int:
    """Return the number of CPUs this process may use."""
    return len(os.sched_getaffinity(0))
