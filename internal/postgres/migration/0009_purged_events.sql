-- Retention purges delete expired events wherever their seqs lie. What is
-- kept of each is its seq, time and leaf hash (the Merkle tree still needs
-- the leaf; the time lets a verifier check that it had expired), and each
-- purge's signed statement (stele.purge/v2), keyed by its lowest seq.
-- Like tree_nodes they outlive the events, so they are not partitioned.
CREATE TABLE purged_events (
	account_id bigint NOT NULL,
	seq        bigint NOT NULL,
	time       bigint NOT NULL,
	leaf_hash  bytea  NOT NULL,
	PRIMARY KEY (account_id, seq)
);

CREATE TABLE purge_statements (
	account_id bigint NOT NULL,
	first_seq  bigint NOT NULL,
	note       bytea  NOT NULL,
	created_at bigint NOT NULL,
	PRIMARY KEY (account_id, first_seq)
);
