"""Profiling the hot path, and measuring a proposed change against the checkout's SQL.

``python -m benchmarks profile [--script append] [--clients 8] [--duration 10]``
    Starts a cluster with ``pg_stat_statements`` (``track = all``, so the statements
    inside the PL/pgSQL functions are counted one by one) and ``track_functions = all``,
    loads the append data set, runs the script, and prints per statement its calls,
    mean time and share of the total; per function its self and total time; and the
    plan of every statement of one call, captured by ``auto_explain`` (nested
    statements, ``ANALYZE``, ``BUFFERS``) at NOTICE level.

``python -m benchmarks ab PATCH.sql [PATCH.sql ...] [--script append] [--rounds 5]``
    Runs the script with the SQL of this checkout (``sql/`` installed again) and with
    each patch applied on top, alternately, ``--rounds`` times, and prints the medians
    of TPS, p99 and the server's CPU time per transaction, with each variant's ratio to
    the checkout's. CPU per transaction is the figure to trust on a busy machine: it
    does not depend on what else runs.

Both reuse ``--workdir`` when given (``--keep`` leaves the cluster running).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from benchmarks import pgbench
from benchmarks.append_data import APPEND_DB
from benchmarks.cluster import APP_ROLE, SUPERUSER, BenchCluster, throwaway_cluster
from benchmarks.harness import PROFILES, Bench
from benchmarks.report import median
from selene_core_tables.resources import resource_dir

_USERS = {
    "append": APP_ROLE,
    "append_pipelined": APP_ROLE,
    "bare_insert_in_transaction": SUPERUSER,
    "bare_append_writes_in_transaction": SUPERUSER,
    "current_read": APP_ROLE,
    "current_read_pipelined": APP_ROLE,
    "ledger_read": APP_ROLE,
    "bare_insert": SUPERUSER,
    "pk_lookup": SUPERUSER,
    "pk_lookup_in_transaction": SUPERUSER,
    "range_scan": SUPERUSER,
}

_ONE_APPEND = """
SELECT os_core.set_tenant('bench-1');
SELECT * FROM os_core.work_order_ledger_append(
    p_tenant_id => 'bench-1', p_work_order_id => 'wo-7', p_correlation_id => 10000008,
    p_turn_id => 2, p_event_type => 'FIELD_SET', p_work_order_status => 'DRAFT',
    p_reason_code => 7,
    p_created_at => (extract(EPOCH FROM clock_timestamp()) * 1000000)::bigint * 1000,
    p_idempotency_key => gen_random_uuid()::text,
    p_payload => '{"field": "priority", "value": 3}');
"""


def install_sql(conn: psycopg.Connection) -> None:
    """Install ``sql/`` as the migrations' post-apply hook does (every file is idempotent)."""
    directory = resource_dir("sql")
    for name in (directory / "install-order.txt").read_text(encoding="utf-8").splitlines():
        name = name.strip()
        if name and not name.startswith("#"):
            conn.execute((directory / name).read_text(encoding="utf-8"))


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {command}")
    if command == "ab":
        parser.add_argument(
            "variants",
            nargs="+",
            help="each a variant: PATCH.sql, PATCH.sql+PATCH.sql (applied together), "
            "script:NAME (another script of benchmarks/pgbench with the checkout's SQL), "
            "or PATCH.sql@NAME (a patch and another script)",
        )
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument(
            "--reset", type=Path, help="SQL run before every variant (undoes what a patch did)"
        )
    parser.add_argument("--script", default="append", choices=sorted(_USERS))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--work-orders", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    if command == "profile":
        parser.add_argument(
            "--perf",
            action="store_true",
            help="also sample the script's backends with perf (Linux; needs perf and the "
            "right to trace them) and print the functions with the most time, callees included",
        )
    return parser


def _bench(cluster: BenchCluster, args: argparse.Namespace) -> Bench:
    import dataclasses

    config = dataclasses.replace(
        PROFILES["default"], tenants=args.tenants, work_orders=args.work_orders, warmup=0
    )
    bench = Bench(cluster, config, print)
    bench.ensure_dataset(APPEND_DB, bench.append_dataset(), bare=True)
    return bench


