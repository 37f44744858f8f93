"""The schema stays distributable by tenant_id with Citus (design §8, docs/scaling.md).

Citus is not installable here, so these tests read pg_catalog instead: every table carries
tenant_id (one type, so all can be co-located); every primary key, unique constraint,
unique index and exclusion constraint includes it; no foreign key crosses tenants; every
sequence is a bigint owned by a column (Citus gives each node its own bigint range); every
capability function takes p_tenant_id, its distribution argument. Each check returns the
offenders, and a test plants one of each in a rolled-back transaction to prove the check
sees it. The distribution itself is migration 0007's, proven on a real cluster by
tests/test_citus.py (make test-citus); these checks keep a single-node change from
breaking it unnoticed.
"""

from __future__ import annotations

import psycopg
import pytest

SCHEMAS = ("os_core", "ph1j")
LEDGER = "os_core.work_order_ledger"
# Capability functions that read or write no table, so need no distribution argument.
TABLELESS_CAPABILITIES = {
    "os_core.capabilities()",
    "os_core.error_codes()",
    "os_core.is_blank(text)",
    "os_core.is_distributed()",
}

TABLES_SQL = """
    SELECT c.oid::regclass::text
    FROM pg_class AS c
    WHERE c.relnamespace::regnamespace::text = ANY(%(schemas)s) AND c.relkind IN ('r', 'p')
    ORDER BY 1
"""


def tables(conn: psycopg.Connection) -> list[str]:
    return [name for (name,) in conn.execute(TABLES_SQL, {"schemas": list(SCHEMAS)})]


def distributed_tables(conn: psycopg.Connection) -> list[str]:
    """The tables the script distributes: all but partitions, which Citus distributes with
    their partitioned table (the layout of os_core.partition_by_tenant, docs/dba.md)."""
    return [
        name
        for (name,) in conn.execute(
            TABLES_SQL.replace("ORDER BY 1", "AND NOT c.relispartition ORDER BY 1"),
            {"schemas": list(SCHEMAS)},
        )
    ]


def tables_without_tenant_id(conn: psycopg.Connection) -> list[str]:
    """Tables with no NOT NULL text tenant_id checked by the os_core.tenant_id rule.

    Text, not the domain: Citus routes a call by its text p_tenant_id and cannot coerce
    it to a domain (migration 0006); the CHECK casts to the domain, the one rule.
    """
    return [
        name
        for (name,) in conn.execute(
            """
            SELECT c.oid::regclass::text
            FROM pg_class AS c
            LEFT JOIN pg_attribute AS a
                ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            WHERE c.relnamespace::regnamespace::text = ANY(%(schemas)s)
              AND c.relkind IN ('r', 'p')
              AND (a.attnum IS NULL OR NOT a.attnotnull
                   OR a.atttypid <> 'text'::regtype
                   OR NOT EXISTS (
                       SELECT FROM pg_constraint AS k
                       WHERE k.conrelid = c.oid AND k.contype = 'c'
                         AND pg_get_constraintdef(k.oid)
                             = 'CHECK (((tenant_id)::os_core.tenant_id IS NOT NULL))'))
            ORDER BY 1
            """,
            {"schemas": list(SCHEMAS)},
        )
    ]


def tables_without_primary_key(conn: psycopg.Connection) -> list[str]:
    """Tables with no primary key (the shard rebalancer's logical replication needs one)."""
    return [
        name
        for (name,) in conn.execute(
            """
            SELECT c.oid::regclass::text
            FROM pg_class AS c
            WHERE c.relnamespace::regnamespace::text = ANY(%(schemas)s)
              AND c.relkind IN ('r', 'p')
              AND NOT EXISTS (
                  SELECT FROM pg_constraint AS k WHERE k.conrelid = c.oid AND k.contype = 'p')
            ORDER BY 1
            """,
            {"schemas": list(SCHEMAS)},
        )
    ]


