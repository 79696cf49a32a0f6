-- api_key_generation counts every change to what authenticates a request:
-- a key created, revoked or deleted, an account renamed or deleted. Servers
-- cache the keys they have checked and trust an entry only while this
-- counter is unchanged, so a revocation by any process on the file (the
-- CLI while serve runs) takes effect on the next request. Triggers bump it,
-- so no write path can forget to.
CREATE TABLE api_key_generation (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
) STRICT;

INSERT INTO api_key_generation (id, n) VALUES (1, 0);

CREATE TRIGGER api_keys_insert_generation AFTER INSERT ON api_keys
BEGIN
	UPDATE api_key_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER api_keys_update_generation AFTER UPDATE ON api_keys
BEGIN
	UPDATE api_key_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER api_keys_delete_generation AFTER DELETE ON api_keys
BEGIN
	UPDATE api_key_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER accounts_rename_generation AFTER UPDATE OF name ON accounts
BEGIN
	UPDATE api_key_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER accounts_delete_generation AFTER DELETE ON accounts
BEGIN
	UPDATE api_key_generation SET n = n + 1 WHERE id = 1;
END;
