-- Two changes that let the schema run distributed on Citus (docs/scaling.md), and
-- that change nothing a caller sees on a single node.
--
-- 1. tenant_id is a plain text column everywhere, checked by the tenant-id rule of
--    the domain os_core.tenant_id (a CHECK that casts to the domain, so the rule,
--    the error and its constraint name stay those of the domain). Citus routes a
--    capability call by its text argument p_tenant_id and must coerce that value to
--    the distribution column's type as a constant, which it cannot do for a domain
--    ("Cannot coerce text to os_core.tenant_id"). The column changes type in place
--    (text is the domain's base type: no rewrite); the views and policies that name
--    it are dropped here and made again by post-apply.
--
-- 2. work_order_ledger.paging_node_id: the node (PostgreSQL system identifier)
--    whose transaction ids the event's paging_horizon counts in. A tenant's rows
--    can reach another node (a Citus shard move, a logical restore); there, a
--    horizon written elsewhere means nothing, and the event was committed before
--    its rows moved, so a tenant-wide read passes it (docs/decisions.md, "Event ids
--    and paging across nodes"). Existing rows get this node's identifier without a
--    rewrite (a stable default is stored once, as the column's missing value).
-- depends: 0005.ledger-by-work-order-covering

DROP VIEW IF EXISTS os_core.work_orders_current_from_ledger;
DROP VIEW IF EXISTS os_core.work_order_step_attempts_from_ledger;
DROP VIEW IF EXISTS os_core.work_order_leases_from_ledger;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_ledger;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_orders_current;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_step_attempts;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_leases;
DROP POLICY IF EXISTS tenant_isolation ON ph1j.audit_events;

-- A table partitioned by tenant_id (os_core.partition_by_tenant, before this
-- migration) cannot change its partition key's type: it keeps the domain, which
-- holds the same rule (and such a database stays on one node: docs/scaling.md).
DO $tenant_columns$
DECLARE
    _table regclass;
BEGIN
    FOREACH _table IN ARRAY ARRAY[
        'os_core.work_order_ledger', 'os_core.work_orders_current',
        'os_core.work_order_step_attempts', 'os_core.work_order_leases', 'ph1j.audit_events'
    ]::regclass[] LOOP
        CONTINUE WHEN (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = _table) = 'p';
        EXECUTE format(
            'ALTER TABLE %s ALTER COLUMN tenant_id TYPE text, ADD CONSTRAINT tenant_id_format'
            ' CHECK (tenant_id::os_core.tenant_id IS NOT NULL)',
            _table
        );
    END LOOP;
END;
$tenant_columns$;

-- The column's default needs os_core.node_id() now; post-apply installs the same
-- definition again from sql/functions/node_id.sql, which owns it from then on.
CREATE OR REPLACE FUNCTION os_core.node_id()
RETURNS bigint
LANGUAGE sql
STABLE
PARALLEL SAFE
RETURN (pg_catalog.pg_control_system()).system_identifier;
ALTER FUNCTION os_core.node_id() OWNER TO selene_owner;

ALTER TABLE os_core.work_order_ledger
ADD COLUMN paging_node_id bigint NOT NULL DEFAULT os_core.node_id();

COMMENT ON COLUMN os_core.work_order_ledger.paging_node_id IS
'System identifier of the node that appended the event, whose transaction ids paging_horizon counts in. A tenant-wide read on another node (after a shard move or a restore) passes the event without its horizon.';
