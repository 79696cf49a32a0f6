-- The console: users who sign in, and their sessions. Emails are unique
-- across Stele; a user belongs to one account. Sessions keep only the
-- SHA-256 of their token.

CREATE TABLE users (
	id             TEXT    PRIMARY KEY,
	account_id     INTEGER NOT NULL REFERENCES accounts (id),
	email          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	name           TEXT    NOT NULL,
	role           TEXT    NOT NULL,
	password_hash  TEXT    NOT NULL,
	totp_secret    TEXT    NOT NULL DEFAULT '',
	totp_last_step INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX users_account ON users (account_id, email);

CREATE TABLE sessions (
	token_hash   BLOB    PRIMARY KEY,
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	mfa_pending  INTEGER NOT NULL,
	ip           TEXT    NOT NULL,
	user_agent   TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_user ON sessions (user_id);
