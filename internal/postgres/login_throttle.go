package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.LoginThrottleStore = (*DB)(nil)

// LoginLockedUntil returns when key's lockout ends; the zero time if it has
// no state.
func (db *DB) LoginLockedUntil(ctx context.Context, key string) (time.Time, error) {
	var until int64
	err := db.pool.QueryRow(ctx, `SELECT locked_until FROM login_throttle WHERE key = $1`, key).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: login lockout: %w", mapErr(err))
	}
	return microsOrZero(until), nil
}

// RecordLoginFailure counts a failure of key at at. Nodes take turns on
// key's row (SELECT ... FOR UPDATE), so each failure is counted once and
// one node alone records a lockout. Before that it deletes up to
// stele.LoginThrottlePruneBatch expired rows in a statement of its own that
// skips rows other nodes hold, so it never waits on nor deadlocks with them.
func (db *DB) RecordLoginFailure(ctx context.Context, key string, at time.Time, p stele.LoginPolicy) (bool, error) {
	at = at.Truncate(stele.TimeUnit)
	if _, err := db.pool.Exec(ctx, `DELETE FROM login_throttle WHERE key IN
		(SELECT key FROM login_throttle WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		at.UnixMicro(), stele.LoginThrottlePruneBatch); err != nil {
		return false, fmt.Errorf("postgres: prune login throttle: %w", mapErr(err))
	}
	var locked bool
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO login_throttle (key, first_at, failures, locked_until, expires_at)
			VALUES ($1, 0, 0, 0, 0) ON CONFLICT (key) DO NOTHING`, key); err != nil {
			return fmt.Errorf("postgres: login failure: %w", mapErr(err))
		}
		var (
			s            stele.LoginStrikes
			first, until int64
		)
		if err := tx.QueryRow(ctx, `SELECT first_at, failures, locked_until FROM login_throttle WHERE key = $1 FOR UPDATE`, key).
			Scan(&first, &s.Count, &until); err != nil {
			return fmt.Errorf("postgres: login failure: %w", mapErr(err))
		}
		s.First, s.LockedUntil = microsOrZero(first), microsOrZero(until)
		locked = s.Fail(at, p)
		if _, err := tx.Exec(ctx, `UPDATE login_throttle SET first_at = $2, failures = $3, locked_until = $4, expires_at = $5 WHERE key = $1`,
			key, zeroOrMicros(s.First), s.Count, zeroOrMicros(s.LockedUntil), s.Expires(p.Window).UnixMicro()); err != nil {
			return fmt.Errorf("postgres: login failure: %w", mapErr(err))
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
	return db.exec(ctx, "clear login failures", `DELETE FROM login_throttle WHERE key = $1`, key)
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
