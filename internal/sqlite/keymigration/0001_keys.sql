-- The key store: the accounts' keys, wrapped by the master key, in a file
-- of their own, apart from the events (stele.KeyStore). Times are Unix
-- microseconds.

CREATE TABLE account_keys (
	account_id     INTEGER NOT NULL,
	purpose        TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	master_version INTEGER NOT NULL,
	wrapped        BLOB    NOT NULL,
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (account_id, purpose, version)
) STRICT, WITHOUT ROWID;

-- destroyed_accounts remembers whose keys were destroyed, so that an
-- account restored with an old copy of the event store is told its keys
-- are gone rather than given new ones.
CREATE TABLE destroyed_accounts (
	account_id   INTEGER PRIMARY KEY,
	destroyed_at INTEGER NOT NULL
) STRICT;
