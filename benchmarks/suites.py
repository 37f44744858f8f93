"""The benchmark suites: each measures ours and its baseline, interleaved, and adds metrics.

``read``
    ``work_order_current_read`` against a primary-key lookup, ``work_order_ledger_read``
    (one keyset page) against an index range scan, at the highest client count; each
    also with row-level security disabled (RLS overhead).
``append``
    ``work_order_ledger_append`` against a bare single-row INSERT into an equally indexed
    table, at every client count; at the highest also with row-level security disabled.
``client``
    The Python client: appends one call per event, ``append_many`` (one call of
    ``os_core.work_order_ledger_append_many`` per batch), the same appends by pgbench on
    one connection, and 100,000 events through the CLI's ``append --jsonl``.
``network``
    Latency at one client through a proxy adding 0.25 ms each way: pgbench and the
    Python client, ours against the bare INSERT and PK lookup (:mod:`benchmarks.network`).
``follow``
    Lag from an append's commit to a follower, with and without notifications, and one
    follower's events per second (:mod:`benchmarks.follow`).
``rebuild``
    The rebuild over the lifecycle data set against ``CREATE TABLE AS SELECT DISTINCT ON``.
``growth``
    Appends on a ledger of ``tenants x work_orders`` rows and on one ten times larger.
``citus``
    Append and current read through a Citus coordinator against the same on one node
    (:mod:`benchmarks.citus`).

Every pgbench run is preceded by a ``CHECKPOINT``, so that no run inherits another's
dirty buffers or meets a timed checkpoint halfway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from benchmarks.append import append_suite
from benchmarks.citus import citus_suite
from benchmarks.client import client_suite
from benchmarks.follow import follow_suite
from benchmarks.growth import growth_suite
from benchmarks.network import network_suite
from benchmarks.read import read_suite
from benchmarks.rebuild import rebuild_suite

if TYPE_CHECKING:
    from benchmarks.harness import Bench

RUNNERS: dict[str, Callable[[Bench], None]] = {
    "read": read_suite,
    "append": append_suite,
    "client": client_suite,
    "network": network_suite,
    "follow": follow_suite,
    "rebuild": rebuild_suite,
    "growth": growth_suite,
    "citus": citus_suite,
}
"""Suite name -> the function that runs it."""