def unique_keys_without_tenant_id(conn: psycopg.Connection) -> list[str]:
    """Unique indexes (primary keys, unique constraints, CREATE UNIQUE INDEX, partial or
    not) whose key columns do not include tenant_id as a plain column."""
    return [
        name
        for (name,) in conn.execute(
            """
            SELECT i.indexrelid::regclass::text
            FROM pg_index AS i
            JOIN pg_class AS t ON t.oid = i.indrelid
            WHERE t.relnamespace::regnamespace::text = ANY(%(schemas)s)
              AND t.relkind IN ('r', 'p')
              AND i.indisunique
              AND NOT EXISTS (
                  SELECT FROM pg_attribute AS a
                  WHERE a.attrelid = t.oid AND a.attname = 'tenant_id'
                    AND a.attnum = ANY((i.indkey::int2[])[0:i.indnkeyatts - 1]))
            ORDER BY 1
            """,
            {"schemas": list(SCHEMAS)},
        )
    ]


def exclusion_constraints_without_tenant_equality(conn: psycopg.Connection) -> list[str]:
    """Exclusion constraints that do not compare tenant_id with equality."""
    return [
        name
        for (name,) in conn.execute(
            """
            SELECT k.conrelid::regclass::text || '.' || k.conname
            FROM pg_constraint AS k
            WHERE k.connamespace::regnamespace::text = ANY(%(schemas)s)
              AND k.contype = 'x'
              AND NOT EXISTS (
                  SELECT FROM unnest(k.conkey, k.conexclop) AS e (attnum, op)
                  JOIN pg_attribute AS a ON a.attrelid = k.conrelid AND a.attnum = e.attnum
                  JOIN pg_operator AS o ON o.oid = e.op
                  WHERE a.attname = 'tenant_id' AND o.oprname = '=')
            ORDER BY 1
            """,
            {"schemas": list(SCHEMAS)},
        )
    ]


def foreign_keys_crossing_tenants(conn: psycopg.Connection) -> list[str]:
    """Foreign keys from or to our tables that do not pair tenant_id with tenant_id, or
    that point outside our (distributed, co-located) tables."""
    return [
        name
        for (name,) in conn.execute(
            """
            SELECT k.conrelid::regclass::text || '.' || k.conname
            FROM pg_constraint AS k
            WHERE k.contype = 'f'
              AND (k.conrelid::regclass::text LIKE ANY(%(prefixes)s)
                   OR k.confrelid::regclass::text LIKE ANY(%(prefixes)s))
              AND (
                  NOT (k.conrelid::regclass::text LIKE ANY(%(prefixes)s)
                       AND k.confrelid::regclass::text LIKE ANY(%(prefixes)s))
                  OR NOT EXISTS (
                      SELECT FROM unnest(k.conkey, k.confkey) AS pair (own, referenced)
                      JOIN pg_attribute AS o
                          ON o.attrelid = k.conrelid AND o.attnum = pair.own
                      JOIN pg_attribute AS r
                          ON r.attrelid = k.confrelid AND r.attnum = pair.referenced
                      WHERE o.attname = 'tenant_id' AND r.attname = 'tenant_id'))
            ORDER BY 1
            """,
            {"prefixes": [f"{schema}.%" for schema in SCHEMAS]},
        )
    ]


def sequences_not_bigint_identity(conn: psycopg.Connection) -> list[str]:
    """Sequences that are not bigint, or not owned by a column of one of our tables."""
    return [
        name
        for (name,) in conn.execute(
            """
            SELECT s.seqrelid::regclass::text
            FROM pg_sequence AS s
            JOIN pg_class AS c ON c.oid = s.seqrelid
            WHERE c.relnamespace::regnamespace::text = ANY(%(schemas)s)
              AND (s.seqtypid <> 'bigint'::regtype
                   OR NOT EXISTS (
                       SELECT FROM pg_depend AS d
                       JOIN pg_class AS t ON t.oid = d.refobjid
                       WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                         AND t.relnamespace::regnamespace::text = ANY(%(schemas)s)))
            ORDER BY 1
            """,
            {"schemas": list(SCHEMAS)},
        )
    ]


