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

var _ stele.StreamStore = (*DB)(nil)

// CreateStream stores s and its first cursors in one write transaction.
func (db *DB) CreateStream(ctx context.Context, s *stele.Stream, start string) error {
	if start != stele.StreamStartNow && start != stele.StreamStartOldest {
		return fmt.Errorf("sqlite: create stream: unknown start %q", start)
	}
	dest, err := sqlstore.StreamDestination(s.Destination)
	if err != nil {
		return fmt.Errorf("sqlite: create stream: %w", err)
	}
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	err = db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO streams (id, account_id, all_accounts, name, query, destination, sealed_headers,
			enabled, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			s.ID, s.AccountID, s.AllAccounts, s.Name, s.Query, dest, s.SealedHeaders, s.Enabled, now.UnixMicro(), now.UnixMicro()); err != nil {
			return err
		}
		if start == stele.StreamStartOldest {
			return nil
		}
		// An account without a head has no events: its cursor starts at 0.
		q := `INSERT INTO stream_cursors (stream_id, account_id, next_seq) SELECT ?, account_id, size FROM heads WHERE account_id = ?`
		args := []any{s.ID, s.AccountID}
		if s.AllAccounts {
			q, args = `INSERT INTO stream_cursors (stream_id, account_id, next_seq) SELECT ?, account_id, size FROM heads`, args[:1]
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	switch {
	case isUnique(err):
		return stele.Errorf(stele.ECONFLICT, "the account already has a stream named %q", s.Name)
	case isForeignKey(err):
		return notFound("account %d not found", s.AccountID)
	case err != nil:
		return fmt.Errorf("sqlite: create stream: %w", mapErr(err))
	}
	s.Version, s.CreatedAt, s.UpdatedAt = 1, now, now
	return nil
}

// Stream returns the account's stream id.
func (db *DB) Stream(ctx context.Context, accountID int64, id string) (*stele.Stream, error) {
	s, err := sqlstore.ScanStream(db.reader.QueryRowContext(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+
		` WHERE s.id = ? AND s.account_id = ?`, id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("stream %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: stream: %w", mapErr(err))
	}
	return s, nil
}

// Streams returns the account's streams by name.
func (db *DB) Streams(ctx context.Context, accountID int64) ([]*stele.Stream, error) {
	return db.streams(ctx, ` WHERE s.account_id = ? ORDER BY s.name`, accountID)
}

// AllStreams returns every stream, by id.
func (db *DB) AllStreams(ctx context.Context) ([]*stele.Stream, error) {
	return db.streams(ctx, ` ORDER BY s.id`)
}

func (db *DB) streams(ctx context.Context, where string, args ...any) ([]*stele.Stream, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: streams: %w", mapErr(err))
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanStream)
	if err != nil {
		return nil, fmt.Errorf("sqlite: streams: %w", mapErr(err))
	}
	return out, nil
}

// UpdateStream replaces the stream's settings, reading it before and after
// in the same transaction.
func (db *DB) UpdateStream(ctx context.Context, s *stele.Stream) (*stele.Stream, error) {
	dest, err := sqlstore.StreamDestination(s.Destination)
	if err != nil {
		return nil, fmt.Errorf("sqlite: update stream: %w", err)
	}
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	var before, after *stele.Stream
	err = db.write(ctx, func(tx *sql.Tx) error {
		read := func() (*stele.Stream, error) {
			return sqlstore.ScanStream(tx.QueryRowContext(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+
				` WHERE s.id = ? AND s.account_id = ?`, s.ID, s.AccountID))
		}
		var err error
		if before, err = read(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE streams SET name = ?, query = ?, destination = ?, sealed_headers = ?, enabled = ?,
			version = version + 1, updated_at = ?, paused_at = 0 WHERE id = ?`,
			s.Name, s.Query, dest, s.SealedHeaders, s.Enabled, now.UnixMicro(), s.ID); err != nil {
			return err
		}
		after, err = read()
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("stream %q not found", s.ID)
	case isUnique(err):
		return nil, stele.Errorf(stele.ECONFLICT, "the account already has a stream named %q", s.Name)
	case err != nil:
		return nil, fmt.Errorf("sqlite: update stream: %w", mapErr(err))
	}
	*s = *after
	return before, nil
}

// DeleteStream deletes the stream; its cursors and replays go with it.
func (db *DB) DeleteStream(ctx context.Context, accountID int64, id string) (*stele.Stream, error) {
	var gone *stele.Stream
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		gone, err = sqlstore.ScanStream(tx.QueryRowContext(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+
			` WHERE s.id = ? AND s.account_id = ?`, id, accountID))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM streams WHERE id = ?`, id)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("stream %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete stream: %w", mapErr(err))
	}
	return gone, nil
}

// StreamPositions returns the stream's cursor and head in each account it
// reads, in one query.
func (db *DB) StreamPositions(ctx context.Context, streamID string) ([]stele.StreamPosition, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT a.id, a.name, coalesce(c.next_seq, 0), coalesce(c.forwarded, 0), coalesce(c.skipped, 0),
			coalesce(h.size, 0)
		FROM streams s JOIN accounts a ON (s.all_accounts = 1 OR a.id = s.account_id)
		LEFT JOIN stream_cursors c ON c.stream_id = s.id AND c.account_id = a.id
		LEFT JOIN heads h ON h.account_id = a.id
		WHERE s.id = ? ORDER BY a.id`, streamID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stream positions: %w", mapErr(err))
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanStreamPosition)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stream positions: %w", mapErr(err))
	}
	return out, nil
}

// AdvanceStream records a forwarder's report in one write transaction.
// A cursor of an account deleted meanwhile is left out.
func (db *DB) AdvanceStream(ctx context.Context, streamID string, version int64, progress []stele.StreamProgress, h *stele.StreamHealth) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM streams WHERE id = ?`, streamID).Scan(&one); err != nil {
			return err
		}
		for _, p := range progress {
			if _, err := tx.ExecContext(ctx, `INSERT INTO stream_cursors (stream_id, account_id, next_seq, forwarded, skipped)
				SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?)
				ON CONFLICT (stream_id, account_id) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq),
					forwarded = forwarded + excluded.forwarded, skipped = skipped + excluded.skipped`,
				streamID, p.AccountID, p.NextSeq, p.Forwarded, p.Skipped, p.AccountID); err != nil {
				return err
			}
		}
		if h == nil {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE streams SET paused_at = ?, last_error = ?, last_error_at = ?, last_sent_at = ?,
			events_per_second = ?, reported_at = ? WHERE id = ? AND version = ?`,
			append(sqlstore.StreamHealthValues(h), streamID, version)...)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("stream %q not found", streamID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: advance stream: %w", mapErr(err))
	}
	return nil
}

// CreateStreamReplay stores r, setting its CreatedAt.
func (db *DB) CreateStreamReplay(ctx context.Context, r *stele.StreamReplay) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO stream_replays (`+sqlstore.ReplayColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.StreamID, r.AccountID, r.After.UnixMicro(), r.Before.UnixMicro(), r.State, r.CursorAccount, r.NextSeq, r.UntilSeq,
			r.Sent, sqlstore.Clip(r.Error, stele.MaxStreamErrorLen), now.UnixMicro(), sqlstore.MicrosOrZero(r.FinishedAt))
		return err
	})
	switch {
	case isForeignKey(err):
		return notFound("stream %q not found", r.StreamID)
	case err != nil:
		return fmt.Errorf("sqlite: create stream replay: %w", mapErr(err))
	}
	r.CreatedAt = now
	return nil
}

// StreamReplays returns the stream's replays, newest first.
func (db *DB) StreamReplays(ctx context.Context, streamID string, limit int) ([]*stele.StreamReplay, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sqlstore.ReplayColumns+` FROM stream_replays WHERE stream_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, streamID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stream replays: %w", mapErr(err))
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanReplay)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stream replays: %w", mapErr(err))
	}
	return out, nil
}

// UpdateStreamReplay stores r's state, progress, error and end.
func (db *DB) UpdateStreamReplay(ctx context.Context, r *stele.StreamReplay) error {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE stream_replays SET state = ?, cursor_account = ?, next_seq = ?, until_seq = ?, sent = ?,
			error = ?, finished_at = ? WHERE id = ?`, r.State, r.CursorAccount, r.NextSeq, r.UntilSeq, r.Sent,
			sqlstore.Clip(r.Error, stele.MaxStreamErrorLen), sqlstore.MicrosOrZero(r.FinishedAt), r.ID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: update stream replay: %w", mapErr(err))
	}
	if n == 0 {
		return notFound("stream replay %q not found", r.ID)
	}
	return nil
}
