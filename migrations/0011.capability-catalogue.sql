-- The capability catalogue and the one tenant-id rule (issue 15, "one name per
-- capability, one source per rule").
--
-- Both are functions, installed by post-apply from sql/ like every function:
-- os_core.capabilities() (sql/functions/capabilities.sql), one row per function
-- selene_os or selene_dba may execute: its kind, client methods, CLI commands, the
-- roles granted EXECUTE, whether Citus delegates it, what it does; the grants, the
-- README's capability table, the client's methods and the pgTAP files are checked
-- against it (tests/test_capabilities.py, pgtap_tests/schema.sql). And
-- os_core.tenant_id_violation(text)
-- (sql/functions/tenant_id_violation.sql), the tenant-id rule that set_tenant, the
-- contract check, require_dba_or_tenant_scope and lock_consumer now share.
--
-- The tables keep their CHECKs, which cast to the domain os_core.tenant_id: the
-- domain stays the tables' statement of the rule. Re-pointing it at the function
-- would make every Citus worker need the function before any shard could be
-- checked, for no change in what is accepted; tests/test_capabilities.py checks
-- instead that the domain and the function agree on edge inputs. This migration only
-- says so on the domain, and its rollback removes the two functions.
-- depends: 0010.audit-paging-horizon

COMMENT ON DOMAIN os_core.tenant_id IS
'1-64 characters of A-Z a-z 0-9 _ . : -, the rule of os_core.tenant_id_violation (tests check they agree).';
