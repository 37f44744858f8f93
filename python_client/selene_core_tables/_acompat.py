"""The few objects that differ between the async repository and the sync one generated from it.

``scripts/generate_sync.py`` renames each ``Async``/``async_`` name below to its
synchronous twin (``AsyncLock`` -> ``Lock``, ``async_sleep`` -> ``sleep``), so that
:mod:`selene_core_tables.repository_async` needs no code of its own for them (the
way psycopg's ``_acompat`` modules do it).
"""

from __future__ import annotations

import asyncio
import threading
import time

#: A lock held across awaits (the DSN repository's one connection), and its sync twin.
AsyncLock = asyncio.Lock
Lock = threading.Lock

#: The wait between retries: it must not block the event loop, and its sync twin.
async_sleep = asyncio.sleep
sleep = time.sleep

__all__ = ["AsyncLock", "Lock", "async_sleep", "sleep"]
