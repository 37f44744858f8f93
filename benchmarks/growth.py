"""The ``growth`` suite: appends on the append data set's ledger and on one ten times larger."""

from __future__ import annotations

from benchmarks import datasets
from benchmarks.append_data import APPEND_DB
from benchmarks.cluster import APP_ROLE
from benchmarks.harness import Bench, rows_label

LARGE_DB = "bench_large"
"""Database of the ``simple`` data set with ten events a work order: growth."""


def growth_suite(bench: Bench) -> None:
    """Measure appends on the append data set's ledger and on one ``growth_factor`` x larger."""
    config = bench.config
    small = bench.append_dataset()
    large = datasets.Dataset("simple", config.tenants, config.work_orders, config.growth_factor)
    bench.ensure_dataset(APPEND_DB, small, bare=True)
    bench.ensure_dataset(LARGE_DB, large)
    variables: dict[str, object] = {"tenants": config.tenants, "work_orders": config.work_orders}
    names = {APPEND_DB: rows_label(small.total_events), LARGE_DB: rows_label(large.total_events)}
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
