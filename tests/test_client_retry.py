"""The client's retries: which calls are re-run on a fresh connection, and which never are.

Each test cuts a real session off at a chosen point with ``pg_terminate_backend`` (the
client sees 57P01, as in a fast shutdown or a failover) while the call is in flight:

* before COMMIT: the append waits on a lock the test holds, and is terminated there;
* after COMMIT was sent: ``synchronous_standby_names`` names a standby that does not
  exist, so COMMIT waits for it (``SyncRep``) with the transaction already durable
  locally; terminating the backend then leaves the client not knowing the outcome,
  which is exactly what a failover does to a commit in flight.

Then it checks what the client did (re-ran, or raised), what it counted and logged, and
what the ledger holds: every event exactly once, nothing re-sent that could double.
Each test runs on WorkOrderRepository and on AsyncWorkOrderRepository over an
AsyncConnectionPool, an AsyncConnection or a DSN (tests/client_flavors.py).
Failover itself, with a real standby, is tests/test_failover.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables import AppendOutcomeUnknown, RetryPolicy
from selene_core_tables.retry import CONNECTION_LOST, retry_reason
from tests.client_helpers import created
from tests.conftest import APP_ROLE, conninfo
from tests.sql_helpers import TENANT_A, WAIT_SECONDS

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]
pytestmark = pytest.mark.timeout(120)

# Slow enough that the test restores the server between the cut and the retry.
PATIENT = RetryPolicy(deadline=20.0, first_delay=0.5, max_delay=1.0)


@pytest.fixture
def admin(connect: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    return connect(autocommit=True)


@pytest.fixture
def app_dsn(postgresql_proc: PostgreSQLExecutor, dbname: str) -> str:
    # The session server runs synchronous_commit=off for speed; these sessions wait
    # for their commit as production sessions do.
    return conninfo(postgresql_proc, dbname, APP_ROLE) + "?options=-csynchronous_commit%3Don"


@pytest.fixture
def pool(client: Client, app_dsn: str) -> Any:
    """A ConnectionPool, or an AsyncConnectionPool in the async flavor."""
    return client.pool(app_dsn, min_size=2, max_size=2, kwargs={"autocommit": True}, check=True)


def ledger_keys(admin: psycopg.Connection) -> list[tuple[str, str | None]]:
    rows = admin.execute(
        "SELECT work_order_id, idempotency_key FROM os_core.work_order_ledger "
        "ORDER BY work_order_event_id"
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def app_backend_waiting(admin: psycopg.Connection, wait_event: str) -> int:
    """The pid of the app backend waiting on ``wait_event``, once there is one."""
    for _ in range(int(WAIT_SECONDS / 0.01)):
        # Inside a transaction the activity view is read once: read it afresh.
        admin.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
        row = admin.execute(
            "SELECT pid FROM pg_catalog.pg_stat_activity WHERE usename = %s AND wait_event = %s",
            [APP_ROLE, wait_event],
        ).fetchone()
        if row is not None:
            return int(row[0])
        threading.Event().wait(0.01)
    seen = admin.execute(
        "SELECT pid, state, wait_event_type, wait_event, left(query, 60) "
        "FROM pg_catalog.pg_stat_activity WHERE usename = %s",
        [APP_ROLE],
    ).fetchall()
    raise AssertionError(f"no {APP_ROLE} backend ever waited on {wait_event}: {seen}")


@contextmanager
def in_background(call: Callable[[], Any]) -> Iterator[dict[str, Any]]:
    """Run ``call`` in a thread; on exit, join it and leave its result or error in the dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:  # handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield outcome
    finally:
        thread.join(timeout=60)
        assert not thread.is_alive(), "the call never returned"


#: How a terminated session shows: the server's 57P01 error, or, in pipeline mode, where
#: libpq reads the connection's end before the error message, a lost connection.
TERMINATED = frozenset({"57P01", CONNECTION_LOST})


def cut_before_commit(admin: psycopg.Connection, call: Callable[[], Any]) -> dict[str, Any]:
    """Run ``call`` (an append) and terminate its session while it waits on a lock."""
    admin.execute("BEGIN")
    try:
        admin.execute("LOCK TABLE os_core.work_orders_current IN EXCLUSIVE MODE")
        with in_background(call) as outcome:
            pid = app_backend_waiting(admin, "relation")
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            admin.execute("ROLLBACK")  # the retry finds the lock free
    finally:
        if admin.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            admin.execute("ROLLBACK")
    return outcome


