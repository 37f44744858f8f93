"""Metrics, medians, the table on stdout and the JSON files.

A metric compares one figure of ours with its baseline measured in the same run:
``ratio = value / baseline``. Higher is better unless the metric's name says
``(lower is better)``; ``target`` is then the largest acceptable ratio, otherwise the
smallest, and ``meets`` says whether the ratio is within it (``None`` without a target).
``value`` and ``baseline`` are medians over the runs (each run interleaves ours and the
baseline, so both see the same noise).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOWER_IS_BETTER = "(lower is better)"
"""Marks a metric whose ratio should be small (times, latencies, memory)."""

KEYS = ("metric", "value", "unit", "baseline", "ratio", "target", "meets")
"""The keys of every object in latest.json, in order."""


def median(values: Sequence[float]) -> float:
    """Return the median of ``values`` (the mean of the middle two for an even count)."""
    return float(statistics.median(values))


def _significant(value: float | None, digits: int = 4) -> float | None:
    """Round to ``digits`` significant digits (None stays None)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


@dataclass(frozen=True)
class Metric:
    """One row of the results: ours, the baseline, their ratio and the target."""

    metric: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    target: float | None
    meets: bool | None

    @property
    def lower_is_better(self) -> bool:
        """Whether the ratio should be at most the target rather than at least."""
        return self.metric.endswith(LOWER_IS_BETTER)

    def as_json(self) -> dict[str, Any]:
        """Return the object written to latest.json."""
        return asdict(self)


def metric(
    name: str,
    value: float,
    unit: str,
    baseline: float | None = None,
    target: float | None = None,
    *,
    lower_is_better: bool = False,
) -> Metric:
    """Build a metric; ``ratio = value / baseline`` from the rounded figures.

    ``lower_is_better`` appends ``(lower is better)`` to the name; ``target`` is then a
    maximum for the ratio, otherwise a minimum.
    """
    if lower_is_better:
        name = f"{name} {LOWER_IS_BETTER}"
    rounded = _significant(value)
    assert rounded is not None
    base = _significant(baseline)
    ratio = None
    if base is not None and base != 0:
        ratio = round(rounded / base, 4)
    meets = None
    if target is not None and ratio is not None:
        meets = ratio <= target if lower_is_better else ratio >= target
    return Metric(name, rounded, unit, base, ratio, target, meets)


def table(metrics: Sequence[Metric]) -> str:
    """Return the metrics as a fixed-width text table."""
    header = ("metric", "value", "unit", "baseline", "ratio", "target", "meets")
    rows = [header]
    for m in metrics:
        target = "" if m.target is None else ("<= " if m.lower_is_better else ">= ") + f"{m.target}"
        meets = {True: "yes", False: "NO", None: ""}[m.meets]
        rows.append(
            (
                m.metric,
                f"{m.value:g}",
                m.unit,
                "" if m.baseline is None else f"{m.baseline:g}",
                "" if m.ratio is None else f"{m.ratio:.3f}",
                target,
                meets,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i in (0, 2, 5, 6) else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write(path: Path, metrics: Sequence[Metric], details: dict[str, Any]) -> Path:
    """Write ``path`` (the metrics) and ``<stem>-details.json`` beside it; return the latter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([m.as_json() for m in metrics], indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    details_path = path.with_name(f"{path.stem}-details.json")
    details_path.write_text(
        json.dumps(details, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return details_path
