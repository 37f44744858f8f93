-- node_id and next_event_id_after: which node an event was appended on, and event
-- ids that keep growing for a tenant whose rows came from another node.

CREATE OR REPLACE FUNCTION os_core.node_id()
RETURNS bigint
LANGUAGE sql
STABLE
PARALLEL SAFE
RETURN (pg_catalog.pg_control_system()).system_identifier;

COMMENT ON FUNCTION os_core.node_id() IS
'This node''s PostgreSQL system identifier: shared by a primary and its streaming standbys (one transaction-id space), different on every other node. The default of work_order_ledger.paging_node_id. Internal.';

ALTER FUNCTION os_core.node_id() OWNER TO selene_owner;

CREATE OR REPLACE FUNCTION os_core.next_event_id_after(p_last_event_id bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
-- On Citus the ALTER SEQUENCE below is this node's alone. Elsewhere an inert placeholder.
SET "citus.enable_ddl_propagation" TO off
AS $$
BEGIN
    -- This node's sequence is behind a tenant whose events were appended on another
    -- node (a shard move, a restore). Move it past them, forwards only: one caller
    -- at a time compares and moves it, and nextval never goes back, so every id
    -- drawn here afterwards, by any tenant, is larger.
    PERFORM pg_advisory_xact_lock(hashtext('os_core.next_event_id_after'), 0);
    -- Citus gives each worker's sequence a range with a maximum; a tenant from a
    -- worker of a higher range needs this one's raised (docs/scaling.md).
    IF (
        SELECT s.seqmax FROM pg_catalog.pg_sequence AS s
        WHERE s.seqrelid = 'os_core.work_order_ledger_work_order_event_id_seq'::regclass
    ) <= p_last_event_id THEN
        ALTER SEQUENCE os_core.work_order_ledger_work_order_event_id_seq
        MAXVALUE 9223372036854775807;
    END IF;
    IF (SELECT q.last_value FROM os_core.work_order_ledger_work_order_event_id_seq AS q)
        < p_last_event_id
        THEN
        PERFORM setval('os_core.work_order_ledger_work_order_event_id_seq', p_last_event_id);
    END IF;
    RETURN nextval('os_core.work_order_ledger_work_order_event_id_seq');
END;
$$;

COMMENT ON FUNCTION os_core.next_event_id_after(bigint) IS
'Draws an event id above p_last_event_id from this node''s sequence, moving the sequence forwards first when it is behind (a tenant whose events were appended on another node). Called by the append when the id it drew is not above the tenant''s last one. Internal.';

ALTER FUNCTION os_core.next_event_id_after(bigint) OWNER TO selene_owner;
