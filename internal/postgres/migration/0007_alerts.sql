-- Alert rules (issue 17) and their outbox: the PostgreSQL twin of
-- sqlite/migration/0009. Times are Unix microseconds and durations
-- microseconds. A rule's destinations are one blob sealed under the
-- account's data key by the service.
CREATE TABLE alert_rules (
	id               text    PRIMARY KEY,
	key              bigint  NOT NULL UNIQUE,
	account_id       bigint  NOT NULL REFERENCES accounts (id),
	name             text    NOT NULL,
	query            text    NOT NULL,
	threshold_count  integer NULL CHECK (threshold_count >= 1),
	threshold_window bigint  NULL CHECK (threshold_window >= 1),
	group_by         text    NOT NULL DEFAULT '',
	cooldown         bigint  NOT NULL CHECK (cooldown >= 0),
	enabled          boolean NOT NULL,
	destinations     text    NOT NULL,
	created_at       bigint  NOT NULL,
	updated_at       bigint  NOT NULL
);

CREATE INDEX alert_rules_account ON alert_rules (account_id, created_at);

-- alert_rule_generation counts every change to a rule. Each commit of
-- events reads it to confirm that the events were matched against the
-- rules in force, so a rule changed through any node takes effect on
-- every node's next commit. Triggers bump it, so no write path can forget.
-- next_key gives each new rule its key, never reused.
CREATE TABLE alert_rule_generation (
	id       integer PRIMARY KEY CHECK (id = 1),
	n        bigint  NOT NULL,
	next_key bigint  NOT NULL
);

INSERT INTO alert_rule_generation (id, n, next_key) VALUES (1, 0, 1);

CREATE FUNCTION bump_alert_rule_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE alert_rule_generation SET n = n + 1 WHERE id = 1;
	RETURN NULL;
END;
$$;

CREATE TRIGGER alert_rules_generation AFTER INSERT OR UPDATE OR DELETE ON alert_rules
	FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_rule_generation();

-- alert_matches: one row per event that matched an enabled rule, with the
-- rules it matched packed (see sqlite/migration/0009), written in the
-- transaction that stores the event, under the account's head lock, so an
-- account's matches become visible in seq order.
CREATE TABLE alert_matches (
	account_id bigint NOT NULL,
	seq        bigint NOT NULL,
	time       bigint NOT NULL,
	rules      bytea  NOT NULL,
	PRIMARY KEY (account_id, seq)
);

CREATE TABLE alert_cursors (
	account_id bigint PRIMARY KEY,
	next_seq   bigint NOT NULL
);

CREATE TABLE alert_firings (
	id               text    PRIMARY KEY,
	account_id       bigint  NOT NULL,
	rule_id          text    NOT NULL,
	rule_name        text    NOT NULL,
	query            text    NOT NULL,
	threshold_count  integer NULL,
	threshold_window bigint  NULL,
	group_by         text    NOT NULL,
	destinations     text    NOT NULL,
	count            bigint  NOT NULL,
	grp              bigint  NOT NULL,
	seqs             text    NOT NULL,
	last_seq         bigint  NOT NULL,
	window_start     bigint  NOT NULL,
	window_end       bigint  NOT NULL,
	fired_at         bigint  NOT NULL,
	recorded         boolean NOT NULL
);

CREATE INDEX alert_firings_rule ON alert_firings (account_id, rule_id, fired_at);
CREATE INDEX alert_firings_unrecorded ON alert_firings (fired_at) WHERE NOT recorded;

CREATE TABLE alert_deliveries (
	id           text    PRIMARY KEY,
	account_id   bigint  NOT NULL,
	firing_id    text    NOT NULL,
	destination  integer NOT NULL,
	state        text    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
	attempts     integer NOT NULL,
	next_attempt bigint  NOT NULL,
	last_error   text    NOT NULL,
	pending_to   text    NOT NULL,
	created_at   bigint  NOT NULL,
	updated_at   bigint  NOT NULL
);

CREATE INDEX alert_deliveries_firing ON alert_deliveries (account_id, firing_id, destination);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt) WHERE state = 'pending';
