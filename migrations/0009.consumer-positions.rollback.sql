-- Undo 0009: the consumers' positions, and the functions that use them (the version
-- rolled back to has none; its post-apply installs what it has). Consumers lose
-- their positions: they start again from 0, or from a position they kept elsewhere.

DROP FUNCTION IF EXISTS os_core.consumer_stats(text);
DROP FUNCTION IF EXISTS os_core.consumer_commit(text, text, bigint, text);
DROP FUNCTION IF EXISTS os_core.consumer_position(text, text, text);
DROP FUNCTION IF EXISTS os_core.lock_consumer(text, text, text);

DROP TABLE IF EXISTS os_core.consumer_positions;
