"""When a call may be re-run on a fresh connection, and how long to keep trying.

A call is re-run only when its first attempt failed in a way that a new
connection can cure and that cannot have left a half-done effect behind:

* the connection was lost (the server died, the network dropped, a pool could
  not hand out a connection), or the server said it is shutting down or starting
  up (57P01, 57P02, 57P03);
* the server is a standby now (25006 read_only_sql_transaction: a failover left
  this connection on the old primary, restarted read-only);
* the transaction lost a race (40001 serialization_failure, 40P01 deadlock).

Whether re-running is *harmless* depends on the call, not on the error: see
``WorkOrderRepository`` and ``AsyncWorkOrderRepository``, which retry alike (an
append with an idempotency key is; one without, whose COMMIT got no answer, is
not, and raises :class:`AppendOutcomeUnknown`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import psycopg

#: SQLSTATEs after which a new attempt on a fresh connection can succeed.
RETRYABLE_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: the server is stopping (a fast or smart shutdown)
        "57P02",  # crash_shutdown: another backend crashed, the server restarts
        "57P03",  # cannot_connect_now: the server is starting or shutting down
        "25006",  # read_only_sql_transaction: this server is a standby now
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }
)

#: The retry reason counted for a lost connection (no SQLSTATE, or class 08).
CONNECTION_LOST = "connection"

#: Retry reasons after which a COMMIT already sent may have taken effect: the
#: connection went away before its answer came (a server error answer, such as a
#: serialization failure, means the transaction rolled back).
IN_DOUBT_REASONS = frozenset({CONNECTION_LOST, "57P01", "57P02", "57P03"})


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a repository re-runs a call that failed harmlessly.

    Attempts go on until ``deadline`` seconds have passed since the first one
    began; between attempts the wait grows from ``first_delay`` by doubling up to
    ``max_delay``, and each wait is drawn at random between half of it and all of
    it (so that many clients cut off at once do not come back in step).
    ``RetryPolicy(deadline=0)`` or ``retry=None`` turns retrying off.
    """

    deadline: float = 30.0
    first_delay: float = 0.05
    max_delay: float = 2.0

    def __post_init__(self) -> None:
        """Refuse a negative deadline or delay, and a max_delay below first_delay."""
        if self.deadline < 0 or self.first_delay < 0 or self.max_delay < self.first_delay:
            raise ValueError(
                f"RetryPolicy needs deadline >= 0 and 0 <= first_delay <= max_delay, got {self}"
            )

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first)."""
        ceiling = min(self.max_delay, self.first_delay * 2 ** min(retry_number - 1, 30))
        return random.uniform(ceiling / 2, ceiling)


class AppendOutcomeUnknown(Exception):
    """The connection was lost after an append without idempotency key sent its COMMIT.

    The event may or may not be in the ledger, and re-sending it could append it
    twice, so the repository does not retry. Read the work order's ledger to find
    out, and give events idempotency keys so that the client can retry them safely.
    The lost-connection error is the ``__cause__``. Deliberately not a psycopg
    error, so that a generic "retry on OperationalError" loop does not re-send it.
    """


def retry_reason(error: BaseException) -> str | None:
    """Return why ``error`` may be retried on a fresh connection, or None when it may not.

    The reason is the SQLSTATE, or :data:`CONNECTION_LOST` for a lost connection.
    """
    if not isinstance(error, psycopg.Error):
        return None
    sqlstate = error.sqlstate
    if sqlstate in RETRYABLE_SQLSTATES:
        return sqlstate
    if isinstance(error, psycopg.OperationalError) and (
        sqlstate is None or sqlstate.startswith("08")
    ):
        return CONNECTION_LOST
    return None
