-- Undo 0001: drop both schemas with everything in them, then the roles where no
-- other database of the cluster still uses them (roles are cluster-wide).

DROP SCHEMA IF EXISTS ph1j CASCADE;

DROP SCHEMA IF EXISTS os_core CASCADE;

DO $roles$
DECLARE
    _role text;
BEGIN
    FOREACH _role IN ARRAY ARRAY['selene_os', 'selene_dba', 'selene_projector', 'selene_owner'] LOOP
        BEGIN
            EXECUTE format('DROP ROLE IF EXISTS %I', _role);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % kept: another database still uses it', _role;
        END;
    END LOOP;
END
$roles$;
