"""``python -m benchmarks``: run the benchmarks in a throwaway cluster and report.

Usage::

    python -m benchmarks [--profile default|quick|large] [--runs N] [--duration S] ...

``BENCH_QUICK=1`` in the environment selects the ``quick`` profile (small data, one
run of 3 s each) unless ``--profile`` is given. ``python -m benchmarks profile`` and
``python -m benchmarks ab`` are the profiling tools (:mod:`benchmarks.profile`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness, plot, report, suites
from benchmarks.cluster import throwaway_cluster

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
"""Where every run writes its metrics (``--output`` elsewhere)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--profile",
        choices=sorted(harness.PROFILES),
        default=None,
        help="default (make bench), quick (BENCH_QUICK=1) or large (make bench-large)",
    )
    parser.add_argument("--suites", help=f"comma-separated subset of {','.join(harness.SUITES)}")
    parser.add_argument("--runs", type=int, help="measurements per figure (median reported)")
    parser.add_argument("--duration", type=float, help="seconds per pgbench run")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per script (0: none)")
    parser.add_argument("--clients", help="comma-separated client counts, e.g. 1,4,8")
    parser.add_argument("--tenants", type=int)
    parser.add_argument("--work-orders", type=int, help="work orders per tenant (append data)")
    parser.add_argument(
        "--rebuild-work-orders", type=int, help="work orders per tenant (rebuild data, x10 events)"
    )
    parser.add_argument("--client-events", type=int, help="appends per client measurement")
    parser.add_argument("--batch-size", type=int, help="events per append_many call")
    parser.add_argument("--growth-factor", type=int, help="events per work order, large ledger")
    parser.add_argument(
        "--citus-work-orders", type=int, help="work orders per tenant (citus suite, both sides)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument(
        "--workdir", type=Path, help="cluster directory; reused (with its data) when it exists"
    )
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    parser.add_argument(
        "--set",
        dest="settings",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="server setting for the cluster (repeatable), e.g. --set shared_buffers=4GB",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="first prove on small data that loading writes what the append would",
    )
    parser.add_argument(
        "--patch",
        type=Path,
        action="append",
        default=[],
        help="SQL file run in every database after loading (to measure a proposed change)",
    )
    return parser


def config_from(args: argparse.Namespace) -> harness.Config:
    """Return the profile's configuration with the command line's overrides."""
    profile = args.profile or ("quick" if os.environ.get("BENCH_QUICK") else "default")
    config = harness.PROFILES[profile]
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "runs",
            "duration",
            "warmup",
            "tenants",
            "work_orders",
            "rebuild_work_orders",
            "client_events",
            "batch_size",
            "growth_factor",
            "citus_work_orders",
        )
        if getattr(args, name) is not None
    }
    if args.suites:
        chosen = tuple(name.strip() for name in args.suites.split(",") if name.strip())
        unknown = sorted(set(chosen) - set(harness.SUITES))
        if unknown:
            raise SystemExit(f"unknown suites {unknown}; choose from {list(harness.SUITES)}")
        overrides["suites"] = tuple(name for name in harness.SUITES if name in chosen)
    if args.clients:
        overrides["clients"] = tuple(int(count) for count in args.clients.split(","))
    return dataclasses.replace(config, **overrides)


def settings_from(args: argparse.Namespace) -> dict[str, str]:
    """Return the ``--set NAME=VALUE`` server settings as a mapping."""
    settings: dict[str, str] = {}
    for item in args.settings:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"--set wants NAME=VALUE, got {item!r}")
        settings[name.strip()] = value.strip()
    return settings


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def _server_facts(bench: harness.Bench) -> dict[str, Any]:
    names = [
        "server_version",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "shared_buffers",
        "wal_compression",
        "work_mem",
        "maintenance_work_mem",
        "max_wal_size",
        "checkpoint_timeout",
        "shared_preload_libraries",
        "max_connections",
    ]
    with bench.cluster.connect("postgres") as conn:
        return {
            name: conn.execute(
                "SELECT current_setting(%s) || coalesce(' ' || unit, '') FROM pg_settings"
                " WHERE name = %s",
                [name, name],
            ).fetchone()[0]  # type: ignore[index]
            for name in names
        }


def run(args: argparse.Namespace) -> int:
    """Run the configured suites; print the table; write the JSON files."""
    config = config_from(args)
    started = time.time()
    # What is measured is what sql/ holds when the databases are created: note it now.
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "sql", "migrations"))
    load_before = os.getloadavg()
    print(
        f"selene-core-tables benchmarks, profile {config.profile}: {', '.join(config.suites)}; "
        f"{config.runs} run(s) of {config.duration:g} s per figure",
        flush=True,
    )

    def log(line: str) -> None:
        print(f"[{time.time() - started:7.1f} s] {line}", flush=True)

    with throwaway_cluster(args.workdir, keep=args.keep, settings=settings_from(args)) as cluster:
        bench = harness.Bench(cluster, config, log)
        bench.keep_data = args.keep or args.workdir is not None
        if args.patch:
            bench.patches = [path.read_text(encoding="utf-8") for path in args.patch]
        if args.validate:
            harness.validate_loading(bench)
        for name in config.suites:
            suites.RUNNERS[name](bench)
        facts = _server_facts(bench)
    elapsed = time.time() - started
    details = {
        "started_at": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(),
        "elapsed_s": round(elapsed, 1),
        "git_commit": commit,
        "git_dirty": dirty,
        "patches": [str(path) for path in args.patch],
        "machine": {
            "cpus": harness.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "server": facts,
        "config": dataclasses.asdict(config),
        "runs": bench.runs,
    }
    details_path = report.write(args.output, bench.metrics, details)
    try:
        picture = plot.draw(details, plot.png_beside(args.output))
    except ImportError as error:  # matplotlib is a dev extra: the figures stand without it
        print(f"no picture: {error}", file=sys.stderr)
        picture = None
    print()
    print(report.table(bench.metrics))
    print()
    missed = [m.metric for m in bench.metrics if m.meets is False]
    met = [m.metric for m in bench.metrics if m.meets is True]
    print(
        f"targets met: {len(met)}, missed: {len(missed)}"
        + (f" ({', '.join(missed)})" if missed else "")
    )
    written = [str(path) for path in (args.output, details_path, picture) if path]
    print(f"wrote {', '.join(written)} in {elapsed / 60:.1f} min")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: the benchmarks, or ``profile`` / ``ab`` (see benchmarks.profile)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("profile", "ab"):
        from benchmarks import profile

        return profile.main(argv)
    if argv and argv[0] == "plot":
        return plot.main(argv[1:])
    return run(_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
