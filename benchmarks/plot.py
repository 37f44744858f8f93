"""The picture of a run: ``latest.png`` beside ``latest.json``, drawn from its details.

Three panels, each ours beside PostgreSQL's own ceiling measured in the same run
(medians of the runs kept in ``latest-details.json``):

- append throughput against clients: the append against the bare single-row INSERT,
  the bare INSERT in the append's four-statement transaction, and the append's three
  writes by bare SQL in that transaction;
- append p99 latency against clients, the same three;
- rebuild seconds against ledger size: all three projections from empty, the current
  projection's query, and ``CREATE TABLE AS SELECT DISTINCT ON``.

``python -m benchmarks plot [DETAILS.json] [--output PNG]`` draws it again from a saved
run; ``make bench`` draws it at the end of every run.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import median

Runs = Mapping[str, Sequence[Mapping[str, Any]]]

_APPEND_SERIES = (
    ("append", "work_order_ledger_append", "tab:blue", "o-"),
    ("bare_insert", "bare INSERT (ceiling)", "tab:gray", "s--"),
    ("bare_insert_in_transaction", "bare INSERT in the append's transaction", "tab:gray", "^:"),
    (
        "bare_append_writes_in_transaction",
        "the append's three writes by bare SQL, same transaction",
        "tab:orange",
        "D:",
    ),
)
_REBUILD_SERIES = (
    ("all", "rebuild of all three projections", "tab:blue", "o-"),
    ("current", "current projection's query (CTAS)", "tab:cyan", "d-"),
    ("ctas_distinct_on", "CTAS DISTINCT ON (baseline)", "tab:gray", "s--"),
)
_BY_CLIENTS = re.compile(r"^(?P<name>[a-z_]+)\.(?P<clients>\d+)c$")
_BY_SIZE = re.compile(r"^rebuild(?:@[^.]+)?\.(?P<name>[a-z_]+)$")


def append_points(runs: Runs, name: str, field: str) -> list[tuple[int, float]]:
    """Return (clients, median ``field``) of pgbench runs kept as ``<name>.<clients>c``."""
    points = []
    for key, kept in runs.items():
        match = _BY_CLIENTS.match(key)
        if match and match["name"] == name:
            points.append((int(match["clients"]), median([run[field] for run in kept])))
    return sorted(points)


def rebuild_points(runs: Runs, name: str) -> list[tuple[int, float]]:
    """Return (ledger events, median seconds) of timed runs kept as ``rebuild[@size].<name>``."""
    points = []
    for key, kept in runs.items():
        match = _BY_SIZE.match(key)
        if match and match["name"] == name and all("events" in run for run in kept):
            points.append((int(kept[0]["events"]), median([run["seconds"] for run in kept])))
    return sorted(points)


def draw(details: Mapping[str, Any], output: Path) -> Path | None:
    """Draw the panels ``details`` has data for into ``output``; None when it has none."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    runs: Runs = details.get("runs", {})
    panels = []
    if append_points(runs, "append", "tps"):
        panels += ["tps", "p99"]
    if rebuild_points(runs, "all"):
        panels.append("rebuild")
    if not panels:
        return None
    figure, axes = pyplot.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2))
    axes = [axes] if len(panels) == 1 else list(axes)
    for axis, panel in zip(axes, panels, strict=True):
        if panel == "rebuild":
            _rebuild_panel(axis, runs)
        else:
            _append_panel(axis, runs, panel)
    server = details.get("server", {})
    machine = details.get("machine", {})
    figure.suptitle(
        f"selene-core-tables, {str(details.get('git_commit', ''))[:7]}: PostgreSQL "
        f"{server.get('server_version', '?')}, {machine.get('cpus', '?')} CPUs, "
        f"fsync {server.get('fsync', '?')}; medians of {details.get('config', {}).get('runs', '?')}"
        " runs",
        fontsize=10,
    )
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    pyplot.close(figure)
    return output


def _append_panel(axis: Any, runs: Runs, panel: str) -> None:
    field = "tps" if panel == "tps" else "p99_ms"
    highest = 0.0
    for name, label, color, style in _APPEND_SERIES:
        points = append_points(runs, name, field)
        if points:
            clients, values = zip(*points, strict=True)
            axis.plot(clients, values, style, color=color, label=label)
            highest = max(highest, *values)
    axis.set_xlabel("pgbench clients")
    if panel == "tps":
        axis.set_title("append throughput")
        axis.set_ylabel("transactions per second")
    else:
        axis.set_title("append latency, p99")
        axis.set_ylabel("ms")
    axis.set_ylim(0, highest * 1.5)  # room for the legend above the lines
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")


def _rebuild_panel(axis: Any, runs: Runs) -> None:
    for name, label, color, style in _REBUILD_SERIES:
        points = rebuild_points(runs, name)
        if points:
            events, seconds = zip(*points, strict=True)
            axis.plot([count / 1e6 for count in events], seconds, style, color=color, label=label)
    axis.set_title("rebuild")
    axis.set_xlabel("ledger events (millions)")
    axis.set_ylabel("seconds")
    axis.set_xlim(left=0)
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)


def png_beside(results: Path) -> Path:
    """Return the picture's path for a results file: latest.json -> latest.png."""
    return results.with_suffix(".png")


def main(argv: Sequence[str]) -> int:
    """``plot [DETAILS.json] [--output PNG]``: draw a saved run again."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks plot")
    parser.add_argument(
        "details",
        type=Path,
        nargs="?",
        default=Path(__file__).parent / "results" / "latest-details.json",
    )
    parser.add_argument("--output", type=Path, help="default: <results>.png beside it")
    args = parser.parse_args(argv)
    details = json.loads(args.details.read_text(encoding="utf-8"))
    stem = args.details.name.removesuffix(".json").removesuffix("-details")
    output = args.output or args.details.with_name(f"{stem}.png")
    drawn = draw(details, output)
    print(f"wrote {drawn}" if drawn else f"{args.details} has no append or rebuild runs to draw")
    return 0
