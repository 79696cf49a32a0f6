-- The initial schema. Times are Unix microseconds. Rows are kept lean: an
-- event is mostly its sealed payload, so every byte of the other columns and
-- of the indexes counts.

CREATE TABLE accounts (
	id             INTEGER PRIMARY KEY,
	name           TEXT    NOT NULL UNIQUE,
	type           TEXT    NOT NULL,
	retention_days INTEGER NULL,
	legal_hold     INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
	id          TEXT    PRIMARY KEY,
	account_id  INTEGER NOT NULL REFERENCES accounts (id),
	name        TEXT    NOT NULL,
	scopes      TEXT    NOT NULL, -- comma-joined
	operator    INTEGER NOT NULL,
	secret_hash BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

CREATE TABLE account_keys (
	account_id     INTEGER NOT NULL REFERENCES accounts (id),
	purpose        TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	master_version INTEGER NOT NULL,
	wrapped        BLOB    NOT NULL,
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (account_id, purpose, version)
) STRICT, WITHOUT ROWID;

-- heads holds each account's tree size and compact Merkle frontier: the
-- concatenated 32-byte hashes of its complete subtrees, largest first.
CREATE TABLE heads (
	account_id INTEGER PRIMARY KEY REFERENCES accounts (id),
	size       INTEGER NOT NULL,
	frontier   BLOB    NOT NULL
) STRICT;

-- events: category and outcome are codes (their index in stele.Categories
-- and stele.Outcomes); the *_tok columns are blind-index tokens, NULL when
-- the field is absent.
CREATE TABLE events (
	account_id      INTEGER NOT NULL,
	seq             INTEGER NOT NULL,
	time            INTEGER NOT NULL,
	received_at     INTEGER NOT NULL,
	action          TEXT    NOT NULL,
	category        INTEGER NOT NULL,
	outcome         INTEGER NOT NULL,
	actor_tok       INTEGER NULL,
	actor_email_tok INTEGER NULL,
	target_tok      INTEGER NULL,
	source_tok      INTEGER NULL,
	ip_tok          INTEGER NULL,
	key_version     INTEGER NOT NULL,
	payload         BLOB    NOT NULL,
	leaf_hash       BLOB    NOT NULL,
	PRIMARY KEY (account_id, seq)
) STRICT, WITHOUT ROWID;

-- events is clustered by (account_id, seq), so the secondary indexes carry
-- no rowid and reading a tree range or a seq is one range scan.
--
-- Every query reads newest first by (time, seq) within one account. Category
-- and outcome have a handful of values each: a filter on them walks the time
-- index and reads the matches as it goes, cheaper overall than an index that
-- every insert must update.
CREATE INDEX events_time ON events (account_id, time, seq);
CREATE INDEX events_action ON events (account_id, action, time, seq);
CREATE INDEX events_actor ON events (account_id, actor_tok, time, seq) WHERE actor_tok IS NOT NULL;
CREATE INDEX events_actor_email ON events (account_id, actor_email_tok, time, seq) WHERE actor_email_tok IS NOT NULL;
CREATE INDEX events_target ON events (account_id, target_tok, time, seq) WHERE target_tok IS NOT NULL;
CREATE INDEX events_source ON events (account_id, source_tok, time, seq) WHERE source_tok IS NOT NULL;
CREATE INDEX events_ip ON events (account_id, ip_tok, time, seq) WHERE ip_tok IS NOT NULL;

-- tree_nodes are the stored interior hashes of each account's Merkle tree.
CREATE TABLE tree_nodes (
	account_id INTEGER NOT NULL,
	level      INTEGER NOT NULL,
	idx        INTEGER NOT NULL,
	hash       BLOB    NOT NULL,
	PRIMARY KEY (account_id, level, idx)
) STRICT, WITHOUT ROWID;

-- idempotency maps an event's idempotency token to the seq first stored under it.
CREATE TABLE idempotency (
	account_id INTEGER NOT NULL,
	token      INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	PRIMARY KEY (account_id, token)
) STRICT, WITHOUT ROWID;