def _variables(bench: Bench) -> dict[str, object]:
    config = bench.config
    return {
        "tenants": config.tenants,
        "work_orders": config.work_orders,
        "max_after": max(0, bench.append_dataset().total_events - 2 * config.page * config.tenants),
        "page": config.page,
    }


def profile(args: argparse.Namespace) -> int:
    """Run one script under pg_stat_statements and print where its time goes."""
    settings = {
        "shared_preload_libraries": "pg_stat_statements",
        "pg_stat_statements.track": "all",
        "pg_stat_statements.max": "10000",
        "track_functions": "all",
    }
    with throwaway_cluster(args.workdir, keep=args.keep, settings=settings) as cluster:
        bench = _bench(cluster, args)
        with cluster.connect(APPEND_DB) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
            conn.execute("SELECT pg_stat_reset()")
        sampler = _PerfSampler(cluster, _USERS[args.script], args.duration) if args.perf else None
        run = bench.pgbench(
            args.script, APPEND_DB, _USERS[args.script], args.script, args.clients,
            _variables(bench), duration=args.duration,
        )  # fmt: skip
        if sampler is not None:
            sampler.report()
        with cluster.connect(APPEND_DB) as conn:
            _print_statements(conn, run.transactions)
            _print_functions(conn, run.transactions)
        if args.script == "append":
            _print_plans(cluster)
    return 0


