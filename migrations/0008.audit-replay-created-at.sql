-- The audit row of an idempotent replay records the created_at the replay carried.
--
-- A replay is the same idempotency key with the same content except created_at: a
-- retry re-stamps its clock, and the ledger and the projections keep the original
-- event's created_at (docs/decisions.md, "Idempotency same content"). What the retry
-- carried is kept only here, in ph1j.audit_events.replay_created_at: NULL on every other
-- row, and on the replay rows written before this migration (which carried the
-- original created_at, the only replay there was).
--
-- One nullable column, added without a rewrite, and a CHECK that only replay rows
-- carry it; validating the CHECK reads the audit table once while the migration holds
-- it (appends wait for that scan; nothing is rewritten). The same statements serve the
-- three layouts: a plain table; a table partitioned by os_core.partition_by_tenant,
-- where ALTER TABLE on the parent reaches every partition; and a Citus distributed
-- table (migration 0007), where Citus sends it on to every shard. The column has the
-- ledger's created_at domain, which exists on every Citus node already. The function
-- that writes the column, ph1j.emit_append_audit, is installed by post-apply.
-- depends: 0007.distribute-on-citus

ALTER TABLE ph1j.audit_events
ADD COLUMN replay_created_at os_core.monotonic_ns;

ALTER TABLE ph1j.audit_events
ADD CONSTRAINT replay_created_at_only_on_replays CHECK (
    replay_created_at IS NULL OR outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'
);

COMMENT ON COLUMN ph1j.audit_events.replay_created_at IS
'For an idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY): the created_at the replay carried, which a retry may have re-stamped; the ledger and the projections keep the original event''s. NULL on every other row, and on replay rows written before migration 0008.';