def cut_after_commit(admin: psycopg.Connection, call: Callable[[], Any]) -> dict[str, Any]:
    """Run ``call`` and terminate its session while its COMMIT waits for a standby."""
    admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
    admin.execute("SELECT pg_reload_conf()")
    try:
        with in_background(call) as outcome:
            pid = app_backend_waiting(admin, "SyncRep")
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
            admin.execute("SELECT pg_reload_conf()")
    finally:
        admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
        admin.execute("SELECT pg_reload_conf()")
    return outcome


@pytest.mark.parametrize("key", ["k-1", None], ids=["keyed", "keyless"])
def test_an_append_cut_off_before_its_commit_is_rerun_once(
    client: Client, admin: psycopg.Connection, pool: Any, key: str | None
) -> None:
    repo = client.repository(pool, retry=PATIENT)
    outcome = cut_before_commit(admin, lambda: repo.append(created(idempotency_key=key)))

    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].idempotency_replay is False
    assert ledger_keys(admin) == [("wo-1", key)]
    assert sum(repo.retries.values()) == 1
    assert set(repo.retries) <= TERMINATED


def test_a_keyed_append_whose_commit_went_unanswered_is_resent_and_replays(
    client: Client, admin: psycopg.Connection, pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    repo = client.repository(pool, retry=PATIENT)
    with caplog.at_level(logging.WARNING, logger="selene_core_tables.retry"):
        outcome = cut_after_commit(
            admin, lambda: repo.append(created(idempotency_key="k-1"), replay_is_error=True)
        )

    assert "error" not in outcome, outcome.get("error")
    first_id = admin.execute("SELECT work_order_event_id FROM os_core.work_order_ledger").fetchone()
    # The first attempt committed; the second found it: the same id, as a replay,
    # and not an IdempotencyReplay error although replay_is_error asked for one.
    assert outcome["result"].work_order_event_id == first_id[0]
    assert outcome["result"].idempotency_replay is True
    assert ledger_keys(admin) == [("wo-1", "k-1")]
    assert sum(repo.retries.values()) == 1
    retry_logs = [r for r in caplog.records if r.name == "selene_core_tables.retry"]
    assert [r.levelname for r in retry_logs] == ["WARNING"]
    assert "retrying" in retry_logs[0].getMessage()


def test_a_keyless_append_whose_commit_went_unanswered_is_not_resent(
    client: Client, admin: psycopg.Connection, pool: Any
) -> None:
    repo = client.repository(pool, retry=PATIENT)
    outcome = cut_after_commit(admin, lambda: repo.append(created()))

    error = outcome.get("error")
    assert isinstance(error, AppendOutcomeUnknown)
    assert retry_reason(error.__cause__) in {"57P01", CONNECTION_LOST}
    # It did commit (locally durable before the wait), and was sent once only.
    assert ledger_keys(admin) == [("wo-1", None)]
    assert repo.retries == {}


def test_a_keyed_batch_whose_commit_went_unanswered_is_resent_and_replays(
    client: Client, admin: psycopg.Connection, pool: Any
) -> None:
    repo = client.repository(pool, retry=PATIENT)
    batch = [created(f"wo-{n}", idempotency_key=f"k-{n}") for n in range(3)]
    outcome = cut_after_commit(admin, lambda: repo.append_many(batch))

    assert "error" not in outcome, outcome.get("error")
    assert [r.idempotency_replay for r in outcome["result"]] == [True, True, True]
    assert ledger_keys(admin) == [(f"wo-{n}", f"k-{n}") for n in range(3)]


def test_a_batch_with_a_keyless_event_whose_commit_went_unanswered_is_not_resent(
    client: Client, admin: psycopg.Connection, pool: Any
) -> None:
    repo = client.repository(pool, retry=PATIENT)
    batch = [created("wo-0", idempotency_key="k-0"), created("wo-1")]
    outcome = cut_after_commit(admin, lambda: repo.append_many(batch))

    assert isinstance(outcome.get("error"), AppendOutcomeUnknown)
    assert ledger_keys(admin) == [("wo-0", "k-0"), ("wo-1", None)]


def test_a_cancel_whose_commit_went_unanswered_is_resent_and_replays(
    client: Client, admin: psycopg.Connection, pool: Any
) -> None:
    repo = client.repository(pool, retry=PATIENT)
    repo.append(created())
    outcome = cut_after_commit(
        admin,
        lambda: repo.cancel(
            TENANT_A, "wo-1", reason_code=9, idempotency_key="cancel-1", created_at=2_000, turn_id=2
        ),
    )

    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].work_order_status == "CANCELED"
    assert ledger_keys(admin) == [("wo-1", None), ("wo-1", "cancel-1")]


