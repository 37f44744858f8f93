"""The ``network`` suite: ours and the bare statements through a link with 0.25 ms each way.

The other suites talk over the cluster's Unix socket, where a round trip costs a few
microseconds: four round trips per call or one look the same there. A service talks to
its database over a network. This suite puts :class:`~benchmarks.latency_proxy.LatencyProxy`
in front of the cluster (0.25 ms each way, a 0.5 ms round trip: two hosts in one data
centre) and measures, at one client, latency p50 and p99 of

* pgbench: the append as the client sends it (``append_pipelined``: one round trip),
  the same four statements one at a time (``append``: four), against the bare
  autocommit INSERT; the current read in one round trip against the PK lookup;
* the Python client (``WorkOrderRepository`` over a DSN): a keyed ``append`` and
  ``current`` against the same INSERT and SELECT sent by psycopg on its own.

Each pair runs side by side, its order flipped from one run to the next.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psycopg

from benchmarks.append_data import APPEND_DB, field_set
from benchmarks.cluster import APP_ROLE, PORT, SUPERUSER
from benchmarks.latency_proxy import LatencyProxy
from benchmarks.pgbench import percentile
from selene_core_tables import WorkOrderLedgerEventInput, WorkOrderRepository

if TYPE_CHECKING:
    from benchmarks.harness import Bench

DELAY = 0.00025
"""Seconds the proxy adds in each direction."""
CLIENT_CALLS = 400
"""Calls of each kind per run of the Python client's measurement."""
PGBENCH_SECONDS = 3.0
"""Seconds of each pgbench run (one client: a few thousand transactions)."""

_BARE_INSERT = (
    "INSERT INTO bench.bare_ledger (tenant_id, work_order_id, correlation_id, turn_id, "
    "event_type, work_order_status, reason_code, created_at, idempotency_key, payload) "
    "VALUES (%(tenant_id)s, %(work_order_id)s, %(correlation_id)s, %(turn_id)s, "
    "%(event_type)s, %(work_order_status)s, %(reason_code)s, %(created_at)s, "
    "%(idempotency_key)s, %(payload)s)"
)
_PK_LOOKUP = "SELECT * FROM os_core.work_orders_current WHERE tenant_id = %s AND work_order_id = %s"

#: (key, user, script) of the pgbench runs; each ``ours`` is compared with its baseline.
_PGBENCH_JOBS = (
    ("network.bare_insert", SUPERUSER, "bare_insert"),
    ("network.append", APP_ROLE, "append_pipelined"),
    ("network.append_four_round_trips", APP_ROLE, "append"),
    ("network.pk_lookup", SUPERUSER, "pk_lookup"),
    ("network.current_read", APP_ROLE, "current_read_pipelined"),
)
#: (ours, baseline, target of the p50 ratio).
_COMPARISONS = (
    ("network.append", "network.bare_insert", 1.5),
    ("network.append_four_round_trips", "network.bare_insert", None),
    ("network.current_read", "network.pk_lookup", None),
    ("network.client.append", "network.client.bare_insert", 1.5),
    ("network.client.current_read", "network.client.pk_lookup", None),
)


def network_suite(bench: Bench) -> None:
    """Latency at one client through the proxy: pgbench and the Python client."""
    config = bench.config
    bench.ensure_dataset(APPEND_DB, bench.append_dataset(), bare=True)
    variables: dict[str, object] = {"tenants": config.tenants, "work_orders": config.work_orders}
    seconds = min(config.duration, PGBENCH_SECONDS)
    bench.log(
        f"network: {DELAY * 1000:g} ms each way, 1 client, {config.runs} x {seconds:g} s, "
        f"{CLIENT_CALLS} client calls of each kind"
    )
    with LatencyProxy(f"{bench.cluster.host}/.s.PGSQL.{PORT}", DELAY) as proxy:
        address = ("127.0.0.1", proxy.port)
        for run in range(config.runs):
            for key, user, script in _PGBENCH_JOBS if run % 2 == 0 else reversed(_PGBENCH_JOBS):
                bench.pgbench(
                    f"{key}.1c", APPEND_DB, user, script, 1, variables,
                    duration=seconds, address=address,
                )  # fmt: skip
            _client_round(bench, address, APPEND_DB, flipped=run % 2 == 1)
    for ours, baseline, target in _COMPARISONS:
        for field_name in ("p50_ms", "p99_ms"):
            bench.add(
                bench.compare(
                    f"{ours}.{field_name}.1c",
                    f"{ours}.1c",
                    f"{baseline}.1c",
                    field_name,
                    target if field_name == "p50_ms" else None,
                    lower_is_better=True,
                )
            )


def _key(event: WorkOrderLedgerEventInput) -> list[str]:
    return [event.tenant_id, event.work_order_id]


def _client_round(bench: Bench, address: tuple[str, int], dbname: str, *, flipped: bool) -> None:
    """One run of the Python client's calls and psycopg's bare statements, alternating."""
    host, port = address
    latencies: dict[str, list[float]] = {
        name: [] for name in ("append", "bare_insert", "current_read", "pk_lookup")
    }
    with (
        WorkOrderRepository(f"postgresql://{APP_ROLE}@{host}:{port}/{dbname}") as repo,
        psycopg.connect(
            f"postgresql://{SUPERUSER}@{host}:{port}/{dbname}", autocommit=True
        ) as bare,
    ):
        repo.current("bench-1", "wo-0")  # connects before the clock starts
        for number in range(CLIENT_CALLS):
            event = field_set(bench.config, number)
            twin = field_set(bench.config, number).to_dict()
            twin["payload"] = psycopg.types.json.Jsonb(twin["payload"])
            calls = [
                ("append", lambda e=event: repo.append(e)),
                ("bare_insert", lambda t=twin: bare.execute(_BARE_INSERT, t)),
                ("current_read", lambda e=event: repo.current(e.tenant_id, e.work_order_id)),
                ("pk_lookup", lambda e=event: bare.execute(_PK_LOOKUP, _key(e)).fetchall()),
            ]
            for name, call in reversed(calls) if flipped else calls:
                started = time.perf_counter()
                call()
                latencies[name].append(time.perf_counter() - started)
    for name, values in latencies.items():
        values.sort()
        key = f"network.client.{name}.1c"
        run = {"p50_ms": percentile(values, 0.5) * 1000, "p99_ms": percentile(values, 0.99) * 1000}
        bench.record(key, run)
        bench.log(f"  {key:<34} p50 {run['p50_ms']:7.3f} ms  p99 {run['p99_ms']:7.3f} ms")
