-- Retention purges delete expired events wherever their seqs lie. What is
-- kept of each is its seq, time and leaf hash (the Merkle tree still needs
-- the leaf; the time lets a verifier check that it had expired), and each
-- purge's signed statement (stele.purge/v2), keyed by its lowest seq.
CREATE TABLE purged_events (
	account_id INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	time       INTEGER NOT NULL,
	leaf_hash  BLOB    NOT NULL,
	PRIMARY KEY (account_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE purge_statements (
	account_id INTEGER NOT NULL,
	first_seq  INTEGER NOT NULL,
	note       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, first_seq)
) STRICT, WITHOUT ROWID;
