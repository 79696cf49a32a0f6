-- The console: users who sign in, and their sessions (sqlite/migration/0003).
-- Emails are stored lower-case and unique across Stele; sessions keep only
-- the SHA-256 of their token.

CREATE TABLE users (
	id             text   PRIMARY KEY,
	account_id     bigint NOT NULL REFERENCES accounts (id),
	email          text   NOT NULL UNIQUE,
	name           text   NOT NULL,
	role           text   NOT NULL,
	password_hash  text   NOT NULL,
	totp_secret    text   NOT NULL DEFAULT '',
	totp_last_step bigint NOT NULL DEFAULT 0,
	created_at     bigint NOT NULL,
	updated_at     bigint NOT NULL
);

CREATE INDEX users_account ON users (account_id, email);

CREATE TABLE sessions (
	token_hash   bytea   PRIMARY KEY,
	user_id      text    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   bigint  NOT NULL,
	last_seen_at bigint  NOT NULL,
	mfa_pending  boolean NOT NULL,
	ip           text    NOT NULL,
	user_agent   text    NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
