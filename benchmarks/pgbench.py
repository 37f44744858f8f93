"""Running one pgbench custom script and reading its throughput and latency percentiles.

Every run: ``pgbench -n -M prepared -j 1`` over the cluster's Unix socket, for a duration
(``-T``) or a number of transactions per client (``-t``), with the script's variables as
``-D name=value``. TPS is pgbench's own figure (without the initial connection time);
p50 and p99 come from the per-transaction log (``--log``), every transaction of every
client, nearest rank. A run in which any client aborts raises :class:`PgbenchError`.
"""

from __future__ import annotations

import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cluster import BenchCluster

SCRIPTS = Path(__file__).resolve().parent / "pgbench"
"""The directory of the custom scripts."""

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


class PgbenchError(RuntimeError):
    """pgbench failed, or one of its clients aborted (an SQL error in the script)."""


@dataclass(frozen=True)
class PgbenchRun:
    """What one pgbench run measured."""

    tps: float
    """Transactions per second, without the initial connection time."""
    p50_ms: float
    """Median transaction latency, ms."""
    p99_ms: float
    """99th percentile transaction latency, ms."""
    transactions: int
    """Transactions in the log."""
    server_cpu_us_per_tx: float
    """CPU time of the whole cluster during the run, per transaction, µs."""
    client_cpu_us_per_tx: float
    """CPU time of pgbench itself, per transaction, µs."""
    wal_bytes_per_tx: float
    """WAL the cluster wrote during the run, per transaction, bytes.

    Full-page images included: every run starts after a checkpoint, so the first change
    to each page logs the whole page, and a run of fewer transactions spreads those
    over fewer of them. Compare ``wal_records_per_tx`` across scripts of unequal speed.
    """
    wal_records_per_tx: float
    """WAL records per transaction: what the transaction logs, whatever the run's length."""
    wal_fpi_per_tx: float
    """Full-page images among it, per transaction."""


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of sorted ``values`` (``fraction`` in 0..1)."""
    if not values:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def run(
    cluster: BenchCluster,
    dbname: str,
    user: str,
    script: str,
    *,
    clients: int,
    variables: Mapping[str, object],
    duration: float | None = None,
    transactions: int | None = None,
    address: tuple[str, int] | None = None,
) -> PgbenchRun:
    """Run ``benchmarks/pgbench/<script>.sql`` and return its TPS and latencies.

    Give ``duration`` (seconds, ``-T``) or ``transactions`` (per client, ``-t``).
    ``address`` (host, port) connects there over TCP (a latency proxy) instead of the
    cluster's Unix socket.
    Raises PgbenchError when pgbench exits non-zero or reports failed transactions.
    """
    with tempfile.TemporaryDirectory(prefix="selene-pgbench-") as logdir:
        prefix = Path(logdir) / "tx"
        command = [
            str(cluster.pgbench_path()),
            "--no-vacuum",
            "--protocol=prepared",
            f"--client={clients}",
            "--jobs=1",
            f"--file={SCRIPTS / f'{script}.sql'}",
            "--log",
            f"--log-prefix={prefix}",
            f"--host={address[0] if address else cluster.host}",
            f"--port={address[1] if address else 5432}",
            f"--username={user}",
        ]
        if duration is not None:
            command.append(f"--time={max(1, round(duration))}")
        elif transactions is not None:
            command.append(f"--transactions={transactions}")
        else:
            raise ValueError("give a duration or a number of transactions")
        command += [f"--define={name}={value}" for name, value in variables.items()]
        command.append(dbname)
        before = cluster.backend_pids()
        wal_bytes, wal_records, wal_fpi = cluster.wal_written()
        server_cpu = cluster.server_cpu_seconds()
        client_cpu = _children_cpu_seconds()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        client_cpu = _children_cpu_seconds() - client_cpu
        if not _wait_for_exit(cluster, before, user):
            print(
                f"warning: pgbench {script}: backends still running 5 s after it ended;"
                " this run's CPU and WAL per transaction may be short",
                file=sys.stderr,
            )
        server_cpu = cluster.server_cpu_seconds() - server_cpu
        wal_bytes_after, wal_records_after, wal_fpi_after = cluster.wal_written()
        output = result.stdout + result.stderr
        failed = _FAILED.search(output)
        if result.returncode != 0 or (failed is not None and int(failed.group(1)) > 0):
            raise PgbenchError(f"pgbench {script} failed (exit {result.returncode}):\n{output}")
        tps = _TPS.search(output)
        if tps is None:
            raise PgbenchError(f"pgbench {script}: no tps in its output:\n{output}")
        latencies = sorted(_latencies_us(Path(logdir)))
    if not latencies:
        raise PgbenchError(f"pgbench {script}: no transaction logged:\n{output}")
    return PgbenchRun(
        tps=float(tps.group(1)),
        p50_ms=percentile(latencies, 0.50) / 1000,
        p99_ms=percentile(latencies, 0.99) / 1000,
        transactions=len(latencies),
        server_cpu_us_per_tx=server_cpu * 1e6 / len(latencies),
        client_cpu_us_per_tx=client_cpu * 1e6 / len(latencies),
        wal_bytes_per_tx=(wal_bytes_after - wal_bytes) / len(latencies),
        wal_records_per_tx=(wal_records_after - wal_records) / len(latencies),
        wal_fpi_per_tx=(wal_fpi_after - wal_fpi) / len(latencies),
    )


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_for_exit(
    cluster: BenchCluster, before: set[int], user: str, timeout: float = 5.0
) -> bool:
    """Wait until the backends pgbench started have exited and been reaped.

    A backend's CPU time moves into the postmaster's ``cutime`` only when the postmaster
    reaps it; one reaped while :meth:`BenchCluster.server_cpu_seconds` walks ``/proc``
    can be missed, which made some runs' CPU per transaction a third too low. So a
    zombie child counts as still running. Returns False when ``timeout`` ran out first.
    """
    title = f"postgres: {user} ".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        remaining = False
        for pid, state in cluster.children().items():
            if pid in before:
                continue
            remaining |= state == "Z"
            try:
                remaining |= Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title)
            except OSError:
                continue
        if not remaining:
            return True
        time.sleep(0.02)
    return False


def _latencies_us(logdir: Path) -> list[float]:
    """Read the latency column (µs) of every pgbench per-transaction log in ``logdir``."""
    latencies: list[float] = []
    for log in logdir.glob("tx.*"):
        with log.open(encoding="ascii") as lines:
            for line in lines:
                # client_id transaction_no time script_no time_epoch time_us [...]
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(float(fields[2]))
    return latencies
