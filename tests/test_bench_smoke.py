"""The benchmark harness (benchmarks/, `make bench`) in its quick mode on tiny data.

It must run end to end against its own throwaway cluster, prove that its data loading
writes what the append function would (--validate), and write latest.json in the
agreed shape. No figure is checked against a target here: timings on a shared machine
say nothing about correctness.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks import plot

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["metric", "value", "unit", "baseline", "ratio", "target", "meets"]
LOWER_IS_BETTER = "(lower is better)"
# One figure of each suite the quick profile runs, and its target where the issue sets one.
EXPECTED = {
    "append.tps.8c": 0.8,
    "append.tps.8c.vs_bare_append_writes_in_transaction": None,
    "current_read.tps.8c": 0.9,
    "ledger_read.tps.8c": None,
    "rls.append.tps.8c.with_vs_without_policies": 0.9,
    "rls.current_read.tps.8c.with_vs_without_policies": 0.9,
    "client.append_many.events_per_s.batch50.vs_one_call_loop": 20.0,
    "client.append_jsonl.events_per_s": None,
    "network.append.p50_ms.1c (lower is better)": 1.5,
    "network.client.append.p50_ms.1c (lower is better)": 1.5,
    "rebuild.current_projection.seconds (lower is better)": 1.3,
    "rebuild.all_projections.seconds (lower is better)": 2.0,
    # The smaller ledger of the size series (--tenants 2: one tenant of 50 x 10 events).
    "rebuild.all_projections.seconds.500_events (lower is better)": None,
}


def test_the_quick_benchmark_runs_and_writes_latest_json(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    command = [
        sys.executable, "-m", "benchmarks", "--profile", "quick", "--validate",
        "--tenants", "2", "--work-orders", "200", "--rebuild-work-orders", "50",
        "--client-events", "100", "--batch-size", "50",
        "--duration", "1", "--warmup", "0", "--output", str(output),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "validated simple" in run.stdout and "validated lifecycle" in run.stdout
    assert "targets met:" in run.stdout  # the table was printed

    metrics = json.loads(output.read_text(encoding="utf-8"))
    assert isinstance(metrics, list) and metrics
    names = [m["metric"] for m in metrics]
    assert len(names) == len(set(names))
    for m in metrics:
        assert list(m) == KEYS, m
        assert isinstance(m["metric"], str) and isinstance(m["unit"], str) and m["unit"]
        assert isinstance(m["value"], int | float) and math.isfinite(m["value"]), m
        assert m["baseline"] is None or isinstance(m["baseline"], int | float), m
        if m["baseline"] is None or m["baseline"] == 0:
            assert m["ratio"] is None, m
        else:
            # ratio = ours / baseline; the name says when lower is better.
            assert m["ratio"] == pytest.approx(m["value"] / m["baseline"], rel=1e-3, abs=1e-4), m
        if m["target"] is None or m["ratio"] is None:
            assert m["meets"] is None, m
        elif m["metric"].endswith(LOWER_IS_BETTER):
            assert m["meets"] is (m["ratio"] <= m["target"]), m
        else:
            assert m["meets"] is (m["ratio"] >= m["target"]), m
    by_name = {m["metric"]: m for m in metrics}
    for name, target in EXPECTED.items():
        assert name in by_name, f"{name} missing from {names}"
        assert by_name[name]["target"] == target

    details = json.loads((tmp_path / "latest-details.json").read_text(encoding="utf-8"))
    assert details["config"]["profile"] == "quick"
    assert details["server"]["fsync"] == "on"
    assert details["runs"]["append.8c"] and details["runs"]["bare_insert.8c"]

    # The picture, with the rebuild at both ledger sizes.
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [events for events, _ in plot.rebuild_points(details["runs"], "all")] == [500, 1000]
    assert [clients for clients, _ in plot.append_points(details["runs"], "append", "tps")] == [
        1,
        4,
        8,
    ]


def test_every_suite_has_a_runner_and_a_place_in_the_run_order() -> None:
    """harness.SUITES (the order, what --suites accepts) and suites.RUNNERS name the same."""
    from benchmarks import harness, suites

    assert tuple(suites.RUNNERS) == harness.SUITES
