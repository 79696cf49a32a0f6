-- Alert rules (issue 17) and their outbox. Times are Unix microseconds and
-- durations microseconds. A rule's destinations are one blob sealed under
-- the account's data key by the service: the database alone never yields a
-- webhook secret or a Slack URL.
CREATE TABLE alert_rules (
	id               TEXT    PRIMARY KEY,
	key              INTEGER NOT NULL UNIQUE,
	account_id       INTEGER NOT NULL REFERENCES accounts (id),
	name             TEXT    NOT NULL,
	query            TEXT    NOT NULL,
	threshold_count  INTEGER NULL CHECK (threshold_count >= 1),
	threshold_window INTEGER NULL CHECK (threshold_window >= 1),
	group_by         TEXT    NOT NULL DEFAULT '',
	cooldown         INTEGER NOT NULL CHECK (cooldown >= 0),
	enabled          INTEGER NOT NULL,
	destinations     TEXT    NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX alert_rules_account ON alert_rules (account_id, created_at);

-- alert_rule_generation counts every change to a rule. Each commit of
-- events reads it to confirm that the events were matched against the
-- rules in force, so a rule changed by any process takes effect on the
-- next commit. Triggers bump it, so no write path can forget to.
-- next_key gives each new rule its key, never reused.
CREATE TABLE alert_rule_generation (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	n        INTEGER NOT NULL,
	next_key INTEGER NOT NULL
) STRICT;

INSERT INTO alert_rule_generation (id, n, next_key) VALUES (1, 0, 1);

CREATE TRIGGER alert_rules_insert_generation AFTER INSERT ON alert_rules
BEGIN
	UPDATE alert_rule_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER alert_rules_update_generation AFTER UPDATE ON alert_rules
BEGIN
	UPDATE alert_rule_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER alert_rules_delete_generation AFTER DELETE ON alert_rules
BEGIN
	UPDATE alert_rule_generation SET n = n + 1 WHERE id = 1;
END;

-- alert_matches: one row per event that matched an enabled rule, written
-- in the transaction that stores the event. rules packs, for each rule it
-- matched, the rule's key and the blind-index token of the value the rule
-- counts per (0 for none), as varints (sqlstore.PackMatches): an event
-- that matches several rules costs one small row, not one each. The
-- evaluator reads them by seq past its cursor and keeps them while a
-- window may still count them. A deleted rule's matches are left to the
-- pruning: its key is never given again.
CREATE TABLE alert_matches (
	account_id INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	time       INTEGER NOT NULL,
	rules      BLOB    NOT NULL,
	PRIMARY KEY (account_id, seq)
) STRICT, WITHOUT ROWID;

-- alert_cursors: the next seq of each account the evaluator will read.
CREATE TABLE alert_cursors (
	account_id INTEGER PRIMARY KEY,
	next_seq   INTEGER NOT NULL
) STRICT;

-- alert_firings keeps a copy of the rule as it fired (history, and what
-- its deliveries send). seqs are the newest triggering events, comma-joined.
CREATE TABLE alert_firings (
	id               TEXT    PRIMARY KEY,
	account_id       INTEGER NOT NULL,
	rule_id          TEXT    NOT NULL,
	rule_name        TEXT    NOT NULL,
	query            TEXT    NOT NULL,
	threshold_count  INTEGER NULL,
	threshold_window INTEGER NULL,
	group_by         TEXT    NOT NULL,
	destinations     TEXT    NOT NULL,
	count            INTEGER NOT NULL,
	grp              INTEGER NOT NULL,
	seqs             TEXT    NOT NULL,
	last_seq         INTEGER NOT NULL,
	window_start     INTEGER NOT NULL,
	window_end       INTEGER NOT NULL,
	fired_at         INTEGER NOT NULL,
	recorded         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX alert_firings_rule ON alert_firings (account_id, rule_id, fired_at);
CREATE INDEX alert_firings_unrecorded ON alert_firings (fired_at) WHERE recorded = 0;

CREATE TABLE alert_deliveries (
	id           TEXT    PRIMARY KEY,
	account_id   INTEGER NOT NULL,
	firing_id    TEXT    NOT NULL,
	destination  INTEGER NOT NULL,
	state        TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
	attempts     INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	last_error   TEXT    NOT NULL,
	pending_to   TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX alert_deliveries_firing ON alert_deliveries (account_id, firing_id, destination);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt) WHERE state = 'pending';
