-- partition_by_tenant: the documented, once-only, offline migration that makes
-- the ledger and the audit trail PARTITION BY HASH (tenant_id) (docs/dba.md,
-- "Partitioning by tenant"). A superuser CALLs it.
--
-- For each table a partitioned copy is built under a temporary name (LIKE the
-- old one: columns, defaults, identity, CHECKs, comments) and filled with the
-- rows and their ids; then the views and routines that depend on the old table
-- or its row type are dropped, the old table is dropped RESTRICT (anything not
-- accounted for stops the conversion), the copy takes its name, and the rest is
-- put back as the catalog described it: keys and indexes, comments, owner,
-- privileges, row-level security, policies, triggers (statement-level ones on
-- every partition too), the identity sequence's name and position, and the
-- dependents. What is put back is read from the catalog by the functions of
-- partition_ddl.sql; no DDL of sql/ or migrations/ is repeated here; re-running
-- the installer afterwards changes nothing (tests/test_partitioning.py).

CREATE OR REPLACE PROCEDURE os_core.partition_by_tenant(p_partitions integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _tables constant regclass[] := ARRAY[
        'os_core.work_order_ledger'::regclass, 'ph1j.audit_events'::regclass
    ];
    _table regclass;
    _schema name;
    _relname name;
    _temporary name;
    _partitions name[];
    _partition name;
    _width integer;
    _owner name;
    _acl aclitem[];
    _row record;
    _old_sequence regclass;
    _new_sequence regclass;
    _last_value bigint;
    _is_called boolean;
    _drop_dependents text[];
    _swap text[] := '{}'::text[];
    _restore_dependents text[];
    _sequences text[];
    -- (object, owner, ACL) triples: privileges put back last.
    _privileges text[];
    _statement text;
BEGIN
    IF p_partitions IS NULL OR p_partitions NOT BETWEEN 2 AND 1024 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('partition_by_tenant: %s partitions', coalesce(p_partitions::text, 'NULL')),
            DETAIL = 'The number of hash partitions must be between 2 and 1024.',
            HINT = 'A power of two (8, 16, 32, ...) keeps partitions even as tenants come and go.';
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'partition_by_tenant: must be run by a superuser',
            DETAIL = format('current_user is %I.', current_user),
            HINT = 'Connect as a superuser (the role that applies the migrations).';
    END IF;

    -- Offline: nothing reads or writes either table until the transaction ends.
    LOCK TABLE os_core.work_order_ledger, ph1j.audit_events IN ACCESS EXCLUSIVE MODE;

    IF EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = ANY(_tables) AND c.relkind = 'p') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'partition_by_tenant: already partitioned',
            DETAIL = 'os_core.work_order_ledger and ph1j.audit_events are partitioned tables already.',
            HINT = 'The conversion runs once; changing the partition count is not supported.';
    END IF;
    IF EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE c.oid = ANY(_tables)
            AND (c.relhassubclass OR c.relispartition OR c.reloptions IS NOT NULL)
    ) OR EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = ANY(_tables) AND a.attacl IS NOT NULL
    ) OR EXISTS (
        SELECT FROM pg_catalog.pg_constraint AS k
        WHERE (k.conrelid = ANY(_tables) OR k.confrelid = ANY(_tables)) AND k.contype = 'f'
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'partition_by_tenant: a table has something the conversion does not carry over',
            DETAIL = 'Inheritance, storage parameters, column privileges or foreign keys on the ledger or the audit table.',
            HINT = 'Remove it, convert, then add it back.';
    END IF;

    -- 1. The dependents: views and routines that depend, directly or through one
    -- another, on a table or its row type.
    SELECT d.drop_statements, d.restore_statements, d.privileges
    INTO _drop_dependents, _restore_dependents, _privileges
    FROM os_core.partition_dependents_ddl(_tables) AS d;

    -- 2. Each table: build and fill the partitioned one, and write down how to
    -- finish the swap once the dependents are gone.
    _width := greatest(2, length((p_partitions - 1)::text));
    FOREACH _table IN ARRAY _tables LOOP
        SELECT c.relnamespace::regnamespace::name, c.relname, c.relowner::regrole::name, c.relacl
        INTO _schema, _relname, _owner, _acl
        FROM pg_catalog.pg_class AS c WHERE c.oid = _table;
        _temporary := left(_relname, 50) || '_partitioned';
        _partitions := ARRAY(
            SELECT format('%s_p%s', _relname, lpad(n::text, _width, '0'))
            FROM generate_series(0, p_partitions - 1) AS n
            ORDER BY n
        );

        EXECUTE format(
            'CREATE TABLE %I.%I (LIKE %s INCLUDING ALL EXCLUDING INDEXES) PARTITION BY HASH (tenant_id)',
            _schema, _temporary, _table
        );
        FOR _i IN 1..p_partitions LOOP
            EXECUTE format(
                'CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                _schema, _partitions[_i], _schema, _temporary, p_partitions, _i - 1
            );
            EXECUTE format(
                'COMMENT ON TABLE %I.%I IS %L', _schema, _partitions[_i],
                format(
                    'Partition of %s by hash of tenant_id (remainder %s of modulus %s). Use the parent: '
                    || 'privileges and row-level security are checked there; direct access is refused.',
                    _table, _i - 1, p_partitions
                )
            );
        END LOOP;
        EXECUTE format('INSERT INTO %I.%I OVERRIDING SYSTEM VALUE SELECT * FROM %s', _schema, _temporary, _table);

        -- Identity sequences: same position (ids never repeat), same name, privileges and comment.
        _sequences := '{}'::text[];
        FOR _row IN
            SELECT a.attname FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = _table AND a.attidentity <> '' AND NOT a.attisdropped
            ORDER BY a.attnum
        LOOP
            _old_sequence := pg_catalog.pg_get_serial_sequence(_table::text, _row.attname)::regclass;
            _new_sequence := pg_catalog.pg_get_serial_sequence(
                format('%I.%I', _schema, _temporary), _row.attname
            )::regclass;
            EXECUTE format('SELECT last_value, is_called FROM %s', _old_sequence) INTO _last_value, _is_called;
            PERFORM pg_catalog.setval(_new_sequence, _last_value, _is_called);
            _sequences := _sequences || format(
                'ALTER SEQUENCE %s RENAME TO %I', _new_sequence,
                (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = _old_sequence)
            );
            _sequences := _sequences || ARRAY(
                SELECT format('COMMENT ON SEQUENCE %s IS %L', _old_sequence::text, d.description)
                FROM pg_catalog.pg_description AS d
                WHERE d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = _old_sequence
                    AND d.objsubid = 0
            );
            _privileges := _privileges || ARRAY[
                format('SEQUENCE %s', _old_sequence), _owner,
                (SELECT c.relacl::text FROM pg_catalog.pg_class AS c WHERE c.oid = _old_sequence)
            ];
        END LOOP;

        -- The swap. The old table goes RESTRICT: a dependent not handled above stops it.
        _swap := _swap
            || format('DROP TABLE %s', _table)
            || format('ALTER TABLE %I.%I RENAME TO %I', _schema, _temporary, _relname)
            || _sequences;

        -- Keys and indexes under their names (built after the copy, on every partition).
        _swap := _swap || os_core.partition_keys_ddl(_table);

        -- The table's comment, owner, privileges and row-level security; partitions
        -- get the owner, the owner's own privileges and nobody else's, and the same
        -- row-level security (with no policy: nothing is visible through them).
        _swap := _swap || format('COMMENT ON TABLE %s IS %L', _table,
            pg_catalog.obj_description(_table, 'pg_class'));
        _swap := _swap || format('ALTER TABLE %s OWNER TO %I', _table, _owner);
        FOREACH _partition IN ARRAY _partitions LOOP
            _swap := _swap || format('ALTER TABLE %I.%I OWNER TO %I', _schema, _partition, _owner);
        END LOOP;
        _privileges := _privileges || ARRAY[format('TABLE %s', _table), _owner, _acl::text];
        FOREACH _partition IN ARRAY _partitions LOOP
            _privileges := _privileges || ARRAY[
                format('TABLE %I.%I', _schema, _partition), _owner,
                CASE WHEN _acl IS NOT NULL THEN coalesce((
                    SELECT array_agg(a) FROM unnest(_acl) AS a WHERE a::text LIKE quote_ident(_owner) || '=%'
                ), '{}')::text END
            ];
        END LOOP;
        FOR _row IN
            SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_catalog.pg_class AS c WHERE c.oid = _table
        LOOP
            FOREACH _partition IN ARRAY ARRAY[_relname] || _partitions LOOP
                IF _row.relrowsecurity THEN
                    _swap := _swap || format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', _schema, _partition);
                END IF;
                IF _row.relforcerowsecurity THEN
                    _swap := _swap || format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', _schema, _partition);
                END IF;
            END LOOP;
        END LOOP;

        -- Policies, as the catalog has them; triggers, statement-level ones on every
        -- partition too.
        _swap := _swap
            || os_core.partition_policies_ddl(_table)
            || os_core.partition_triggers_ddl(_table, _schema, _relname, _partitions);
        _swap := _swap || format('ANALYZE %s', _table);
    END LOOP;

    -- 3. Privileges as they were.
    _restore_dependents := _restore_dependents || os_core.partition_grants_ddl(_privileges);

    -- 4. Swap, then put the dependents back.
    FOREACH _statement IN ARRAY _drop_dependents || _swap || _restore_dependents LOOP
        CONTINUE WHEN _statement = '';
        EXECUTE _statement;
    END LOOP;

    -- 5. A session that ran a PL/pgSQL routine before keeps it compiled with the old
    -- row types (a cache lookup failure on its next call); a new version of each
    -- routine's catalog row makes every session compile it again.
    FOR _statement IN
        SELECT format('ALTER ROUTINE %s %s', p.oid::regprocedure,
            CASE WHEN p.prosecdef THEN 'SECURITY DEFINER' ELSE 'SECURITY INVOKER' END)
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
            AND p.prolang = (SELECT l.oid FROM pg_catalog.pg_language AS l WHERE l.lanname = 'plpgsql')
            AND p.oid <> 'os_core.partition_by_tenant(integer)'::regprocedure
        ORDER BY p.oid
    LOOP
        EXECUTE _statement;
    END LOOP;
END;
$$;

COMMENT ON PROCEDURE os_core.partition_by_tenant(integer) IS  -- noqa: LT01
'Once, offline, as a superuser: turns os_core.work_order_ledger and ph1j.audit_events into tables PARTITION BY HASH (tenant_id) with p_partitions (2-1024) partitions each, keeping rows, ids, keys, indexes, comments, owner, privileges, row-level security, policies, triggers and dependent views and functions. Takes ACCESS EXCLUSIVE locks on both tables. docs/dba.md, "Partitioning by tenant".';

ALTER PROCEDURE os_core.partition_by_tenant(integer) OWNER TO selene_owner;
