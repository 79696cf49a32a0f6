-- Streams (issue 17): an account's events forwarded to another security
-- tool. destination is the JSON of the destination with its header values
-- blanked; the values (a token, often) are in sealed_headers, sealed under
-- the owner's data key by the service. The health columns are what the
-- forwarder last reported; paused_at is set when the destination refused
-- the stream for good and cleared by the next update. Times are Unix
-- microseconds, 0 for none.
CREATE TABLE streams (
	id             TEXT    PRIMARY KEY,
	account_id     INTEGER NOT NULL REFERENCES accounts (id),
	all_accounts   INTEGER NOT NULL,
	name           TEXT    NOT NULL,
	query          TEXT    NOT NULL,
	destination    TEXT    NOT NULL,
	sealed_headers TEXT    NOT NULL,
	enabled        INTEGER NOT NULL,
	version        INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	paused_at      INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT    NOT NULL DEFAULT '',
	last_error_at  INTEGER NOT NULL DEFAULT 0,
	last_sent_at   INTEGER NOT NULL DEFAULT 0,
	events_per_second REAL NOT NULL DEFAULT 0,
	reported_at    INTEGER NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
) STRICT, WITHOUT ROWID;

-- stream_cursors: how far each stream has forwarded each account's log.
-- next_seq is the first seq not yet forwarded; it only moves forward.
CREATE TABLE stream_cursors (
	stream_id  TEXT    NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	next_seq   INTEGER NOT NULL,
	forwarded  INTEGER NOT NULL DEFAULT 0,
	skipped    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (stream_id, account_id)
) STRICT, WITHOUT ROWID;

-- stream_replays: requests to send a time window of a stream's events
-- again, and how far each has gone.
CREATE TABLE stream_replays (
	id             TEXT    PRIMARY KEY,
	stream_id      TEXT    NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
	account_id     INTEGER NOT NULL REFERENCES accounts (id),
	window_after   INTEGER NOT NULL,
	window_before  INTEGER NOT NULL,
	state          TEXT    NOT NULL,
	cursor_account INTEGER NOT NULL,
	next_seq       INTEGER NOT NULL,
	until_seq      INTEGER NOT NULL,
	sent           INTEGER NOT NULL,
	error          TEXT    NOT NULL,
	created_at     INTEGER NOT NULL,
	finished_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX stream_replays_stream ON stream_replays (stream_id, created_at);
CREATE INDEX stream_cursors_account ON stream_cursors (account_id);
