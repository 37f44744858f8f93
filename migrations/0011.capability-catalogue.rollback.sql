-- Undo 0011: the catalogue and the shared tenant-id rule go, and the domain gets its
-- comment back. The contract check's SQL body depends on the rule, so it goes first;
-- the version rolled back to states the rule in each of its functions and installs
-- them, the contract check with them, with its post-apply (until then appends fail,
-- as after rolling back 0010).

DROP FUNCTION IF EXISTS os_core.capabilities();
DROP FUNCTION IF EXISTS os_core.work_order_event_contract_violation(
    integer, text, text, numeric, bigint, text, text, bigint, text, text, text, text, bigint,
    bigint, text, jsonb
);
DROP FUNCTION IF EXISTS os_core.tenant_id_violation(text);

COMMENT ON DOMAIN os_core.tenant_id IS '1-64 characters of A-Z a-z 0-9 _ . : -';
