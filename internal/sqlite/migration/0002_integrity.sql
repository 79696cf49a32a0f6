-- Tamper evidence: every signed checkpoint of an account's Merkle tree, and
-- the signed statements of retention purges ("events below seq N were
-- deleted"), with the compact frontier of the tree of size N so the tree
-- can still be recomputed from the remaining leaves.
CREATE TABLE checkpoints (
	account_id INTEGER NOT NULL,
	size       INTEGER NOT NULL,
	root       BLOB    NOT NULL,
	note       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, size)
) STRICT, WITHOUT ROWID;

CREATE TABLE purges (
	account_id INTEGER NOT NULL,
	below      INTEGER NOT NULL,
	frontier   BLOB    NOT NULL,
	note       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, below)
) STRICT, WITHOUT ROWID;