def test_a_repository_over_a_dsn_reconnects_after_its_session_is_terminated(
    client: Client, admin: psycopg.Connection, app_dsn: str
) -> None:
    with client.repository(app_dsn, retry=PATIENT) as repo:
        repo.append(created(idempotency_key="k-1"))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = %s",
            [APP_ROLE],
        )
        current = repo.current(TENANT_A, "wo-1")

    assert current is not None and current.event_count == 1
    assert sum(repo.retries.values()) == 1


def test_a_connection_handed_in_is_never_retried(
    client: Client, admin: psycopg.Connection, app_dsn: str
) -> None:
    with client.connect(dsn=app_dsn, autocommit=True) as conn:
        repo = client.repository(conn, retry=PATIENT)
        outcome = cut_before_commit(admin, lambda: repo.append(created(idempotency_key="k-1")))

    assert retry_reason(outcome.get("error")) in TERMINATED
    assert ledger_keys(admin) == []
    assert repo.retries == {}


def test_retries_stop_at_the_deadline_with_the_last_error(
    client: Client, admin: psycopg.Connection, app_dsn: str
) -> None:
    # A primary that became a standby refuses every write with 25006; after the
    # deadline the call gives up with that error, saying so.
    admin.execute(f"ALTER ROLE {APP_ROLE} SET default_transaction_read_only = on")
    try:
        # Opened after the ALTER ROLE, so that every connection of the pool sees it.
        pool = client.pool(app_dsn, min_size=2, max_size=2, kwargs={"autocommit": True})
        repo = client.repository(pool, retry=RetryPolicy(deadline=0.6, first_delay=0.1))
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as raised:
            repo.append(created(idempotency_key="k-1"))
    finally:
        admin.execute(f"ALTER ROLE {APP_ROLE} RESET default_transaction_read_only")

    assert repo.retries["25006"] >= 2
    assert any("gave up after" in note for note in raised.value.__notes__)
    assert ledger_keys(admin) == []


def test_retry_none_raises_the_first_error(
    client: Client, admin: psycopg.Connection, pool: Any
) -> None:
    repo = client.repository(pool, retry=None)
    outcome = cut_before_commit(admin, lambda: repo.append(created(idempotency_key="k-1")))

    assert retry_reason(outcome.get("error")) in TERMINATED
    assert ledger_keys(admin) == []


@pytest.mark.parametrize(
    ("sqlstate", "reason"),
    [
        ("57P01", "57P01"),
        ("57P02", "57P02"),
        ("57P03", "57P03"),
        ("25006", "25006"),
        ("40001", "40001"),
        ("40P01", "40P01"),
        ("08006", CONNECTION_LOST),
        ("57014", None),  # query_canceled: a statement_timeout, not the connection's fault
        ("23505", None),
        ("SE004", None),
    ],
)
def test_which_errors_are_retried(sqlstate: str, reason: str | None) -> None:
    error_class = psycopg.errors.lookup(sqlstate) if sqlstate[:2] != "SE" else psycopg.Error
    error = error_class("x")
    if sqlstate[:2] == "SE":
        assert retry_reason(error) is None
        return
    assert retry_reason(error) == reason


def test_a_lost_connection_without_sqlstate_is_retried() -> None:
    assert retry_reason(psycopg.OperationalError("server closed the connection")) == (
        CONNECTION_LOST
    )


def prepared_count(conn: Any) -> int:
    """How many statements the session behind ``conn`` has prepared (its own view)."""
    row = conn.execute("SELECT count(*) FROM pg_catalog.pg_prepared_statements").fetchone()
    return int(row[0])


@pytest.mark.parametrize("prepared_statements", [True, False])
def test_prepared_statements_false_never_prepares(
    client: Client, prepared_statements: bool
) -> None:
    """Over an autocommit connection a call is one simple-protocol message, which is
    never prepared; in a transaction (here: a connection not in autocommit) a call is a
    pipeline, whose statements psycopg prepares from their 5th execution unless
    ``prepared_statements=False``."""
    conn = client.connect(APP_ROLE, autocommit=True)
    repo = client.repository(conn, prepared_statements=prepared_statements)
    repo.append(created())
    for _ in range(8):
        repo.current(TENANT_A, "wo-1")
        repo.ledger_page(TENANT_A)
    assert prepared_count(conn) == 0

    in_transactions = client.connect(APP_ROLE)
    repo = client.repository(in_transactions, prepared_statements=prepared_statements)
    for _ in range(8):  # psycopg prepares a query from its 5th execution by default
        repo.current(TENANT_A, "wo-1")
        repo.ledger_page(TENANT_A)
        in_transactions.commit()
    assert (prepared_count(in_transactions) > 0) is prepared_statements


def test_the_repository_refuses_a_source_it_cannot_use(client: Client) -> None:
    with pytest.raises(TypeError, match="WorkOrderRepository takes"):
        client.repository(42)
