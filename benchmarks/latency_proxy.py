"""A local TCP proxy that delays every byte by a fixed time and counts round trips.

``make bench`` runs over a Unix socket, where a round trip costs a few microseconds and
four of them cost nothing to see. A service talks to its database over a network: the
network profile (benchmarks/network.py) puts this proxy between the clients (pgbench,
the Python client) and the cluster, so that each direction costs ``delay`` seconds, as
a link with a round-trip time of twice that would.

Each connection gets two forwarding threads per direction: a reader that stamps each
chunk with the time it arrived, and a writer that sends it on once ``delay`` has passed.
Threads, not asyncio: an event loop's timers wake with millisecond resolution (epoll),
too coarse for 0.25 ms; ``time.sleep`` wakes within tens of microseconds.

The proxy also counts *flights*: a client->server flight begins when the client sends
after the server has sent it something (or for the first time). One call that costs one
network round trip is one flight, whatever the number of messages or write() calls in
it; tests/test_round_trips.py counts them per client call.
"""

from __future__ import annotations

import ctypes
import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

_CHUNK = 65536
_PR_SET_TIMERSLACK = 29


def _tight_timer() -> None:
    """Let this thread's sleeps end within 1 us of their time, not Linux's default 50 us."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_TIMERSLACK, 1000, 0, 0, 0)


@dataclass
class _Link:
    """One proxied connection: which side spoke last, and its client flights."""

    flights: int = 0
    last_sender: str = "server"  # so that the client's first bytes open a flight
    lock: threading.Lock = field(default_factory=threading.Lock)

    def heard(self, sender: str) -> None:
        with self.lock:
            if sender == "client" and self.last_sender == "server":
                self.flights += 1
            self.last_sender = sender


class LatencyProxy:
    """Listen on 127.0.0.1 and forward each connection to ``target``, delayed.

    ``target`` is a Unix socket path (PostgreSQL's ``.s.PGSQL.<port>`` file) or a
    ``(host, port)`` pair. Use it as a context manager; ``port`` is where clients connect.
    """

    def __init__(self, target: str | tuple[str, int], delay: float) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay!r}")
        self.target = target
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._links: list[_Link] = []
        self._links_lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="latency-proxy", daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and cut every proxied connection."""
        self._closed.set()
        with suppress(OSError):
            self._listener.close()
        with self._links_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()

    def flights(self) -> int:
        """Client->server flights so far, over every connection."""
        with self._links_lock:
            return sum(link.flights for link in self._links)

    @contextmanager
    def counting(self) -> Iterator[list[int]]:
        """Yield a list that holds, once the block ends, the flights made inside it."""
        before = self.flights()
        counted: list[int] = []
        yield counted
        counted.append(self.flights() - before)

    def _connect_target(self) -> socket.socket:
        if isinstance(self.target, str):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.target)
        else:
            server = socket.create_connection(self.target)
            server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return server

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                server = self._connect_target()
            except OSError:
                client.close()
                continue
            link = _Link()
            with self._links_lock:
                self._links.append(link)
                self._sockets += [client, server]
            for source, sink, sender in ((client, server, "client"), (server, client, "server")):
                chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
                threading.Thread(
                    target=self._read, args=(source, chunks, link, sender), daemon=True
                ).start()
                threading.Thread(target=self._write, args=(sink, chunks), daemon=True).start()

    def _read(
        self,
        source: socket.socket,
        chunks: queue.SimpleQueue[tuple[float, bytes]],
        link: _Link,
        sender: str,
    ) -> None:
        while True:
            try:
                data = source.recv(_CHUNK)
            except OSError:
                data = b""
            if data:
                link.heard(sender)
            chunks.put((time.perf_counter() + self.delay, data))
            if not data:
                return

    @staticmethod
    def _write(sink: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]]) -> None:
        _tight_timer()
        while True:
            due, data = chunks.get()
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return
