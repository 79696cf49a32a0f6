-- The key store: the accounts' keys, wrapped by the master key, in a
-- database of their own, apart from the events (stele.KeyStore). Times are
-- Unix microseconds. The twin of sqlite/keymigration/0001.

CREATE TABLE account_keys (
	account_id     bigint   NOT NULL,
	purpose        text     NOT NULL,
	version        integer  NOT NULL,
	master_version integer  NOT NULL,
	wrapped        bytea    NOT NULL,
	created_at     bigint   NOT NULL,
	PRIMARY KEY (account_id, purpose, version)
);

-- destroyed_accounts remembers whose keys were destroyed, so that an
-- account restored with an old copy of the event database is told its keys
-- are gone rather than given new ones.
CREATE TABLE destroyed_accounts (
	account_id   bigint PRIMARY KEY,
	destroyed_at bigint NOT NULL
);
