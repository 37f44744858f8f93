-- The capability catalogue (issue 15, "one name per capability, one source per rule").
--
-- os_core.capabilities() (sql/functions/capabilities.sql) has one row per function
-- selene_os or selene_dba may execute: its kind, client methods, CLI commands, the
-- roles granted EXECUTE, whether Citus delegates it, what it does. The grants, the
-- README's capability table, the client's methods and the pgTAP files are checked
-- against it (tests/test_capabilities.py, pgtap_tests/schema.sql). Like every
-- function it is installed by post-apply from sql/; this migration has nothing to
-- change in the tables, and its rollback removes the function.
-- depends: 0010.audit-paging-horizon

SELECT 1;
