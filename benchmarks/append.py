"""The ``append`` suite: the append against a bare single-row INSERT at every client count.

At the highest count also without row-level security, and against the bare INSERT and
the append's three writes in the append's own transaction.
"""

from __future__ import annotations

from benchmarks.append_data import APPEND_DB
from benchmarks.cluster import APP_ROLE, SUPERUSER
from benchmarks.harness import Bench, policies_disabled, rls_metrics


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
