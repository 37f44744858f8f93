-- Durable consumers of the ledger and of the PH1.J audit trail: where each named
-- consumer of a tenant is (docs/decisions.md, "Durable consumers").
--
-- One row per (tenant, stream, consumer): the id of the last event the consumer has
-- processed, committed by os_core.consumer_commit in the consumer's own transaction
-- (so effects kept in this database and the position commit together). The claim
-- that lets one instance of a consumer work at a time is a transaction-level lock
-- taken by os_core.consumer_position, not this row's. A small table, updated in
-- place: not append-only, and not partitioned by os_core.partition_by_tenant (one
-- row per consumer; docs/decisions.md).
--
-- On Citus it is distributed by tenant_id with the ledger (migration 0007), so a
-- tenant's positions live on the worker of its events, where the delegated capability
-- reads and writes them under the consumer's lock. Without Citus that step does
-- nothing.
-- depends: 0008.audit-replay-created-at

CREATE TABLE os_core.consumer_positions (
    tenant_id text NOT NULL,
    stream text NOT NULL,
    consumer text NOT NULL,
    committed_position bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    CONSTRAINT consumer_positions_pkey PRIMARY KEY (tenant_id, stream, consumer),
    CONSTRAINT tenant_id_format CHECK (tenant_id::os_core.tenant_id IS NOT NULL),
    CONSTRAINT stream_known CHECK (stream IN ('ledger', 'audit')),
    CONSTRAINT consumer_format CHECK (consumer ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    CONSTRAINT committed_position_not_negative CHECK (committed_position >= 0)
);
ALTER TABLE os_core.consumer_positions ENABLE ROW LEVEL SECURITY;
ALTER TABLE os_core.consumer_positions FORCE ROW LEVEL SECURITY;
ALTER TABLE os_core.consumer_positions OWNER TO selene_owner;

COMMENT ON TABLE os_core.consumer_positions IS
'Durable consumers: per (tenant_id, stream, consumer) the last event id the consumer has processed. Written only by os_core.consumer_commit, in the consumer''s transaction; positions never move backwards.';
COMMENT ON COLUMN os_core.consumer_positions.stream IS
'What the consumer follows: ledger (positions are work_order_event_id values) or audit (ph1j.audit_events.audit_event_id values).';
COMMENT ON COLUMN os_core.consumer_positions.consumer IS
'The consumer''s name, chosen by the service: 1-128 characters of A-Z a-z 0-9 _ . : -';
COMMENT ON COLUMN os_core.consumer_positions.committed_position IS
'The id of the last event the consumer has processed (0: none yet). The consumer reads on after it.';
COMMENT ON COLUMN os_core.consumer_positions.updated_at IS
'Wall-clock time of the last commit that moved the position, for operators.';

DO $distribute$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    PERFORM create_distributed_table(
        'os_core.consumer_positions', 'tenant_id', colocate_with => 'os_core.work_order_ledger'
    );
END;
$distribute$;
