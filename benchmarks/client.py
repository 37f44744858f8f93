"""The ``client`` suite: the Python client's appends, one call each and in batches.

Against pgbench on one connection, and 100,000 events through the CLI's
``append --jsonl``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.append_data import APPEND_DB, field_set
from benchmarks.cluster import APP_ROLE
from benchmarks.harness import UNITS, Bench
from benchmarks.report import metric
from selene_core_tables import WorkOrderRepository


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
                repo.append(field_set(config, number))
            _events_per_s(bench, "client.append_loop", count, time.perf_counter() - started)

            bench.checkpoint(APPEND_DB)
            started = time.perf_counter()
            for first in range(0, count, size):
                tenant = (first // size) % config.tenants + 1
                batch = [
                    field_set(config, number, tenant)
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

    The file is written first (not timed): FIELD_SET events as ``field_set`` makes
    them, one tenant per run of ``batch_size`` lines, so that the CLI's batches are full.
    Timed: the whole command, the interpreter's start included.
    """
    config = bench.config
    with tempfile.TemporaryDirectory(prefix="selene-bench-jsonl-") as directory:
        path = Path(directory) / "events.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for number in range(count):
                tenant = (number // config.batch_size) % config.tenants + 1
                out.write(json.dumps(field_set(config, number, tenant).to_dict()) + "\n")
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