def capability_functions(conn: psycopg.Connection) -> dict[str, list[str]]:
    """The functions selene_os may execute, by signature, with their input argument names."""
    rows = conn.execute(
        """
        SELECT p.oid::regprocedure::text,
               coalesce(
                   (SELECT array_agg(a.name ORDER BY a.position)
                    FROM unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char",
                                ARRAY[coalesce(cardinality(p.proargnames), 0)])))
                         WITH ORDINALITY AS a (name, mode, position)
                    WHERE a.mode IN ('i', 'b', 'v')),
                   '{}')
        FROM pg_proc AS p
        WHERE p.pronamespace::regnamespace::text = ANY(%(schemas)s)
          AND has_function_privilege('selene_os', p.oid, 'EXECUTE')
        ORDER BY 1
        """,
        {"schemas": list(SCHEMAS)},
    ).fetchall()
    return dict(rows)


def capabilities_without_tenant_argument(conn: psycopg.Connection) -> list[str]:
    """Capability functions (EXECUTE granted to selene_os) that touch tables but take no
    ``p_tenant_id text``, the argument Citus routes each call by."""
    offenders = []
    for signature, arguments in capability_functions(conn).items():
        if signature in TABLELESS_CAPABILITIES:
            continue
        if "p_tenant_id" not in arguments:
            offenders.append(signature)
            continue
        position = arguments.index("p_tenant_id")
        argument_types = signature[signature.index("(") + 1 : -1].split(",")
        if argument_types[position] != "text":
            offenders.append(signature)
    return offenders


CHECKS = {
    "tenant_id": tables_without_tenant_id,
    "primary key": tables_without_primary_key,
    "unique": unique_keys_without_tenant_id,
    "exclusion": exclusion_constraints_without_tenant_equality,
    "foreign key": foreign_keys_crossing_tenants,
    "sequence": sequences_not_bigint_identity,
    "capability": capabilities_without_tenant_argument,
}


@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
def test_the_schema_can_be_distributed_by_tenant_id(
    postgresql: psycopg.Connection, check: object
) -> None:
    assert tables(postgresql), "no tables found: are the migrations applied?"
    assert check(postgresql) == []  # type: ignore[operator]


def test_every_check_catches_what_it_guards_against(postgresql: psycopg.Connection) -> None:
    """Plant one offender per rule in a transaction, then roll it all back."""
    conn = postgresql
    conn.execute("""
        CREATE TABLE os_core.tap_no_tenant (id bigint PRIMARY KEY);
        CREATE SEQUENCE os_core.tap_int_sequence AS integer;
        CREATE TABLE os_core.tap_child (
            tenant_id text NOT NULL CHECK (tenant_id::os_core.tenant_id IS NOT NULL),
            parent_id bigint,
            during tsrange,
            UNIQUE (parent_id),
            EXCLUDE USING gist (during WITH &&),
            FOREIGN KEY (parent_id) REFERENCES os_core.tap_no_tenant (id)
        );
        CREATE UNIQUE INDEX tap_by_work_order
            ON os_core.work_orders_current (work_order_id) WHERE event_count > 1;
        CREATE FUNCTION os_core.tap_capability(p_work_order_id text) RETURNS bigint
            LANGUAGE sql RETURN 1;
        GRANT EXECUTE ON FUNCTION os_core.tap_capability(text) TO selene_os;
    """)
    try:
        assert tables_without_tenant_id(conn) == ["os_core.tap_no_tenant"]
        assert tables_without_primary_key(conn) == ["os_core.tap_child"]
        assert unique_keys_without_tenant_id(conn) == [
            "os_core.tap_by_work_order",
            "os_core.tap_child_parent_id_key",
            "os_core.tap_no_tenant_pkey",
        ]
        assert exclusion_constraints_without_tenant_equality(conn) == [
            "os_core.tap_child.tap_child_during_excl"
        ]
        assert foreign_keys_crossing_tenants(conn) == ["os_core.tap_child.tap_child_parent_id_fkey"]
        assert sequences_not_bigint_identity(conn) == ["os_core.tap_int_sequence"]
        assert capabilities_without_tenant_argument(conn) == ["os_core.tap_capability(text)"]
    finally:
        conn.rollback()
