-- lock_work_order: makes the calling transaction the only writer of one work order.

CREATE OR REPLACE FUNCTION os_core.lock_work_order(p_tenant_id text, p_work_order_id text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
-- On Citus the LOCK below must lock this node's table only (the tenant's rows and
-- its rebuild are all on this node); Citus would take it on every node. Elsewhere
-- the setting is an inert placeholder.
SET "citus.enable_ddl_propagation" TO off
AS $$
BEGIN
    -- A rebuild takes SHARE ROW EXCLUSIVE on the projection: wait for it here,
    -- before reading the projection, never halfway through.
    LOCK TABLE os_core.work_orders_current IN ROW EXCLUSIVE MODE;
    -- One writer per work order at a time, until commit: event ids of a work
    -- order then grow in commit order and the projection never moves backwards.
    -- '/' cannot occur in a tenant_id, so the key text is unique per work order.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant_id || '/' || p_work_order_id, 0));
END;
$$;

COMMENT ON FUNCTION os_core.lock_work_order(text, text) IS
'Waits for a running rebuild, then locks one work order until the end of the transaction, so that its appends are serialised. Every writer of a work order calls it before reading its projection. Internal.';

ALTER FUNCTION os_core.lock_work_order(text, text) OWNER TO selene_owner;
