-- Streams (issue 17), as sqlite/migration/0010_streams.sql: an account's
-- events forwarded to another security tool. destination is the JSON of the
-- destination with its header values blanked; the values are in
-- sealed_headers, sealed under the owner's data key by the service. The
-- health columns are what the forwarder last reported. Times are Unix
-- microseconds, 0 for none.
CREATE TABLE streams (
	id                text    PRIMARY KEY,
	account_id        bigint  NOT NULL REFERENCES accounts (id),
	all_accounts      boolean NOT NULL,
	name              text    NOT NULL,
	query             text    NOT NULL,
	destination       text    NOT NULL,
	sealed_headers    text    NOT NULL,
	enabled           boolean NOT NULL,
	version           bigint  NOT NULL,
	created_at        bigint  NOT NULL,
	updated_at        bigint  NOT NULL,
	paused_at         bigint  NOT NULL DEFAULT 0,
	last_error        text    NOT NULL DEFAULT '',
	last_error_at     bigint  NOT NULL DEFAULT 0,
	last_sent_at      bigint  NOT NULL DEFAULT 0,
	events_per_second double precision NOT NULL DEFAULT 0,
	reported_at       bigint  NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
);

-- stream_cursors: how far each stream has forwarded each account's log.
-- next_seq is the first seq not yet forwarded; it only moves forward.
CREATE TABLE stream_cursors (
	stream_id  text   NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
	account_id bigint NOT NULL REFERENCES accounts (id),
	next_seq   bigint NOT NULL,
	forwarded  bigint NOT NULL DEFAULT 0,
	skipped    bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (stream_id, account_id)
);

-- stream_replays: requests to send a time window of a stream's events
-- again, and how far each has gone.
CREATE TABLE stream_replays (
	id             text   PRIMARY KEY,
	stream_id      text   NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
	account_id     bigint NOT NULL REFERENCES accounts (id),
	window_after   bigint NOT NULL,
	window_before  bigint NOT NULL,
	state          text   NOT NULL,
	cursor_account bigint NOT NULL,
	next_seq       bigint NOT NULL,
	until_seq      bigint NOT NULL,
	sent           bigint NOT NULL,
	error          text   NOT NULL,
	created_at     bigint NOT NULL,
	finished_at    bigint NOT NULL
);

CREATE INDEX stream_replays_stream ON stream_replays (stream_id, created_at);
CREATE INDEX stream_cursors_account ON stream_cursors (account_id);
