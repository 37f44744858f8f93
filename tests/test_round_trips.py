"""Network round trips per client call, counted on the wire by a proxy.

Each call of the repositories declares its tenant, runs its capability and commits in
one round trip (issue 13), which a client far from its database pays once per call
instead of four times: one simple-protocol message (one implicit transaction) over an
autocommit connection with no transaction open, else one pipeline (BEGIN or a savepoint,
the declaration, the call, COMMIT or RELEASE). An append without idempotency key is the
one exception, and takes two: its COMMIT waits for the append's answer, so that a
connection lost before the COMMIT was sent is re-run without doubt
(tests/test_client_retry.py). The proxy (benchmarks/latency_proxy.py) counts a flight
each time the client speaks after the server did. It delays each direction by 20 ms:
psycopg writes a pipeline's statements one by one, and without a delay the server's
first answers would come back between those writes and be counted; with it, a call's
writes all leave before any answer can arrive, so flights are the waits for the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from benchmarks.latency_proxy import LatencyProxy
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables import ContractValidationFailed
from selene_core_tables.records import WorkEventType, WorkOrderStatus
from tests.client_helpers import created
from tests.conftest import APP_ROLE
from tests.sql_helpers import TENANT_A, TENANT_B

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]
pytestmark = pytest.mark.timeout(120)

DELAY = 0.02


@pytest.fixture
def proxy(postgresql_proc: PostgreSQLExecutor) -> Iterator[LatencyProxy]:
    with LatencyProxy((postgresql_proc.host, int(postgresql_proc.port)), delay=DELAY) as started:
        yield started


@pytest.fixture
def repo(client: Client, proxy: LatencyProxy, dbname: str) -> Iterator[Any]:
    """A repository over a DSN through the proxy, its connection already open."""
    dsn = f"postgresql://{APP_ROLE}@127.0.0.1:{proxy.port}/{dbname}"
    with client.repository(dsn, retry=None) as opened:
        opened.current(TENANT_A, "wo-none")  # connects (several flights) before counting
        yield opened


def flights(proxy: LatencyProxy, call: Callable[[], Any]) -> int:
    with proxy.counting() as counted:
        call()
    return counted[0]


def field_set(number: int, **fields: Any) -> Any:
    return created(
        event_type=WorkEventType.FIELD_SET,
        created_at=1_000 + number,
        idempotency_key=f"set-{number}",
        payload={"n": number},
        **fields,
    )


def count(connect: Callable[..., psycopg.Connection], table: str) -> int:
    with connect(autocommit=True) as admin:
        (rows,) = admin.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
    return int(rows)


def test_a_keyed_append_is_one_round_trip_every_time(repo: Any, proxy: LatencyProxy) -> None:
    assert flights(proxy, lambda: repo.append(created(idempotency_key="created"))) == 1
    # One message each time (psycopg would prepare a pipeline's statement on its fifth
    # run; a simple-protocol message is never prepared).
    assert [flights(proxy, lambda n=n: repo.append(field_set(n))) for n in range(8)] == [1] * 8
    # A replay is one round trip too.
    assert flights(proxy, lambda: repo.append(field_set(7))) == 1


def test_an_append_without_key_is_two_round_trips(repo: Any, proxy: LatencyProxy) -> None:
    assert flights(proxy, lambda: repo.append(created())) == 2


def test_a_keyed_batch_is_one_round_trip(repo: Any, proxy: LatencyProxy) -> None:
    batch = [created(f"wo-{n}", idempotency_key=f"k-{n}") for n in range(20)]

    assert flights(proxy, lambda: repo.append_many(batch)) == 1


def test_every_read_and_the_cancel_is_one_round_trip(repo: Any, proxy: LatencyProxy) -> None:
    repo.append(created(idempotency_key="created"))
    calls: dict[str, Callable[[], Any]] = {
        "current": lambda: repo.current(TENANT_A, "wo-1"),
        "ledger_page": lambda: repo.ledger_page(TENANT_A, "wo-1"),
        "ledger_page tenant-wide": lambda: repo.ledger_page(TENANT_A),
        "list_pending": lambda: repo.list_pending(TENANT_A),
        "list_pending statuses": lambda: repo.list_pending(
            TENANT_A, statuses=[WorkOrderStatus.DRAFT]
        ),
        "step_attempts": lambda: repo.step_attempts(TENANT_A, "wo-1"),
        "lease": lambda: repo.lease(TENANT_A, "wo-1"),
        "stats": lambda: repo.stats(TENANT_A),
        "cancel": lambda: repo.cancel(
            TENANT_A, "wo-1", reason_code=9, idempotency_key="c-1", created_at=2_000, turn_id=2
        ),
    }

    assert {name: flights(proxy, call) for name, call in calls.items()} == dict.fromkeys(calls, 1)


def test_a_refused_call_is_one_round_trip_and_writes_nothing(
    repo: Any, proxy: LatencyProxy, connect: Callable[..., psycopg.Connection]
) -> None:
    def refused(event: Any, error: type[Exception]) -> int:
        with proxy.counting() as counted, pytest.raises(error):
            repo.append(event)
        return counted[0]

    # A call over the repository's own connection is one message, one implicit
    # transaction: the refusal rolls it back on the server, which leaves the connection
    # idle and clean, with no ROLLBACK to send.
    assert refused(created(idempotency_key="k", turn_id=0), ContractValidationFailed) == 1
    # A tenant id the database refuses when it is declared: the declaration is the
    # message's first statement, so the append after it never runs.
    assert (
        refused(created(idempotency_key="k", tenant_id="no/slash"), ContractValidationFailed) == 1
    )
    assert count(connect, "os_core.work_order_ledger") == 0
    assert count(connect, "ph1j.audit_events") == 0
    # The next call on the same connection is unharmed by the failed pipeline.
    assert flights(proxy, lambda: repo.append(created(idempotency_key="k"))) == 1
    assert repo.current(TENANT_A, "wo-1").event_count == 1
    assert repo.current(TENANT_B, "wo-1") is None


def test_a_call_joining_your_transaction_uses_a_savepoint_in_one_round_trip(
    client: Client, proxy: LatencyProxy, dbname: str, connect: Callable[..., psycopg.Connection]
) -> None:
    dsn = f"postgresql://{APP_ROLE}@127.0.0.1:{proxy.port}/{dbname}"
    with client.connect(dsn=dsn, autocommit=True) as conn:
        repo = client.repository(conn)
        conn.execute("BEGIN")  # the caller's transaction: calls join it with a savepoint
        assert flights(proxy, lambda: repo.append(created(idempotency_key="k"))) == 1
        with pytest.raises(ContractValidationFailed):
            repo.append(created("wo-2", idempotency_key="k2", turn_id=0))
        # The refusal rolled back to the savepoint: the first append stands.
        assert repo.current(TENANT_A, "wo-1").event_count == 1
        assert count(connect, "os_core.work_order_ledger") == 0  # not committed yet
        conn.execute("COMMIT")
    assert count(connect, "os_core.work_order_ledger") == 1


def test_a_call_on_an_idle_connection_without_autocommit_commits_its_own_transaction(
    client: Client, proxy: LatencyProxy, dbname: str, connect: Callable[..., psycopg.Connection]
) -> None:
    dsn = f"postgresql://{APP_ROLE}@127.0.0.1:{proxy.port}/{dbname}"
    with client.connect(dsn=dsn, autocommit=False) as conn:
        repo = client.repository(conn)
        repo.append(created(idempotency_key="k"))
        assert count(connect, "os_core.work_order_ledger") == 1  # committed, as with autocommit
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
