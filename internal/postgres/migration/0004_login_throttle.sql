-- The console's sign-in throttle, shared by every node on the database and
-- kept across restarts (sqlite/migration/0006). key is "email:" or "ip:"
-- and a SHA-256 the console computes: no email or address is stored in
-- clear. Times are Unix microseconds; expires_at is when the row can be
-- deleted (its count has left the window and its lockout has ended).
CREATE TABLE login_throttle (
	key          text   PRIMARY KEY,
	first_at     bigint NOT NULL,
	failures     integer NOT NULL,
	locked_until bigint NOT NULL,
	expires_at   bigint NOT NULL
);

CREATE INDEX login_throttle_expires ON login_throttle (expires_at);
