-- event_counts rolls an account's events up by hour, action and outcome for
-- the console's activity chart, so that a month of a busy account is a few
-- thousand rows to add up rather than a million to read. It is kept up to
-- date by seq (counted_to is the next seq not yet counted), so events that
-- arrive late, with old times, are counted too. Counts hold no event content.

CREATE TABLE event_counts (
	account_id INTEGER NOT NULL,
	hour       INTEGER NOT NULL, -- Unix µs of the hour's start
	action     TEXT    NOT NULL,
	category   INTEGER NOT NULL,
	outcome    INTEGER NOT NULL,
	n          INTEGER NOT NULL,
	PRIMARY KEY (account_id, hour, action, category, outcome)
) STRICT, WITHOUT ROWID;

CREATE TABLE event_counts_head (
	account_id INTEGER PRIMARY KEY,
	counted_to INTEGER NOT NULL
) STRICT;
