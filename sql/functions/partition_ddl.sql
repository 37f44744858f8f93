-- partition_ddl: what os_core.partition_by_tenant puts back after it swaps a table
-- for its partitioned copy, read from the catalog as DDL statements. Each function
-- reads and returns; only the procedure runs what they return. The catalog is the
-- one source: no DDL of sql/ or migrations/ is repeated.

-- The views and routines that depend, directly or through one another, on the
-- tables or their row types: how to drop them (in reverse creation order) and
-- re-create them (in creation, that is oid, order, which is a dependency order),
-- and their (object, owner, ACL) triples for os_core.partition_grants_ddl.
CREATE OR REPLACE FUNCTION os_core.partition_dependents_ddl(
    p_tables regclass[],
    OUT drop_statements text[],
    OUT restore_statements text[],
    OUT privileges text[]
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _row record;
    _name text;
    _owner name;
    _acl aclitem[];
BEGIN
    drop_statements := '{}'::text[];
    restore_statements := '{}'::text[];
    privileges := '{}'::text[];
    FOR _row IN
        WITH RECURSIVE dependent (kind, oid) AS (
            SELECT 'table'::text, t.oid
            FROM unnest(p_tables) AS t (oid)
            UNION
            SELECT
                CASE WHEN d.classid = 'pg_catalog.pg_proc'::regclass THEN 'routine' ELSE 'view' END,
                CASE WHEN d.classid = 'pg_catalog.pg_proc'::regclass THEN d.objid ELSE r.ev_class END
            FROM dependent AS o
            LEFT JOIN pg_catalog.pg_class AS oc ON oc.oid = o.oid AND o.kind <> 'routine'
            LEFT JOIN pg_catalog.pg_type AS ot ON ot.oid = oc.reltype
            INNER JOIN pg_catalog.pg_depend AS d
                ON (
                    d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = oc.oid
                ) OR (
                    d.refclassid = 'pg_catalog.pg_type'::regclass
                    AND d.refobjid IN (ot.oid, ot.typarray)
                ) OR (
                    o.kind = 'routine'
                    AND d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = o.oid
                )
            LEFT JOIN pg_catalog.pg_rewrite AS r
                ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid
            WHERE
                d.deptype = 'n'
                AND (
                    d.classid = 'pg_catalog.pg_proc'::regclass
                    OR (r.oid IS NOT NULL AND r.ev_class <> o.oid)
                )
        )
        SELECT o.kind, o.oid FROM dependent AS o WHERE o.kind <> 'table' ORDER BY o.oid
    LOOP
        IF _row.kind = 'routine' THEN
            SELECT p.oid::regprocedure::text, p.proowner::regrole::name, p.proacl
            INTO _name, _owner, _acl
            FROM pg_catalog.pg_proc AS p WHERE p.oid = _row.oid;
            drop_statements := format('DROP ROUTINE %s', _name) || drop_statements;
            restore_statements := restore_statements
                || pg_catalog.pg_get_functiondef(_row.oid)
                || format('ALTER ROUTINE %s OWNER TO %I', _name, _owner)
                || format('COMMENT ON ROUTINE %s IS %L', _name,
                    pg_catalog.obj_description(_row.oid, 'pg_proc'));
            privileges := privileges || ARRAY[format('ROUTINE %s', _name), _owner, _acl::text];
        ELSE
            -- (DROP VIEW refuses a materialized view: the conversion then stops)
            SELECT c.oid::regclass::text, c.relowner::regrole::name, c.relacl
            INTO _name, _owner, _acl
            FROM pg_catalog.pg_class AS c WHERE c.oid = _row.oid;
            drop_statements := format('DROP VIEW %s', _name) || drop_statements;
            restore_statements := restore_statements
                || (
                    SELECT format('CREATE VIEW %s%s AS %s', _name,
                        ' WITH (' || array_to_string(c.reloptions, ', ') || ')',
                        pg_catalog.pg_get_viewdef(c.oid))
                    FROM pg_catalog.pg_class AS c WHERE c.oid = _row.oid
                )
                || format('ALTER VIEW %s OWNER TO %I', _name, _owner);
            restore_statements := restore_statements || ARRAY(
                SELECT
                    CASE
                        WHEN d.objsubid = 0 THEN format('COMMENT ON VIEW %s IS %L', _name, d.description)
                        ELSE format('COMMENT ON COLUMN %s.%I IS %L', _name,
                            (SELECT a.attname FROM pg_catalog.pg_attribute AS a
                             WHERE a.attrelid = d.objoid AND a.attnum = d.objsubid), d.description)
                    END
                FROM pg_catalog.pg_description AS d
                WHERE d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = _row.oid
                ORDER BY d.objsubid
            );
            privileges := privileges || ARRAY[format('TABLE %s', _name), _owner, _acl::text];
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION os_core.partition_dependents_ddl(regclass[]) IS
'For os_core.partition_by_tenant: the views and routines depending on the tables or their row types, as DROP statements (reverse creation order), statements re-creating them with owner and comments (creation order), and (object, owner, ACL) triples. Reads the catalog only.';

ALTER FUNCTION os_core.partition_dependents_ddl(regclass[]) OWNER TO selene_owner;

-- The table's keys and indexes under their names, with their comments.
CREATE OR REPLACE FUNCTION os_core.partition_keys_ddl(p_table regclass)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM pg_catalog.pg_index AS i
        LEFT JOIN pg_catalog.pg_constraint AS k
            ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
        CROSS JOIN LATERAL unnest(
            CASE
                WHEN k.oid IS NOT NULL THEN ARRAY[
                    format('ALTER TABLE %s ADD CONSTRAINT %I %s', p_table, k.conname,
                        pg_catalog.pg_get_constraintdef(k.oid)),
                    format('COMMENT ON CONSTRAINT %I ON %s IS %L', k.conname, p_table,
                        pg_catalog.obj_description(k.oid, 'pg_constraint'))
                ]
                ELSE ARRAY[
                    pg_catalog.pg_get_indexdef(i.indexrelid),
                    format('COMMENT ON INDEX %s IS %L', i.indexrelid::regclass,
                        pg_catalog.obj_description(i.indexrelid, 'pg_class'))
                ]
            END
        ) WITH ORDINALITY AS s (statement, position)
        WHERE i.indrelid = p_table
        ORDER BY i.indexrelid, s.position
    );
