"""pg_auto_failover: the product on a monitored primary and synchronous standby, across failovers.

One formation for the module (tests/pg_auto_failover.py): a monitor and two data nodes,
``number_sync_standbys = 0`` with both nodes in the replication quorum, so the primary
waits for its standby at every commit; the product's migrations on the primary. The
tests run in order on it:

1. the formation: one primary, one secondary in sync, the replication settings;
2. the schema, the login roles and yoyo's record are on both nodes (the standby replayed
   them);
3. ``pg_autoctl perform failover``: the roles swap, the formation's multi-host DSN
   (``target_session_attrs=read-write``) reaches the new primary, and an append
   committed before the failover is there;
4. SIGKILL to the primary's keeper and postgres together (a machine crash): the monitor
   promotes the standby, the node comes back as a secondary, the committed append is on
   the new primary;
5. SIGKILL to the primary's postgres alone, the keeper alive: the keeper restarts it, and
   the monitor may or may not fail over first (a race); either way the committed append
   is on whichever node is primary and the DSN reaches it;
6. four writers (tests/failover_load.py) append through one ``WorkOrderRepository`` over
   a ``psycopg_pool.ConnectionPool`` on the multi-host DSN, with retries
   (``RetryPolicy(deadline=30)``), across :data:`LOAD_FAILOVERS`: perform failover and
   kill of the primary node in turn, then a kill of postgres alone. No writer gets an
   error; every acknowledged append is in the final primary's ledger exactly once, as
   sent, under the id it was acknowledged with; the audit trail matches; verify finds
   no drift; a rebuild rewrites nothing.

Each test prints its figures (``pytest -s``; seconds without a primary, until in sync) and
records them as the ``failover`` property (``--junitxml``). Runs under ``SELENE_LONG=1``
only (``make test-long``): a formation takes about 20 s and a crash failover about 10 s.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from selene_core_tables import RetryPolicy, WorkOrderRepository
from tests.conftest import APP_ROLE, DBA_ROLE
from tests.failover_load import FailoverLoad, LoadRecord, check_ledger, report_and_assert
from tests.pg_auto_failover import (
    DATA_NODES,
    Failover,
    FailoverWay,
    Formation,
    pg_auto_failover_formation,
)
from tests.sql_helpers import TABLES, append_committed, event

LONG = os.environ.get("SELENE_LONG") == "1"
TENANT = "pgaf"
CORRELATION_IDS = {"perform": 1, "kill-node": 2, "kill-postgres": 3}  # one per work order
WRITERS = 4
LOAD_SECONDS = 5.0  # of load before each failover, and after the last
LOAD_FAILOVERS: tuple[FailoverWay, ...] = (
    "perform",
    "kill-node",
    "perform",
    "kill-node",
    "kill-postgres",
)

pytestmark = [
    pytest.mark.skipif(
        not LONG,
        reason="pg_auto_failover suite: a monitor and two nodes, minutes of failovers; "
        "runs under SELENE_LONG=1 (make test-long)",
    ),
    pytest.mark.timeout(600),
]

# The product's objects as the catalogs list them, to compare the two nodes.
SCHEMA_SQL = """
SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname IN ('os_core', 'ph1j')
UNION ALL
SELECT p.oid::regprocedure::text
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname IN ('os_core', 'ph1j')
UNION ALL
SELECT 'role ' || r.rolname || ' in ' || g.rolname
FROM pg_catalog.pg_auth_members AS m
JOIN pg_catalog.pg_roles AS r ON r.oid = m.member
JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid
WHERE r.rolname IN (%(app)s, %(dba)s)
UNION ALL
SELECT 'migration ' || migration_id FROM public._yoyo_migration
ORDER BY 1
"""


@pytest.fixture(scope="module")
def formation() -> Iterator[Formation]:
    with pg_auto_failover_formation() as started:
        print(f"\npg_auto_failover formation ready in {started.formed_seconds:.1f} s")
        yield started


def report(record_property: Callable[[str, object], None], failover: Failover) -> None:
    figures = dataclasses.asdict(failover)
    record_property("failover", json.dumps(figures))
    print(f"\nfailover: {json.dumps(figures)}")


def commit_append(formation: Formation, work_order_id: str, turn_id: int = 1) -> int:
    """Append one event as the app through the multi-host DSN; its acknowledged event id."""
    fields = event(
        tenant_id=TENANT,
        work_order_id=work_order_id,
        correlation_id=CORRELATION_IDS[work_order_id],
        turn_id=turn_id,
        event_type="WORK_ORDER_CREATED" if turn_id == 1 else "FIELD_SET",
        created_at=1_000 * turn_id,
        idempotency_key=f"{work_order_id}-{turn_id}",
    )
    with psycopg.connect(formation.dsn(APP_ROLE), autocommit=True) as conn:
        assert conn.info.port == formation.primary().port
        event_id, replay = append_committed(conn, **fields)
    assert replay is False
    return event_id


def ledger_ids(formation: Formation, work_order_id: str) -> list[int]:
    """The work order's event ids in the primary's ledger, read as the superuser."""
    with formation.primary().connect(formation.superuser, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT work_order_event_id FROM os_core.work_order_ledger"
            " WHERE tenant_id = %s AND work_order_id = %s ORDER BY work_order_event_id",
            [TENANT, work_order_id],
        ).fetchall()
    return [row[0] for row in rows]


def roles(formation: Formation) -> dict[str, tuple[str, str]]:
    return {state.name: (state.reported, state.assigned) for state in formation.state()}


def test_the_formation_has_a_primary_and_a_synchronous_secondary(formation: Formation) -> None:
    primary, secondary = formation.primary(), formation.secondary()
    assert roles(formation) == {
        primary.name: ("primary", "primary"),
        secondary.name: ("secondary", "secondary"),
    }
    settings = {
        (row["context"], row["nodename"], row["setting"]): row["value"]
        for row in formation.settings()
    }
    assert settings[("formation", "default", "number_sync_standbys")] == "0"
    for name in DATA_NODES:
        assert settings[("node", name, "replication quorum")] == "true"
    standby = f"pgautofailover_standby_{DATA_NODES.index(secondary.name) + 1}"
    with primary.connect(formation.superuser, autocommit=True) as conn:
        assert conn.execute("SHOW synchronous_standby_names").fetchone() == (f"ANY 1 ({standby})",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        assert conn.execute(
            "SELECT application_name, state, sync_state FROM pg_stat_replication"
        ).fetchall() == [(standby, "streaming", "quorum")]


def test_the_schema_and_the_login_roles_are_on_both_nodes(formation: Formation) -> None:
    found = {}
    for node in formation.nodes.values():
        with node.connect(formation.superuser, autocommit=True) as conn:
            in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            assert in_recovery == (node is formation.secondary(),)
            rows = conn.execute(SCHEMA_SQL, {"app": APP_ROLE, "dba": DBA_ROLE}).fetchall()
            found[node.name] = [row[0] for row in rows]
    primary, secondary = formation.primary().name, formation.secondary().name
    assert found[secondary] == found[primary]
    for table in TABLES:
        assert f"{table}:r" in found[primary] or f"{table}:p" in found[primary], table
    assert "os_core.work_order_ledger_append" in " ".join(found[primary])
    assert f"role {APP_ROLE} in selene_os" in found[primary]
    assert f"role {DBA_ROLE} in selene_dba" in found[primary]
    assert any(item.startswith("migration ") for item in found[primary])


def test_perform_failover_swaps_the_roles_and_the_dsn_reaches_the_new_primary(
    formation: Formation, record_property: Callable[[str, object], None]
) -> None:
    old_primary, old_secondary = formation.primary(), formation.secondary()
    before = commit_append(formation, "perform")

    failover = formation.failover("perform")
    report(record_property, failover)

    assert (failover.old_primary, failover.new_primary) == (old_primary.name, old_secondary.name)
    assert roles(formation) == {
        old_primary.name: ("secondary", "secondary"),
        old_secondary.name: ("primary", "primary"),
    }
    with psycopg.connect(formation.dsn(APP_ROLE), autocommit=True) as conn:
        assert conn.info.port == old_secondary.port
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    with old_primary.connect(formation.superuser, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    assert ledger_ids(formation, "perform") == [before]
    after = commit_append(formation, "perform", turn_id=2)  # through the DSN, on the new one
    assert ledger_ids(formation, "perform") == [before, after]


def test_a_crash_of_the_primary_node_promotes_the_standby_and_keeps_what_was_committed(
    formation: Formation, record_property: Callable[[str, object], None]
) -> None:
    old_primary, old_secondary = formation.primary(), formation.secondary()
    before = commit_append(formation, "kill-node")

    failover = formation.failover("kill-node")
    report(record_property, failover)

    assert (failover.old_primary, failover.new_primary) == (old_primary.name, old_secondary.name)
    assert roles(formation) == {
        old_primary.name: ("secondary", "secondary"),
        old_secondary.name: ("primary", "primary"),
    }
    assert ledger_ids(formation, "kill-node") == [before]
    after = commit_append(formation, "kill-node", turn_id=2)
    assert ledger_ids(formation, "kill-node") == [before, after]


def test_a_crash_of_postgres_alone_keeps_what_was_committed_whichever_node_is_primary(
    formation: Formation, record_property: Callable[[str, object], None]
) -> None:
    before = commit_append(formation, "kill-postgres")

    failover = formation.failover("kill-postgres")
    report(record_property, failover)

    assert formation.primary().name == failover.new_primary
    assert ledger_ids(formation, "kill-postgres") == [before]
    after = commit_append(formation, "kill-postgres", turn_id=2)
    assert ledger_ids(formation, "kill-postgres") == [before, after]


def acknowledgement_gap(record: LoadRecord, since: float) -> float:
    """The longest time without an acknowledged append, from the last one before ``since``."""
    times = record.ack_times()
    before = [at for at in times if at < since]
    window = [*before[-1:], *(at for at in times if at >= since)]
    return max((b - a for a, b in itertools.pairwise(window)), default=0.0)


def test_appends_through_repeated_failovers_are_all_there_exactly_once(
    formation: Formation, record_property: Callable[[str, object], None]
) -> None:
    cycles = []
    with ConnectionPool(
        formation.dsn(APP_ROLE, connect_timeout="2"),
        min_size=WRITERS,
        max_size=WRITERS + 2,
        check=ConnectionPool.check_connection,
        timeout=10.0,
        name="pg-auto-failover",
    ) as pool:
        repo = WorkOrderRepository(pool, retry=RetryPolicy(deadline=30.0), prepared_statements=True)
        with FailoverLoad(repo, writers=WRITERS) as load:
            load.wait_for_acks(20, after=0.0)
            for way in LOAD_FAILOVERS:
                time.sleep(LOAD_SECONDS)
                provoked_at = time.monotonic()
                failover = formation.failover(way)
                load.wait_for_acks(20, after=time.monotonic())
                replays = sum(
                    sent.replay and sent.acked_at is not None and sent.acked_at > provoked_at
                    for sent in load.record.acknowledged()
                )
                cycles.append(
                    {
                        **dataclasses.asdict(failover),
                        "longest time without an acknowledged append": round(
                            acknowledgement_gap(load.record, provoked_at), 2
                        ),
                        "acknowledged as idempotent replay": replays,
                    }
                )
            last_failover_at = time.monotonic()
            time.sleep(LOAD_SECONDS)

    primary = formation.primary()

    def connect(user: str | None = None) -> psycopg.Connection:
        return primary.connect(user or formation.superuser, autocommit=True)

    report_and_assert(
        check_ledger(connect, load.record),
        load.record,
        repo,
        label="pg_auto_failover load figures",
        writers=WRITERS,
        last_failover_at=last_failover_at,
        record_property=record_property,
        failovers=cycles,
    )
