"""selene-core-tables: the Selene OS work-order ledger in PostgreSQL.

The engine lives in the database (schema ``os_core``, audit in ``ph1j``); this
package applies its migrations and runs local PostgreSQL servers for tests and
the embedded default.
"""

from __future__ import annotations

__version__ = "0.1.0"
