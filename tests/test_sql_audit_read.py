"""os_core.audit_read: gap-free paging of a tenant's PH1.J audit trail.

Audit ids are drawn before commit, so a reader paging by ``after_audit_event_id``
without a horizon passes over a row that commits after its page was read. These tests
hold real writers' commits back (appends, idempotent replays, and verifies with their
audit row, which write no ledger event) against a reader that pages all the while, and
check the refusals: SE003 for another tenant or none, SE004 for bad paging arguments.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from tests.conftest import APP_ROLE, DBA_ROLE
from tests.sql_helpers import TENANT_A, TENANT_B, append, append_committed, event, set_tenant
from tests.test_sql_failure_modes import assert_refused

pytestmark = pytest.mark.timeout(120)

Connect = Callable[..., psycopg.Connection]
PAGE = (
    "SELECT audit_event_id FROM os_core.audit_read("
    "p_tenant_id => %s::text, p_after_audit_event_id => %s::bigint, p_limit => %s::integer)"
)
VERIFY = "SELECT count(*) FROM os_core.work_orders_current_verify(%s::text, TRUE)"
SCOPE = ("SE003", "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION")
CONTRACT = ("SE004", "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")
WRITERS = 6
STEPS_PER_WRITER = 20


def read_page(
    reader: psycopg.Connection, after: int, limit: int, tenant: str = TENANT_A
) -> list[int]:
    with reader.transaction():
        set_tenant(reader, tenant)
        return [row[0] for row in reader.execute(PAGE, [tenant, after, limit]).fetchall()]


def all_audit_ids(su: psycopg.Connection, tenant: str = TENANT_A) -> list[int]:
    rows = su.execute(
        "SELECT audit_event_id FROM ph1j.audit_events WHERE tenant_id = %s ORDER BY 1", [tenant]
    ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize("held", ["append", "replay", "verify"])
def test_a_page_stops_before_an_audit_row_still_to_commit(
    connect: Connect, su: psycopg.Connection, held: str
) -> None:
    """An open append, replay or verify holds back the rows after its audit id, not more."""
    app = connect(user=APP_ROLE, autocommit=True)
    first, _ = append_committed(app, **event(idempotency_key="k-1"))
    writer = connect(user=APP_ROLE, autocommit=True)
    other = connect(user=DBA_ROLE, autocommit=True)
    reader = connect(user=APP_ROLE, autocommit=True)
    before = all_audit_ids(su)

    writer.execute("BEGIN")
    set_tenant(writer, TENANT_A)
    if held == "append":
        append(writer, **event(work_order_id="wo-2", correlation_id=2))
    elif held == "replay":
        assert append(writer, **event(idempotency_key="k-1")) == (first, True)
    else:
        writer.execute(VERIFY, [TENANT_A])
    append_committed(other, **event(work_order_id="wo-3", correlation_id=3))
    visible = su.execute(
        "SELECT audit_event_id FROM ph1j.audit_events WHERE tenant_id = %s AND audit_event_id > %s",
        [TENANT_A, before[-1]],
    ).fetchall()
    assert len(visible) == 1, "only the other writer's row is committed"
    ((committed,),) = visible

    # The writer's row has the smaller id and is not committed: the page returns at
    # once, up to the rows before it, and holds back the later committed row.
    assert read_page(reader, 0, 100) == before
    writer.execute("COMMIT")
    after = all_audit_ids(su)
    assert len(after) == len(before) + 2
    assert after[-1] == committed
    assert read_page(reader, 0, 100) == after


def test_a_rolled_back_writer_releases_the_page(connect: Connect, su: psycopg.Connection) -> None:
    app = connect(user=APP_ROLE, autocommit=True)
    writer = connect(user=APP_ROLE, autocommit=True)
    reader = connect(user=APP_ROLE, autocommit=True)
    writer.execute("BEGIN")
    set_tenant(writer, TENANT_A)
    append(writer, **event())
    append_committed(app, **event(work_order_id="wo-2", correlation_id=2))
    assert read_page(reader, 0, 100) == []
    writer.execute("ROLLBACK")
    assert read_page(reader, 0, 100) == all_audit_ids(su)
    assert len(all_audit_ids(su)) == 1


def test_a_paging_reader_sees_every_committed_audit_row_exactly_once(
    connect: Connect, su: psycopg.Connection
) -> None:
    """Appends, replays and verifies commit (or roll back) after random delays."""
    errors: list[BaseException] = []

    def write(number: int) -> None:
        rng = random.Random(number)
        try:
            with connect(user=APP_ROLE if number % 3 else DBA_ROLE, autocommit=True) as conn:
                for step in range(STEPS_PER_WRITER):
                    conn.execute("BEGIN")
                    set_tenant(conn, TENANT_A)
                    kind = rng.random()
                    if kind < 0.15:
                        conn.execute(VERIFY, [TENANT_A])
                    elif kind < 0.3 and step > 0:
                        # A replay of this writer's first event: an audit row, no event.
                        append(
                            conn,
                            **event(
                                work_order_id=f"wo-{number}-0",
                                correlation_id=number * 1_000 + 1,
                                idempotency_key=f"k-{number}",
                            ),
                        )
                    else:
                        append(
                            conn,
                            **event(
                                work_order_id=f"wo-{number}-{step}",
                                correlation_id=number * 1_000 + step + 1,
                                idempotency_key=f"k-{number}" if step == 0 else None,
                            ),
                        )
                    time.sleep(rng.uniform(0, 0.02))
                    conn.execute("ROLLBACK" if step > 0 and rng.random() < 0.15 else "COMMIT")
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    reader = connect(user=APP_ROLE, autocommit=True)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, WRITERS + 1)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    pages = 0
    while any(thread.is_alive() for thread in threads):
        page = read_page(reader, seen[-1] if seen else 0, 7)
        pages += 1
        seen.extend(page)
        if not page:
            time.sleep(0.005)
    for thread in threads:
        thread.join()
    while page := read_page(reader, seen[-1] if seen else 0, 7):
        seen.extend(page)

    assert errors == []
    committed = all_audit_ids(su)
    assert len(seen) == len(set(seen)), "an audit row was returned twice"
    assert seen == committed, f"missed {sorted(set(committed) - set(seen))}"
    kinds = su.execute(
        "SELECT count(*) FILTER (WHERE capability = 'OS_WORK_ORDER_CURRENT_VERIFY'),"
        " count(*) FILTER (WHERE outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY')"
        " FROM ph1j.audit_events WHERE tenant_id = %s",
        [TENANT_A],
    ).fetchone()
    assert kinds is not None and kinds[0] > 0 and kinds[1] > 0, kinds
    assert pages > 10


def test_rows_before_migration_0010_and_from_another_node_are_passed(
    connect: Connect, su: psycopg.Connection
) -> None:
    """A row with no horizon (written before 0010) or another node's is never held back."""
    app = connect(user=APP_ROLE, autocommit=True)
    append_committed(app, **event())
    writer = connect(user=APP_ROLE, autocommit=True)
    writer.execute("BEGIN")
    set_tenant(writer, TENANT_A)
    append(writer, **event(work_order_id="wo-2", correlation_id=2))
    # A superuser may insert around the product, as a restore does (the row comes last).
    su.execute(
        "INSERT INTO ph1j.audit_events (tenant_id, capability, outcome, details,"
        " paging_horizon, paging_node_id) VALUES"
        " (%s, 'OS_WORK_ORDER_CURRENT_VERIFY', 'VERIFIED', '{}', NULL, NULL),"
        " (%s, 'OS_WORK_ORDER_CURRENT_VERIFY', 'VERIFIED', '{}', '1'::xid8, 1)",
        [TENANT_B, TENANT_B],
    )
    reader = connect(user=APP_ROLE, autocommit=True)
    assert read_page(reader, 0, 10, TENANT_B) == all_audit_ids(su, TENANT_B)
    assert len(read_page(reader, 0, 10)) == 1  # tenant-a's in-flight row holds its own back
    writer.execute("ROLLBACK")


@pytest.mark.parametrize(
    ("declared", "tenant", "after", "limit", "code", "word"),
    [
        (None, TENANT_A, 0, 10, SCOPE, ""),
        (TENANT_B, TENANT_A, 0, 10, SCOPE, ""),
        (TENANT_A, TENANT_A, -1, 10, CONTRACT, "after"),
        (TENANT_A, TENANT_A, 0, 0, CONTRACT, "limit"),
        (TENANT_A, TENANT_A, 0, 10_001, CONTRACT, "limit"),
    ],
)
def test_audit_read_refusals(
    connect: Connect,
    su: psycopg.Connection,
    declared: str | None,
    tenant: str,
    after: int,
    limit: int,
    code: tuple[str, str],
    word: str,
) -> None:
    app = connect(user=APP_ROLE, autocommit=True)
    append_committed(app, **event())

    def call(conn: psycopg.Connection) -> object:
        if declared is not None:
            set_tenant(conn, declared)
        return conn.execute(PAGE, [tenant, after, limit]).fetchall()

    assert_refused(su, app, call, code, *([word] if word else []))
