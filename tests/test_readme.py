"""The README's Python quickstart runs as written, as the selene_os login."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import APP_ROLE, conninfo
from tests.sql_helpers import ledger_state

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_python_quickstart_runs(
    postgresql_proc: Any, dbname: str, postgresql: psycopg.Connection
) -> None:
    [quickstart] = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    ran = subprocess.run(
        [sys.executable, "-c", quickstart],
        env={"SELENE_CORE_TABLES_DSN": conninfo(postgresql_proc, dbname, APP_ROLE)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert "work_order_status=<WorkOrderStatus.DRAFT: 'DRAFT'>" in lines[0]
    assert lines[1].endswith(" WORK_ORDER_CREATED DRAFT")
    assert lines[2] == "SE004 reason_code must be between 1 and 2^32-1"
    state = ledger_state(postgresql)
    assert (state.ledger_rows, state.audit_rows) == (1, 2)
