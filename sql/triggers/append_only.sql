-- Append-only: the ledger and the audit table refuse UPDATE, DELETE and TRUNCATE,
-- for every role, whatever privileges it holds. Statement-level, so that even an
-- UPDATE that matches no row is refused.

CREATE OR REPLACE FUNCTION os_core.tg_append_only__refuse_mutation()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM os_core.raise_error(
        'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
        format('%s on %I.%I is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME),
        'append a new event instead; a cancel is a WORK_ORDER_CANCELED event'
    );
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION os_core.tg_append_only__refuse_mutation() IS
'Trigger function: raises OS_WORK_ORDER_APPEND_ONLY_VIOLATION (SE001) naming the operation and table.';

ALTER FUNCTION os_core.tg_append_only__refuse_mutation() OWNER TO selene_owner;

-- On Citus (migration 0007) the tables are distributed, and Citus creates triggers
-- on distributed tables, and on every shard, only with this setting. Elsewhere it is
-- an inert placeholder.
SELECT pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', TRUE);

CREATE OR REPLACE TRIGGER _100_refuse_update_delete
BEFORE UPDATE OR DELETE ON os_core.work_order_ledger
FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();

CREATE OR REPLACE TRIGGER _100_refuse_truncate
BEFORE TRUNCATE ON os_core.work_order_ledger
FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();

CREATE OR REPLACE TRIGGER _100_refuse_update_delete
BEFORE UPDATE OR DELETE ON ph1j.audit_events
FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();

CREATE OR REPLACE TRIGGER _100_refuse_truncate
BEFORE TRUNCATE ON ph1j.audit_events
FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();

COMMENT ON TRIGGER _100_refuse_update_delete ON os_core.work_order_ledger IS
'The ledger is append-only: UPDATE and DELETE raise OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';
COMMENT ON TRIGGER _100_refuse_truncate ON os_core.work_order_ledger IS
'The ledger is append-only: TRUNCATE raises OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';
COMMENT ON TRIGGER _100_refuse_update_delete ON ph1j.audit_events IS
'The audit trail is append-only: UPDATE and DELETE raise OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';
COMMENT ON TRIGGER _100_refuse_truncate ON ph1j.audit_events IS
'The audit trail is append-only: TRUNCATE raises OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';

-- Partitions (os_core.partition_by_tenant): a statement-level trigger fires only
-- for the table the statement names, so an UPDATE, DELETE or TRUNCATE naming a
-- partition would pass the parent's triggers by. Every partition gets the same
-- two, with the parent's comments. Nothing to do on an unpartitioned database.
DO $partitions$
DECLARE
    _trigger record;
BEGIN
    FOR _trigger IN
        SELECT
            tree.relid AS partition,
            parent.tgname,
            pg_catalog.pg_get_triggerdef(parent.oid) AS definition,
            pg_catalog.obj_description(parent.oid, 'pg_trigger') AS description,
            parent.tgrelid::regclass AS parent_table
        FROM pg_catalog.pg_trigger AS parent
        CROSS JOIN LATERAL pg_catalog.pg_partition_tree(parent.tgrelid) AS tree
        WHERE
            parent.tgrelid IN ('os_core.work_order_ledger'::regclass, 'ph1j.audit_events'::regclass)
            AND parent.tgname IN ('_100_refuse_update_delete', '_100_refuse_truncate')
            AND tree.level > 0
        ORDER BY tree.relid::regclass::text, parent.tgname
    LOOP
        EXECUTE replace(
            replace(_trigger.definition, 'CREATE TRIGGER', 'CREATE OR REPLACE TRIGGER'),
            format(' ON %s ', _trigger.parent_table),
            format(' ON %s ', _trigger.partition)
        );
        EXECUTE format(
            'COMMENT ON TRIGGER %I ON %s IS %L',
            _trigger.tgname, _trigger.partition, _trigger.description
        );
    END LOOP;
END;
$partitions$;
