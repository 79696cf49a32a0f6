-- api_key_generation counts every change to what authenticates a request:
-- a key created, revoked or deleted, an account renamed or deleted
-- (sqlite/migration/0007). Nodes cache the keys they have checked and trust
-- an entry only while this counter is unchanged, so a revocation through any
-- node or the CLI takes effect on the next request everywhere. Triggers bump
-- it, so no write path can forget to.
CREATE TABLE api_key_generation (
	id integer PRIMARY KEY CHECK (id = 1),
	n  bigint  NOT NULL
);

INSERT INTO api_key_generation (id, n) VALUES (1, 0);

CREATE FUNCTION bump_api_key_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE api_key_generation SET n = n + 1 WHERE id = 1;
	RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_generation AFTER INSERT OR UPDATE OR DELETE ON api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION bump_api_key_generation();

CREATE TRIGGER accounts_generation AFTER UPDATE OF name OR DELETE ON accounts
	FOR EACH STATEMENT EXECUTE FUNCTION bump_api_key_generation();