END;
$$;

COMMENT ON FUNCTION os_core.partition_keys_ddl(regclass) IS
'For os_core.partition_by_tenant: the table''s keys (as constraints) and other indexes under their names, with their comments, as DDL statements in index creation order. Reads the catalog only.';

ALTER FUNCTION os_core.partition_keys_ddl(regclass) OWNER TO selene_owner;

-- The table's row-level security policies as the catalog has them, with comments.
CREATE OR REPLACE FUNCTION os_core.partition_policies_ddl(p_table regclass)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM pg_catalog.pg_policy AS p
        CROSS JOIN LATERAL unnest(ARRAY[
            format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, p_table,
                CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                    WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                (SELECT string_agg(
                    CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE quote_ident(r.oid::regrole::text) END,
                    ', ' ORDER BY r.position)
                 FROM unnest(p.polroles) WITH ORDINALITY AS r (oid, position)),
                ' USING (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')',
                ' WITH CHECK (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')'),
            format('COMMENT ON POLICY %I ON %s IS %L', p.polname, p_table,
                pg_catalog.obj_description(p.oid, 'pg_policy'))
        ]) WITH ORDINALITY AS s (statement, position)
        WHERE p.polrelid = p_table
        ORDER BY p.oid, s.position
    );
END;
$$;

COMMENT ON FUNCTION os_core.partition_policies_ddl(regclass) IS
'For os_core.partition_by_tenant: the table''s row-level security policies as CREATE POLICY statements, with their comments, in creation order. Reads the catalog only.';

ALTER FUNCTION os_core.partition_policies_ddl(regclass) OWNER TO selene_owner;

-- The table's triggers on the table of that name in p_schema and, for a
-- statement-level one (which fires only for the table its statement names), on
-- each of p_partitions too (row-level ones are cloned onto partitions).
CREATE OR REPLACE FUNCTION os_core.partition_triggers_ddl(
    p_table regclass, p_schema name, p_relname name, p_partitions name[]
)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM pg_catalog.pg_trigger AS t
        CROSS JOIN LATERAL unnest(ARRAY[p_relname] || p_partitions) WITH ORDINALITY AS o (relation, position)
        CROSS JOIN LATERAL unnest(ARRAY[
            replace(pg_catalog.pg_get_triggerdef(t.oid), format(' ON %s ', p_table),
                format(' ON %I.%I ', p_schema, o.relation)),
            format('COMMENT ON TRIGGER %I ON %I.%I IS %L', t.tgname, p_schema, o.relation,
                pg_catalog.obj_description(t.oid, 'pg_trigger')),
            format('ALTER TABLE %I.%I %s TRIGGER %I', p_schema, o.relation,
                CASE t.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
                    WHEN 'A' THEN 'ENABLE ALWAYS' ELSE 'ENABLE' END, t.tgname)
        ]) WITH ORDINALITY AS s (statement, position)
        WHERE t.tgrelid = p_table AND NOT t.tgisinternal
            AND (o.relation = p_relname OR (t.tgtype & 1) = 0)
        ORDER BY t.oid, o.position, s.position
    );
END;
$$;

COMMENT ON FUNCTION os_core.partition_triggers_ddl(regclass, name, name, name[]) IS
'For os_core.partition_by_tenant: the table''s triggers as CREATE TRIGGER, COMMENT and ENABLE/DISABLE statements for the table named p_relname in p_schema and, for statement-level triggers, for each partition too. Reads the catalog only.';

ALTER FUNCTION os_core.partition_triggers_ddl(regclass, name, name, name[]) OWNER TO selene_owner;

-- Privileges as they were, from (object, owner, ACL) triples: a NULL ACL is the
-- default (nothing to do), else REVOKE ALL and the same grants in the same order
-- (so that \dp and pg_dump show no difference).
CREATE OR REPLACE FUNCTION os_core.partition_grants_ddl(p_privileges text[])
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM generate_series(1, cardinality(p_privileges) / 3) AS n
        CROSS JOIN LATERAL (
            SELECT
                format('REVOKE ALL ON %s FROM PUBLIC, %I', p_privileges[3 * n - 2], p_privileges[3 * n - 1]),
                0::bigint
            UNION ALL
            SELECT
                format(
                    'GRANT %s ON %s TO %s%s',
                    string_agg(a.privilege_type, ', ' ORDER BY a.position), p_privileges[3 * n - 2],
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END,
                    CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
                ),
                min(a.position)
            FROM aclexplode(p_privileges[3 * n]::aclitem[]) WITH ORDINALITY
                AS a (grantor, grantee, privilege_type, is_grantable, position)
            GROUP BY a.grantee, a.is_grantable
        ) AS s (statement, position)
        WHERE p_privileges[3 * n] IS NOT NULL
        ORDER BY n, s.position
    );
END;
$$;

COMMENT ON FUNCTION os_core.partition_grants_ddl(text[]) IS
'For os_core.partition_by_tenant: from (object, owner, ACL) triples, REVOKE ALL and the GRANT statements that give each object the same ACL in the same order; an object with a NULL (default) ACL gets none.';

ALTER FUNCTION os_core.partition_grants_ddl(text[]) OWNER TO selene_owner;
