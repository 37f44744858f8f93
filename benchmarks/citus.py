"""The ``citus`` suite: append and current read through a Citus coordinator, against one node.

A Citus cluster of three PostgreSQL servers of this machine (a coordinator and two
workers, each a :class:`~benchmarks.cluster.BenchCluster` in its own directory under the
run's, Unix sockets only: the socket directories are the Citus node names) holds the
``simple`` data set of ``citus_work_orders`` work orders per tenant, distributed by the
migrations as in production (docs/scaling.md). The single-node twin is the same data set
in a database of the run's main cluster. Each run measures both, interleaved (the order
flips every run), with the same pgbench scripts as the ``append`` and ``read`` suites,
at one client and at the highest client count.

Metrics, Citus against the single node: TPS, p50, p99 and server CPU per transaction
(all three servers' CPU on Citus), and the hop: the p50 Citus adds at one client, in ms,
against a budget of 0.5 ms (``citus.<script>.hop_p50_ms.1c``, ratio = added / budget).

Without Citus installed (``scripts/install-citus.sh``) the suite says so and measures
nothing.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from benchmarks import datasets, pgbench
from benchmarks.cluster import APP_ROLE, DBA_ROLE, SUPERUSER, BenchCluster
from benchmarks.report import metric
from selene_core_tables.migrate import apply_migrations
from selene_core_tables.server import hand_over

if TYPE_CHECKING:
    from benchmarks.harness import Bench

CITUS_DB = "bench_citus"
"""The database of the suite, on the Citus cluster and (the twin) on the main cluster."""

HOP_BUDGET_MS = 0.5
"""What the hop to a worker may add to the p50 of one call at one client (issue 11)."""

SCRIPTS = ("append", "current_read")
"""The pgbench scripts measured on both sides."""

NODE_SETTINGS = {
    "shared_preload_libraries": "citus",
    # A transaction over several workers commits by two-phase commit.
    "max_prepared_transactions": "100",
}


def citus_installed(cluster: BenchCluster) -> bool:
    """Return whether the PostgreSQL installation of ``cluster`` has the Citus extension."""
    with cluster.connect("postgres") as conn:
        found = conn.execute(
            "SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'citus'"
        ).fetchone()
    return found is not None


class CitusBenchCluster:
    """A coordinator and two workers, run like the main cluster; pgbench talks to the coordinator.

    It offers what :func:`benchmarks.pgbench.run` needs of a cluster: the coordinator's
    host and pgbench, and the CPU, WAL and backends of all three servers together.
    """

    def __init__(self, workdir: Path) -> None:
        """Keep the three servers in ``workdir``/coordinator, worker-1 and worker-2."""
        self.coordinator = BenchCluster(workdir / "coordinator", NODE_SETTINGS)
        self.workers = [BenchCluster(workdir / f"worker-{n}", NODE_SETTINGS) for n in (1, 2)]

    @property
    def nodes(self) -> list[BenchCluster]:
        """The coordinator, then the workers."""
        return [self.coordinator, *self.workers]

    @property
    def host(self) -> str:
        """The coordinator's socket directory."""
        return self.coordinator.host

    def conninfo(self, dbname: str, user: str = SUPERUSER) -> str:
        """Return a libpq URI for ``dbname`` on the coordinator."""
        return self.coordinator.conninfo(dbname, user)

    def connect(self, dbname: str, user: str = SUPERUSER, **kwargs: Any) -> psycopg.Connection:
        """Open an autocommit connection to ``dbname`` on the coordinator."""
        return self.coordinator.connect(dbname, user, **kwargs)

    def pgbench_path(self) -> Path:
        """Return the pgbench binary."""
        return self.coordinator.pgbench_path()

    def server_cpu_seconds(self) -> float:
        """Return the CPU time the three servers have used so far."""
        return sum(node.server_cpu_seconds() for node in self.nodes)

    def wal_written(self) -> tuple[int, int, int]:
        """Return the WAL the three servers have written so far (bytes, records, FPIs)."""
        totals = [node.wal_written() for node in self.nodes]
        return (
            sum(t[0] for t in totals),
            sum(t[1] for t in totals),
            sum(t[2] for t in totals),
        )

    def backend_pids(self) -> set[int]:
        """Return the live children of the three postmasters."""
        return set(self.children())

    def children(self) -> dict[int, str]:
        """Return the children of the three postmasters: pid -> state."""
        found: dict[int, str] = {}
        for node in self.nodes:
            found.update(node.children())
        return found

    def start(self) -> None:
        """Start the three servers (initdb the first time)."""
        for node in self.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            node.workdir.chmod(0o700)
            hand_over(node.workdir)
            node.start()

    def stop(self) -> None:
        """Stop the three servers."""
        for node in self.nodes:
            node.stop()

    def checkpoint(self, dbname: str) -> None:
        """CHECKPOINT every server, so that a run starts from clean buffers on each."""
        for node in self.nodes:
            node.checkpoint(dbname)

    def create_database(self, dbname: str) -> None:
        """Create ``dbname`` on every node with Citus, add the workers, migrate, add the roles.

        As docs/scaling.md says: the extension on every node, the workers added on the
        coordinator (which keeps no shard), the migrations on the coordinator only (they
        distribute the tables); the login roles are created on the coordinator, which
        propagates them.
        """
        for node in self.nodes:
            with node.connect("postgres") as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dbname)))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            with node.connect(dbname) as conn:
                conn.execute("CREATE EXTENSION citus")
        with self.connect(dbname) as conn:
            conn.execute("SELECT citus_set_coordinator_host(%s, 5432)", [self.coordinator.host])
            for worker in self.workers:
                conn.execute("SELECT citus_add_node(%s, 5432)", [worker.host])
        apply_migrations(self.conninfo(dbname))
        with self.connect(dbname) as conn:
            for role, group in ((APP_ROLE, "selene_os"), (DBA_ROLE, "selene_dba")):
                exists = conn.execute(
                    "SELECT FROM pg_catalog.pg_roles WHERE rolname = %s", [role]
                ).fetchone()
                if exists is None:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                            sql.Identifier(role), sql.Identifier(group)
                        )
                    )

    def placement(self, dbname: str) -> str:
        """Say how the tables are distributed; raise when not as the migrations leave them.

        Every table of the product with a tenant_id column hash-distributed, in one
        co-location group, every shard on a worker.
        """
        with self.connect(dbname) as conn:
            row = conn.execute(
                """
                SELECT
                    (SELECT count(*) FROM pg_catalog.pg_attribute AS a
                     JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
                     WHERE c.relnamespace::regnamespace::text IN ('os_core', 'ph1j')
                       AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                       AND a.attname = 'tenant_id' AND NOT a.attisdropped),
                    count(DISTINCT p.logicalrelid),
                    count(DISTINCT p.colocationid),
                    count(DISTINCT s.nodename) FILTER (WHERE s.nodename <> %s),
                    count(*) FILTER (WHERE s.nodename = %s)
                FROM pg_dist_partition AS p
                JOIN citus_shards AS s ON s.table_name = p.logicalrelid
                WHERE p.partmethod = 'h'
                """,
                [self.coordinator.host, self.coordinator.host],
            ).fetchone()
        assert row is not None
        expected, tables, groups, workers, on_coordinator = row
        if (tables, groups, workers, on_coordinator) != (expected, 1, len(self.workers), 0):
            raise RuntimeError(
                f"{dbname} is not distributed as the migrations leave it: {tables} of"
                f" {expected} tenant tables in {groups} co-location groups on {workers}"
                f" workers, {on_coordinator} shards on the coordinator"
            )
        return (
            f"{tables} tables distributed by tenant_id in one co-location group"
            f" on {workers} workers"
        )

    def holds(self, dataset: datasets.Dataset, dbname: str = CITUS_DB) -> bool:
        """Return whether ``dbname`` exists on the coordinator with ``dataset`` loaded."""
        with self.connect("postgres") as conn:
            exists = conn.execute(
                "SELECT FROM pg_catalog.pg_database WHERE datname = %s", [dbname]
            ).fetchone()
        if exists is None:
            return False
        with self.connect(dbname) as conn:
            return datasets.loaded(conn) == dataset


