-- Undo 0011: the catalogue goes (the version rolled back to has none).

DROP FUNCTION IF EXISTS os_core.capabilities();
