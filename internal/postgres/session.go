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

var _ stele.SessionStore = (*DB)(nil)

// CreateSession stores s; ENOTFOUND if its user does not exist.
func (db *DB) CreateSession(ctx context.Context, s *stele.Session) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, mfa_pending, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.TokenHash, s.UserID, s.CreatedAt.UnixMicro(), s.LastSeenAt.UnixMicro(), s.MFAPending, s.IP, s.UserAgent)
	switch {
	case isForeignKey(err):
		return notFound("user not found")
	case err != nil:
		return fmt.Errorf("postgres: create session: %w", mapErr(err))
	}
	return nil
}

// Session returns the session whose token has the hash; ENOTFOUND if none.
func (db *DB) Session(ctx context.Context, tokenHash []byte) (*stele.Session, error) {
	var (
		s             stele.Session
		created, seen int64
	)
	err := db.pool.QueryRow(ctx, `SELECT token_hash, user_id, created_at, last_seen_at, mfa_pending, ip, user_agent
		FROM sessions WHERE token_hash = $1`, tokenHash).Scan(&s.TokenHash, &s.UserID, &created, &seen, &s.MFAPending, &s.IP, &s.UserAgent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("session not found")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: session: %w", mapErr(err))
	}
	s.CreatedAt, s.LastSeenAt = sqlstore.Time(created), sqlstore.Time(seen)
	return &s, nil
}

// TouchSession records activity on the session at at.
func (db *DB) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	return db.exec(ctx, "touch session", `UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2`, at.UnixMicro(), tokenHash)
}

// CompleteMFA marks the session's second factor as given.
func (db *DB) CompleteMFA(ctx context.Context, tokenHash []byte) error {
	return db.exec(ctx, "complete MFA", `UPDATE sessions SET mfa_pending = false WHERE token_hash = $1`, tokenHash)
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	return db.exec(ctx, "delete session", `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
}

// DeleteUserSessions ends every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	return db.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = $1`, userID)
}

// DeleteSessionsBefore deletes sessions created before createdBefore or
// last seen before seenBefore, and returns how many.
func (db *DB) DeleteSessionsBefore(ctx context.Context, createdBefore, seenBefore time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE created_at < $1 OR last_seen_at < $2`, createdBefore.UnixMicro(), seenBefore.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("postgres: expire sessions: %w", mapErr(err))
	}
	return tag.RowsAffected(), nil
}

func (db *DB) exec(ctx context.Context, what, query string, args ...any) error {
	if _, err := db.pool.Exec(ctx, query, args...); err != nil {
		return fmt.Errorf("postgres: %s: %w", what, mapErr(err))
	}
	return nil
}