class _PerfSampler:
    """``perf record -g`` of one role's backends during a run, started in the background.

    It waits a second for pgbench's backends to connect, samples them for the rest of
    the run but a second, then :meth:`report` prints the symbols with the largest share
    of samples, callees included (``perf report --children``): where the CPU goes
    inside PostgreSQL (executor start-up, constraint checks, planning, WAL, ...).
    """

    def __init__(self, cluster: BenchCluster, user: str, duration: float) -> None:
        self._output = Path(tempfile.mkdtemp(prefix="selene-perf-")) / "perf.data"
        self._error = ""
        self._thread = threading.Thread(
            target=self._record, args=(cluster, user, max(1.0, duration - 2)), daemon=True
        )
        self._thread.start()

    def _record(self, cluster: BenchCluster, user: str, seconds: float) -> None:
        time.sleep(1)
        pids = [str(pid) for pid in cluster.children() if _is_backend_of(pid, user)]
        if not pids:
            self._error = f"no backend of {user} to sample"
            return
        command = ["perf", "record", "-F", "997", "-g", "-o", str(self._output)]
        command += ["-p", ",".join(pids), "--", "sleep", f"{seconds:g}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as error:
            self._error = f"perf could not run: {error}"
            return
        if done.returncode != 0:
            self._error = f"perf record failed: {done.stderr.strip()[-500:]}"

    def report(self, top: int = 40) -> None:
        self._thread.join()
        if self._error:
            print(f"\nperf: {self._error}")
            return
        command = ["perf", "report", "-i", str(self._output), "--children", "--sort", "symbol"]
        command += ["--stdio", "-g", "none", "--percent-limit", "0.5"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if "%" in line and line[:1] != "#"]
        print(f"\nperf: the {top} symbols with the most samples, callees included (% of all)")
        for line in lines[:top]:
            print(line.rstrip())


def _is_backend_of(pid: int, user: str) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(f"postgres: {user} ".encode())
    except OSError:  # it exited meanwhile
        return False


def _print_statements(conn: psycopg.Connection, transactions: int) -> None:
    rows = conn.execute(
        """
        SELECT calls, total_exec_time, toplevel, regexp_replace(query, '\\s+', ' ', 'g')
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND calls >= %s
        ORDER BY toplevel DESC, total_exec_time DESC
        """,
        [max(1, transactions // 2)],
    ).fetchall()
    top = sum(total for _, total, toplevel, _ in rows if toplevel) or 1.0
    print(f"\nstatements ({transactions} transactions; time = execution, nested included)")
    print(f"{'calls':>8} {'mean µs':>9} {'% top':>6}  level   statement")
    for calls, total, toplevel, query in rows:
        level = "top" if toplevel else "nested"
        share = 100 * total / top
        print(f"{calls:>8} {total * 1000 / calls:>9.1f} {share:>6.1f}  {level:<7} {query[:110]}")


def _print_functions(conn: psycopg.Connection, transactions: int) -> None:
    rows = conn.execute(
        """
        SELECT schemaname || '.' || funcname, calls, total_time, self_time
        FROM pg_stat_user_functions WHERE calls > 0 ORDER BY total_time DESC
        """
    ).fetchall()
    print("\nfunctions (PL/pgSQL and non-inlined SQL; per call, µs)")
    print(f"{'calls':>8} {'total':>9} {'self':>9}  function")
    for name, calls, total, self_time in rows:
        print(f"{calls:>8} {total * 1000 / calls:>9.1f} {self_time * 1000 / calls:>9.1f}  {name}")


def _print_plans(cluster: BenchCluster) -> None:
    """Print the plan of every statement of one append (auto_explain, nested, at NOTICE)."""
    notices: list[str] = []
    with cluster.connect(APPEND_DB, SUPERUSER, autocommit=False) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_timing = on",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_level = notice",
        ):
            conn.execute(setting)
        for _ in range(6):  # PL/pgSQL switches to generic plans after five calls
            notices.clear()
            conn.execute(_ONE_APPEND)
            conn.commit()
    print("\nplans of one append's statements (the sixth call: generic plans)")
    for notice in notices:
        print(re.sub(r"^duration: ", "-- duration: ", notice))


def ab(args: argparse.Namespace) -> int:
    """Alternate the checkout's SQL and each patch; print medians and ratios."""
    variants: list[tuple[str, str, str]] = [("checkout", "", args.script)]
    for spec in args.variants:
        patches, _, script = spec.removeprefix("script:").rpartition("@")
        if spec.startswith("script:"):
            patches, script = "", spec.removeprefix("script:")
        elif not script.endswith(".sql") and "@" in spec:
            pass  # PATCH.sql@script
        else:
            patches, script = spec, args.script
        paths = [Path(part) for part in patches.split("+") if part]
        label = "+".join(path.stem for path in paths) or "checkout"
        if script != args.script:
            label += f"@{script}"
        patch = "\n".join(path.read_text(encoding="utf-8") for path in paths)
        variants.append((label, patch, script))
    with throwaway_cluster(args.workdir, keep=args.keep) as cluster:
        bench = _bench(cluster, args)
        variables = _variables(bench)
        results: dict[str, list[pgbench.PgbenchRun]] = {name: [] for name, _, _ in variants}
        for round_number in range(args.rounds):
            # Rotate the order every round so that no variant always runs first.
            shift = round_number % len(variants)
            for name, patch, script in variants[shift:] + variants[:shift]:
                with cluster.connect(APPEND_DB) as conn:
                    install_sql(conn)
                    if args.reset:
                        conn.execute(args.reset.read_text(encoding="utf-8"))
                    if patch:
                        conn.execute(patch)
                results[name].append(
                    bench.pgbench(
                        name,
                        APPEND_DB,
                        _USERS.get(script, APP_ROLE),
                        script,
                        args.clients,
                        variables,
                        duration=args.duration,
                    )
                )
        with cluster.connect(APPEND_DB) as conn:
            install_sql(conn)
    _print_ab(results, args)
    return 0


def _print_ab(results: dict[str, list[pgbench.PgbenchRun]], args: argparse.Namespace) -> None:
    def med(runs: Sequence[pgbench.PgbenchRun], field: str) -> float:
        return median([getattr(run, field) for run in runs])

    base = results["checkout"]
    print(
        f"\n{args.script}, {args.clients} clients, {args.rounds} rounds of {args.duration:g} s"
        " (medians; ratio to checkout)"
    )
    print(f"{'variant':<40} {'tps':>9} {'ratio':>6} {'p99 ms':>8} {'cpu µs/tx':>10} {'ratio':>6}")
    for name, runs in results.items():
        tps, cpu = med(runs, "tps"), med(runs, "server_cpu_us_per_tx")
        print(
            f"{name:<40} {tps:>9.1f} {tps / med(base, 'tps'):>6.3f} {med(runs, 'p99_ms'):>8.2f}"
            f" {cpu:>10.1f} {cpu / med(base, 'server_cpu_us_per_tx'):>6.3f}"
        )


def main(argv: Sequence[str]) -> int:
    """``profile`` or ``ab`` with their arguments (``argv[0]`` is the command)."""
    command, rest = argv[0], list(argv[1:])
    args = _parser(command).parse_args(rest)
    return profile(args) if command == "profile" else ab(args)
