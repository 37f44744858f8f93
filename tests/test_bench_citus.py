"""The ``citus`` benchmark suite (``make bench``) in a quick run on tiny data.

It must start its own Citus cluster (a coordinator and two workers) beside the run's
single node, find the tables distributed as migration 0007 leaves them, measure both
sides and write its metrics with the targets of issue 11. No figure is checked against
a target: timings on a shared machine say nothing about correctness. In the Citus
layout only (``make test-citus`` installs Citus first).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CITUS

pytestmark = pytest.mark.skipif(not CITUS, reason="needs Citus (make test-citus)")

ROOT = Path(__file__).resolve().parents[1]


def test_the_citus_suite_measures_the_coordinator_against_one_node(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    command = [
        sys.executable, "-m", "benchmarks", "--suites", "citus", "--profile", "quick",
        "--tenants", "2", "--citus-work-orders", "100", "--clients", "1,2",
        "--duration", "1", "--warmup", "0", "--output", str(output),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "tables distributed by tenant_id in one co-location group on 2 workers" in run.stdout

    by_name = {m["metric"]: m for m in json.loads(output.read_text(encoding="utf-8"))}
    targets = {
        "citus.append.tps.2c": 0.5,
        "citus.current_read.tps.2c": 0.5,
        "citus.append.tps.1c": None,
        "citus.append.p50_ms.1c (lower is better)": None,
        "citus.current_read.coordinator_cpu_us_per_tx.2c (lower is better)": None,
        "citus.append.hop_p50_ms.1c.vs_budget (lower is better)": 1.0,
        "citus.current_read.hop_p50_ms.1c.vs_budget (lower is better)": 1.0,
    }
    for name, target in targets.items():
        assert name in by_name, f"{name} missing from {sorted(by_name)}"
        assert by_name[name]["target"] == target
    # Both sides really ran: transactions on each, and the three servers' CPU on Citus
    # is more than its coordinator's alone.
    details = json.loads((tmp_path / "latest-details.json").read_text(encoding="utf-8"))
    for side in ("single", "citus"):
        for script in ("append", "current_read"):
            for clients in (1, 2):
                (figures,) = details["runs"][f"citus_suite.{side}.{script}.{clients}c"]
                assert figures["transactions"] > 0
    (citus_append,) = details["runs"]["citus_suite.citus.append.2c"]
    assert citus_append["server_cpu_us_per_tx"] > citus_append["coordinator_cpu_us_per_tx"] > 0
    hop = by_name["citus.append.hop_p50_ms.1c.vs_budget (lower is better)"]
    assert hop["baseline"] == 0.5 and hop["value"] >= 0
