"""Run the client suites against both repositories: the sync one, and the async one.

A test asks for ``client`` (parametrized over ``"sync"`` and ``"async"``) and builds its
repositories, connections and pools through it: ``client.repository(source, ...)``,
``client.connect(user, ...)``, ``client.pool(dsn, ...)``. In the sync flavor they are
WorkOrderRepository, psycopg.Connection and ConnectionPool. In the async flavor they are
the real AsyncWorkOrderRepository, AsyncConnection and AsyncConnectionPool, each wrapped in
:class:`Blocking`, which runs every call as a coroutine on one event loop in a background
thread (``asyncio.run_coroutine_threadsafe``) and waits for its result, so the same test
body drives the async code: ``with conn.transaction()`` enters the AsyncConnection's
transaction, ``for event in repo.ledger(...)`` iterates its async generator page by page.

Test modules load it with ``pytest_plugins = ["tests.client_flavors"]``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables import AsyncWorkOrderRepository, WorkOrderRepository
from tests.servers import conninfo

FLAVORS = ["sync", "async"]


class _Exhausted:
    """What an ``__anext__`` that ended returns across the loop (not StopAsyncIteration)."""


class EventLoopThread:
    """One asyncio event loop running in a daemon thread, for the whole test session."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="async-client-loop", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``function`` on the loop, awaiting what it returns when it is awaitable."""

        async def invoke() -> Any:
            result = function(*args, **kwargs)
            if inspect.isawaitable(result):
                try:
                    result = await result
                except StopAsyncIteration:
                    return _Exhausted()
            return result

        return self.wrap(self.run(invoke()))

    def wrap(self, value: Any) -> Any:
        """Wrap an async object (one with ``__aenter__`` or ``__aiter__``) in Blocking."""
        if hasattr(value, "__aenter__") or hasattr(value, "__aiter__"):
            return Blocking(value, self)
        return value

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class Blocking:
    """A synchronous face on an asyncio object: each method call runs on the loop thread.

    Attributes that are not callable (``repo.retries``, ``conn.info``) are the object's
    own; ``with`` runs ``__aenter__``/``__aexit__``; iteration runs ``__anext__`` once per
    item, lazily, as ``async for`` would.
    """

    def __init__(self, target: Any, runner: EventLoopThread) -> None:
        self.target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.target, name)
        if not callable(value) or isinstance(value, type):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.call(value, *args, **kwargs)

        return call

    def __enter__(self) -> Any:
        return self._runner.call(self.target.__aenter__)

    def __exit__(self, *exc_info: Any) -> Any:
        return self._runner.call(self.target.__aexit__, *exc_info)

    def __iter__(self) -> Iterator[Any]:
        iterator = self.target.__aiter__()
        while True:
            item = self._runner.call(iterator.__anext__)
            if isinstance(item, _Exhausted):
                return
            yield item

    def __repr__(self) -> str:
        return f"Blocking({self.target!r})"


class Client:
    """Builds the repositories, connections and pools of one flavor; closes them after."""

    def __init__(
        self, flavor: str, runner: Callable[[], EventLoopThread], server: Any, dbname: str
    ) -> None:
        self.flavor = flavor
        self._runner = runner
        self._server = server
        self._dbname = dbname
        self._opened: list[Any] = []

    @property
    def is_async(self) -> bool:
        return self.flavor == "async"

    def repository(self, source: Any, **kwargs: Any) -> Any:
        """WorkOrderRepository(source), or AsyncWorkOrderRepository(source) behind Blocking."""
        if not self.is_async:
            return WorkOrderRepository(source, **kwargs)
        if isinstance(source, Blocking):
            source = source.target
        return Blocking(AsyncWorkOrderRepository(source, **kwargs), self._runner())

    def connect(self, user: str | None = None, *, dsn: str | None = None, **kwargs: Any) -> Any:
        """A connection to the test database as ``user`` (default: the superuser), or to dsn."""
        dsn = dsn or conninfo(self._server, self._dbname, user)
        if self.is_async:
            runner = self._runner()
            conn: Any = runner.wrap(runner.run(psycopg.AsyncConnection.connect(dsn, **kwargs)))
        else:
            conn = psycopg.connect(dsn, **kwargs)
        self._opened.append(conn)
        return conn

    def pool(self, dsn: str, *, check: bool = False, **kwargs: Any) -> Any:
        """An open pool on ``dsn``; ``check=True`` checks each connection as it is handed out."""
        if not self.is_async:
            check_connection = ConnectionPool.check_connection if check else None
            pool: Any = ConnectionPool(dsn, open=True, check=check_connection, **kwargs)
        else:

            async def open_pool() -> AsyncConnectionPool:
                check_connection = AsyncConnectionPool.check_connection if check else None
                opened = AsyncConnectionPool(dsn, open=False, check=check_connection, **kwargs)
                await opened.open()
                return opened

            runner = self._runner()
            pool = runner.wrap(runner.run(open_pool()))
        self._opened.append(pool)
        return pool

    def close(self) -> None:
        for opened in reversed(self._opened):
            opened.close()


@pytest.fixture(scope="session")
def event_loop_thread() -> Iterator[Callable[[], EventLoopThread]]:
    """The background event loop of the async flavor, started when first used."""
    started: list[EventLoopThread] = []

    def get() -> EventLoopThread:
        if not started:
            started.append(EventLoopThread())
        return started[0]

    yield get
    for runner in started:
        runner.close()


@pytest.fixture(params=FLAVORS)
def client(
    request: pytest.FixtureRequest,
    event_loop_thread: Callable[[], EventLoopThread],
    postgresql_proc: PostgreSQLExecutor,
    dbname: str,
) -> Iterator[Client]:
    """The flavor of client under test: ``"sync"`` or ``"async"``."""
    built = Client(request.param, event_loop_thread, postgresql_proc, dbname)
    yield built
    built.close()
