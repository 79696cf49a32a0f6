-- The console's sign-in throttle, shared by every process on the file and
-- kept across restarts. key is "email:" or "ip:" and a SHA-256 the console
-- computes: no email or address is stored in clear. Times are Unix
-- microseconds; expires_at is when the row can be deleted (its count has
-- left the window and its lockout has ended).
CREATE TABLE login_throttle (
	key          TEXT    PRIMARY KEY,
	first_at     INTEGER NOT NULL,
	failures     INTEGER NOT NULL,
	locked_until INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX login_throttle_expires ON login_throttle (expires_at);