@contextlib.contextmanager
def citus_cluster(workdir: Path, *, keep: bool) -> Iterator[CitusBenchCluster]:
    """Start the Citus cluster in ``workdir`` for the block; stop (and remove) it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    hand_over(workdir)
    cluster = CitusBenchCluster(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def citus_suite(bench: Bench) -> None:
    """Append and current read through the coordinator against the single-node twin."""
    config = bench.config
    if not citus_installed(bench.cluster):
        bench.log("citus: skipped, Citus is not installed (scripts/install-citus.sh)")
        return
    dataset = datasets.Dataset("simple", config.tenants, config.citus_work_orders, 1)
    bench.ensure_dataset(CITUS_DB, dataset)
    top = config.max_clients
    client_counts = sorted({1, top})
    variables: dict[str, object] = {
        "tenants": config.tenants,
        "work_orders": config.citus_work_orders,
    }
    with citus_cluster(bench.cluster.workdir / "citus", keep=bench.keep_data) as citus:
        if citus.holds(dataset):
            bench.log(f"reusing {CITUS_DB} on Citus: {dataset}")
        else:
            bench.log(f"loading {CITUS_DB} on Citus: {dataset}")
            citus.create_database(CITUS_DB)
            with citus.connect(CITUS_DB) as conn:
                datasets.load(conn, dataset, log=bench.log)
        bench.log(f"citus: {citus.placement(CITUS_DB)}")
        runs = config.citus_runs or config.runs
        duration = config.citus_duration or config.duration
        bench.log(
            f"citus: {', '.join(SCRIPTS)} at {client_counts} clients,"
            f" {runs} x {duration:g} s on each side"
        )
        sides: list[tuple[str, BenchCluster | CitusBenchCluster]] = [
            ("single", bench.cluster),
            ("citus", citus),
        ]
        if config.warmup > 0:
            for _, cluster in sides:
                for script in SCRIPTS:
                    _pgbench(bench, cluster, script, top, variables, config.warmup)
        for run in range(runs):
            # Drift over the run (the machine's other work) falls on both sides alike.
            for side, cluster in sides if run % 2 == 0 else reversed(sides):
                for clients in client_counts:
                    for script in SCRIPTS:
                        coordinator_cpu = citus.coordinator.server_cpu_seconds()
                        result = _pgbench(bench, cluster, script, clients, variables, duration)
                        coordinator_cpu = citus.coordinator.server_cpu_seconds() - coordinator_cpu
                        key = f"{side}.{script}.{clients}c"
                        figures = asdict(result)
                        if side == "citus":
                            figures["coordinator_cpu_us_per_tx"] = (
                                coordinator_cpu * 1e6 / result.transactions
                            )
                        bench.record(f"citus_suite.{key}", figures)
                        bench.log(
                            f"  {key:<34} {result.tps:>10.1f} tps  p50 {result.p50_ms:7.3f} ms"
                            f"  p99 {result.p99_ms:7.3f} ms"
                        )
    for script in SCRIPTS:
        for clients in client_counts:
            ours = f"citus_suite.citus.{script}.{clients}c"
            twin = f"citus_suite.single.{script}.{clients}c"
            target = 0.5 if clients == top and clients > 1 else None
            bench.add(bench.compare(f"citus.{script}.tps.{clients}c", ours, twin, "tps", target))
            for field_name in ("p50_ms", "p99_ms", "server_cpu_us_per_tx"):
                bench.add(
                    bench.compare(
                        f"citus.{script}.{field_name}.{clients}c",
                        ours,
                        twin,
                        field_name,
                        lower_is_better=True,
                    )
                )
            # What one coordinator spends per call, against the single node's whole call:
            # on a real cluster the workers add CPUs, the coordinator does not.
            bench.add(
                bench.compare(
                    f"citus.{script}.coordinator_cpu_us_per_tx.{clients}c",
                    ours,
                    twin,
                    "coordinator_cpu_us_per_tx",
                    lower_is_better=True,
                    baseline_field="server_cpu_us_per_tx",
                )
            )
        single_p50 = bench.med(f"citus_suite.single.{script}.1c", "p50_ms")
        citus_p50 = bench.med(f"citus_suite.citus.{script}.1c", "p50_ms")
        bench.add(
            metric(
                f"citus.{script}.hop_p50_ms.1c.vs_budget",
                max(citus_p50 - single_p50, 0.0),
                "ms",
                HOP_BUDGET_MS,
                1.0,
                lower_is_better=True,
            )
        )


def _pgbench(
    bench: Bench,
    cluster: BenchCluster | CitusBenchCluster,
    script: str,
    clients: int,
    variables: dict[str, object],
    duration: float | None = None,
) -> pgbench.PgbenchRun:
    """Run ``script`` on ``cluster`` (the main one or the Citus one) after a checkpoint."""
    cluster.checkpoint(CITUS_DB)
    return pgbench.run(
        cluster,
        CITUS_DB,
        APP_ROLE,
        script,
        clients=clients,
        variables={**variables, "clients": clients},
        duration=duration or bench.config.duration,
    )
