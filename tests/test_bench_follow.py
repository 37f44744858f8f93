"""The ``follow`` benchmark suite (``make bench``) in a quick run on tiny data.

It must run end to end against its own throwaway cluster, measure the lag with and
without notifications and one follower's events per second, and write its metrics with
the targets of issue 14 (p99 lag against 50 ms, and against the poll interval + 50 ms;
20,000 events/s). No figure is checked against a target here: timings on a shared
machine say nothing about correctness.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_follow_suite_measures_lag_and_throughput(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    command = [
        sys.executable, "-m", "benchmarks", "--suites", "follow", "--profile", "quick",
        "--client-events", "200", "--duration", "1", "--runs", "1", "--output", str(output),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    by_name = {m["metric"]: m for m in json.loads(output.read_text(encoding="utf-8"))}
    targets = {
        "follow.lag.p99_ms.8w.notify.vs_budget (lower is better)": (50, 1.0),
        "follow.lag.p99_ms.8w.poll.vs_budget (lower is better)": (150, 1.0),
        "follow.lag.p50_ms.8w.notify (lower is better)": (None, None),
        "follow.lag.p50_ms.8w.poll (lower is better)": (None, None),
        "follow.events_per_s.1f.vs_target": (20_000, 1.0),
    }
    for name, (baseline, target) in targets.items():
        assert name in by_name, f"{name} missing from {sorted(by_name)}"
        assert (by_name[name]["baseline"], by_name[name]["target"]) == (baseline, target)
        assert by_name[name]["value"] >= 0
    details = json.loads((tmp_path / "latest-details.json").read_text(encoding="utf-8"))
    for label in ("notify", "poll"):
        (figures,) = details["runs"][f"follow.lag.{label}"]
        assert figures["events"] > 8  # every writer appended, and each was received
    (read,) = details["runs"]["follow.read"]
    assert read["events_per_s"] > 0
