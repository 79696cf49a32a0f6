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

var _ stele.SessionStore = (*DB)(nil)

// CreateSession stores s; ENOTFOUND if its user does not exist.
func (db *DB) CreateSession(ctx context.Context, s *stele.Session) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, mfa_pending, ip, user_agent)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, s.TokenHash, s.UserID, s.CreatedAt.UnixMicro(), s.LastSeenAt.UnixMicro(), s.MFAPending, s.IP, s.UserAgent)
		return err
	})
	switch {
	case isForeignKey(err):
		return notFound("user not found")
	case err != nil:
		return fmt.Errorf("sqlite: create session: %w", mapErr(err))
	}
	return nil
}

// Session returns the session whose token has the hash; ENOTFOUND if none.
func (db *DB) Session(ctx context.Context, tokenHash []byte) (*stele.Session, error) {
	var (
		s             stele.Session
		created, seen int64
	)
	err := db.reader.QueryRowContext(ctx, `SELECT token_hash, user_id, created_at, last_seen_at, mfa_pending, ip, user_agent
		FROM sessions WHERE token_hash = ?`, tokenHash).Scan(&s.TokenHash, &s.UserID, &created, &seen, &s.MFAPending, &s.IP, &s.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("session not found")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: session: %w", mapErr(err))
	}
	s.CreatedAt, s.LastSeenAt = sqlstore.Time(created), sqlstore.Time(seen)
	return &s, nil
}

// TouchSession records activity on the session at at.
func (db *DB) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	return db.execWrite(ctx, "touch session", `UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`, at.UnixMicro(), tokenHash)
}

// CompleteMFA marks the session's second factor as given.
func (db *DB) CompleteMFA(ctx context.Context, tokenHash []byte) error {
	return db.execWrite(ctx, "complete MFA", `UPDATE sessions SET mfa_pending = 0 WHERE token_hash = ?`, tokenHash)
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	return db.execWrite(ctx, "delete session", `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
}

// DeleteUserSessions ends every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	return db.execWrite(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = ?`, userID)
}

// DeleteSessionsBefore deletes sessions created before createdBefore or
// last seen before seenBefore, and returns how many.
func (db *DB) DeleteSessionsBefore(ctx context.Context, createdBefore, seenBefore time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE created_at < ? OR last_seen_at < ?`, createdBefore.UnixMicro(), seenBefore.UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: expire sessions: %w", mapErr(err))
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

func (db *DB) execWrite(ctx context.Context, what, query string, args ...any) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("sqlite: %s: %w", what, mapErr(err))
		}
		return nil
	})
}
