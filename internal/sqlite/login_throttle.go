package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.LoginThrottleStore = (*DB)(nil)

// LoginLockedUntil returns when key's lockout ends; the zero time if it has
// no state.
func (db *DB) LoginLockedUntil(ctx context.Context, key string) (time.Time, error) {
	var until int64
	err := db.reader.QueryRowContext(ctx, `SELECT locked_until FROM login_throttle WHERE key = ?`, key).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: login lockout: %w", mapErr(err))
	}
	return microsOrZero(until), nil
}

// RecordLoginFailure counts a failure of key at at in one write transaction
// (BEGIN IMMEDIATE: processes on the file take turns), and deletes up to
// stele.LoginThrottlePruneBatch expired rows.
func (db *DB) RecordLoginFailure(ctx context.Context, key string, at time.Time, p stele.LoginPolicy) (bool, error) {
	at = at.Truncate(stele.TimeUnit)
	var locked bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE key IN
			(SELECT key FROM login_throttle WHERE expires_at < ? LIMIT ?)`, at.UnixMicro(), stele.LoginThrottlePruneBatch); err != nil {
			return fmt.Errorf("sqlite: prune login throttle: %w", mapErr(err))
		}
		var (
			s            stele.LoginStrikes
			first, until int64
		)
		err := tx.QueryRowContext(ctx, `SELECT first_at, failures, locked_until FROM login_throttle WHERE key = ?`, key).Scan(&first, &s.Count, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("sqlite: login failure: %w", mapErr(err))
		default:
			s.First, s.LockedUntil = microsOrZero(first), microsOrZero(until)
		}
		locked = s.Fail(at, p)
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_throttle (key, first_at, failures, locked_until, expires_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET first_at = excluded.first_at, failures = excluded.failures,
				locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
			key, zeroOrMicros(s.First), s.Count, zeroOrMicros(s.LockedUntil), s.Expires(p.Window).UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: login failure: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return locked, nil
}

// ClearLoginFailures deletes key's state.
func (db *DB) ClearLoginFailures(ctx context.Context, key string) error {
	return db.execWrite(ctx, "clear login failures", `DELETE FROM login_throttle WHERE key = ?`, key)
}

func microsOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return sqlstore.Time(us)
}

func zeroOrMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
