"""repository.py is what scripts/generate_sync.py writes from repository_async.py.

The sync WorkOrderRepository is generated from AsyncWorkOrderRepository and checked
in; a hand edit of either side without re-running the script fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "generate_sync.py"
SYNC = ROOT / "python_client" / "selene_core_tables" / "repository.py"


def run_script(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def test_the_checked_in_sync_repository_is_the_generated_one() -> None:
    result = run_script("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_hand_edit_of_the_sync_repository_is_caught(tmp_path: Path) -> None:
    edited = tmp_path / "repository.py"
    edited.write_text(
        SYNC.read_text(encoding="utf-8").replace("limit: int = 50", "limit: int = 51"),
        encoding="utf-8",
    )
    result = run_script("--check", "--target", str(edited))
    assert result.returncode == 1
    assert "-        limit: int = 51," in result.stdout
    assert "+        limit: int = 50," in result.stdout
    assert "differs: run scripts/generate_sync.py" in result.stderr


def test_the_generated_module_is_synchronous_and_says_where_it_comes_from() -> None:
    text = SYNC.read_text(encoding="utf-8")
    assert text.startswith("# Generated from repository_async.py by scripts/generate_sync.py")
    for leftover in ("async def", "await ", "async with", "AsyncConnection", "asyncio"):
        assert leftover not in text.split('"""', 2)[2], leftover
    assert "class WorkOrderRepository:" in text
