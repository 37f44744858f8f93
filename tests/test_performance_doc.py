"""docs/performance.md states the committed benchmark results, not older ones.

Every metric with a target in benchmarks/results/latest.json (make bench) and large.json
(make bench-large) must have a row in one of the page's tables with the same ratio (two
decimals) and the same verdict; the page must name the runs' commits and show the
picture committed beside them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "benchmarks" / "results"


def _rows() -> dict[str, list[str]]:
    """Return the results table's rows by the metric named in their second cell."""
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and (match := re.fullmatch(r"`([^`]+)`", cells[1])):
            rows[match[1]] = cells
    return rows


@pytest.mark.parametrize("results", ["latest.json", "large.json"])
def test_every_target_is_in_the_page_with_its_ratio_and_verdict(results: str) -> None:
    metrics = json.loads((RESULTS / results).read_text(encoding="utf-8"))
    targeted = [m for m in metrics if m["target"] is not None]
    assert targeted
    rows = _rows()
    for m in targeted:
        assert m["metric"] in rows, f"{m['metric']} has no row in {PAGE.name}"
        cells = rows[m["metric"]]
        assert cells[4] == f"{m['ratio']:.2f}", (m, cells)
        assert cells[5] == {True: "yes", False: "no"}[m["meets"]], (m, cells)


def test_the_page_shows_the_committed_picture_and_names_its_run() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "](../benchmarks/results/latest.png)" in text
    assert (RESULTS / "latest.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    for target, details_file in (
        ("bench", "latest-details.json"),
        ("bench-large", "large-details.json"),
    ):
        details = json.loads((RESULTS / details_file).read_text(encoding="utf-8"))
        stated = re.findall(rf"`make {target}` at commit ([0-9a-f]{{7}})", text)
        assert stated == [details["git_commit"][:7]], (details_file, stated)
