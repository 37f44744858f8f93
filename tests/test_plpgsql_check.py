"""plpgsql_check over every PL/pgSQL function of os_core and ph1j: no error, no warning."""

from __future__ import annotations

import psycopg

CHECK_EVERY_PLPGSQL_FUNCTION = """
SELECT p.oid::regprocedure::text AS function, r.level, r.message, r.lineno, r.statement
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language AS lang ON lang.oid = p.prolang
CROSS JOIN LATERAL plpgsql_check_function_tb(
    p.oid,
    -- a trigger function is checked against a table it is attached to
    coalesce((SELECT t.tgrelid FROM pg_catalog.pg_trigger AS t WHERE t.tgfoid = p.oid LIMIT 1), 0),
    fatal_errors => false,
    other_warnings => true,
    extra_warnings => true,
    performance_warnings => false,
    security_warnings => true
) AS r
WHERE n.nspname IN ('os_core', 'ph1j') AND lang.lanname = 'plpgsql'
ORDER BY 1, r.lineno
"""


def test_plpgsql_check_finds_nothing(postgresql: psycopg.Connection) -> None:
    postgresql.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    checked = postgresql.execute(
        """
        SELECT count(*) FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        JOIN pg_catalog.pg_language AS lang ON lang.oid = p.prolang
        WHERE n.nspname IN ('os_core', 'ph1j') AND lang.lanname = 'plpgsql'
        """
    ).fetchone()
    assert checked is not None and checked[0] >= 8, "expected the product's PL/pgSQL functions"
    findings = postgresql.execute(CHECK_EVERY_PLPGSQL_FUNCTION).fetchall()
    assert findings == [], "\n".join(
        f"{function}: {level} at line {lineno}: {message} [{statement}]"
        for function, level, message, lineno, statement in findings
    )
