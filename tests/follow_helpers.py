"""Helpers of the follower and consumer tests (ledger and audit trail alike).

test_client_follow.py, test_client_follow_audit.py and test_client_consumer.py use them:
events appended on their own connection, a consumer's next ids taken (and committed with
their effects), a follower closed, the second instance of a consumer found waiting.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import psycopg

from selene_core_tables._queries import position_of
from tests.conftest import APP_ROLE
from tests.sql_helpers import TENANT_A, append_committed, event

# Work order numbers (and correlation ids) never used twice in a test run.
NUMBERS = itertools.count(1)


def appended(
    connect: Callable[..., psycopg.Connection], count: int, tenant: str = TENANT_A
) -> list[int]:
    """Append ``count`` events of new work orders of ``tenant``, committed; their ids.

    Each is a work order's first event, so it writes one audit row too.
    """
    with connect(user=APP_ROLE, autocommit=True) as conn:
        return [
            append_committed(
                conn,
                **event(tenant_id=tenant, work_order_id=f"wo-{n}", correlation_id=n + 1),
            )[0]
            for n in (next(NUMBERS) for _ in range(count))
        ]


def take(consumer: Any, count: int, handle: Callable[[int], None] | None = None) -> list[int]:
    """The positions of the next ``count`` events or audit rows of a follower or consumer.

    With ``handle``, it runs on each position, and then the consumer commits it.
    """
    seen: list[int] = []
    for followed in consumer:
        position = position_of(followed)
        seen.append(position)
        if handle is not None:
            handle(position)
            consumer.commit(position)
        if len(seen) == count:
            break
    return seen


def close(follower: Any) -> None:
    """Close a follower: ``aclose()`` on the async one (behind Blocking), ``close()`` else."""
    (getattr(follower, "aclose", None) or follower.close)()


def create_effects_table(superuser: psycopg.Connection, table: str, column: str) -> None:
    """A table of a consumer's effects (one ``column`` per row handled) that selene_os writes."""
    superuser.execute(f"DROP TABLE IF EXISTS {table}")  # the Citus layout keeps its database
    superuser.execute(f"CREATE TABLE {table} ({column} bigint NOT NULL)")
    superuser.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
    superuser.commit()


def waiting_pid(observer: psycopg.Connection) -> int:
    """The backend that waits for an advisory lock (a consumer's second instance), once it does."""
    for _ in range(200):
        row = observer.execute(
            "SELECT l.pid FROM pg_catalog.pg_locks AS l"
            " WHERE l.locktype = 'advisory' AND NOT l.granted"
        ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError("no instance waits for the consumer")
