"""The ``read`` suite: current read vs primary-key lookup, ledger page vs range scan.

Each of ours also runs with row-level security disabled (RLS overhead).
"""

from __future__ import annotations

from benchmarks.append_data import APPEND_DB
from benchmarks.cluster import APP_ROLE, SUPERUSER
from benchmarks.harness import Bench, policies_disabled, rls_metrics


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
