-- An account's id is never given to another account, even after it was
-- deleted: the key store remembers the ids whose keys were destroyed
-- (stele.KeyStore), and a new account must not inherit that. SQLite would
-- hand out the largest id again once its account is gone; account_id_floor
-- holds the largest id ever given, and CreateAccount takes the next.
CREATE TABLE account_id_floor (id INTEGER NOT NULL) STRICT;
INSERT INTO account_id_floor SELECT coalesce(max(id), 0) FROM accounts;
CREATE TRIGGER account_id_floor_raise AFTER INSERT ON accounts BEGIN
	UPDATE account_id_floor SET id = NEW.id WHERE id < NEW.id;
END;
