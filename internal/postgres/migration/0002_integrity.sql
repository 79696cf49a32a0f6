-- Tamper evidence (sqlite/migration/0002): every signed checkpoint of an
-- account's Merkle tree, and the signed statements of retention purges
-- ("events below seq N were deleted") with the compact frontier of the tree
-- of size N.
CREATE TABLE checkpoints (
	account_id bigint NOT NULL,
	size       bigint NOT NULL,
	root       bytea  NOT NULL,
	note       bytea  NOT NULL,
	created_at bigint NOT NULL,
	PRIMARY KEY (account_id, size)
);

CREATE TABLE purges (
	account_id bigint NOT NULL,
	below      bigint NOT NULL,
	frontier   bytea  NOT NULL,
	note       bytea  NOT NULL,
	created_at bigint NOT NULL,
	PRIMARY KEY (account_id, below)
);
