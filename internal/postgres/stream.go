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

var _ stele.StreamStore = (*DB)(nil)

// CreateStream stores s and its first cursors in one transaction. The
// cursors start at the heads as committed: an append in flight holds its
// head row and adds seqs at or above the size read here.
func (db *DB) CreateStream(ctx context.Context, s *stele.Stream, start string) error {
	if start != stele.StreamStartNow && start != stele.StreamStartOldest {
		return fmt.Errorf("postgres: create stream: unknown start %q", start)
	}
	dest, err := sqlstore.StreamDestination(s.Destination)
	if err != nil {
		return fmt.Errorf("postgres: create stream: %w", err)
	}
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	err = db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO streams (id, account_id, all_accounts, name, query, destination, sealed_headers,
			enabled, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)`,
			s.ID, s.AccountID, s.AllAccounts, s.Name, s.Query, dest, s.SealedHeaders, s.Enabled, now.UnixMicro()); err != nil {
			return err
		}
		if start == stele.StreamStartOldest {
			return nil
		}
		// An account without a head has no events: its cursor starts at 0.
		var err error
		if s.AllAccounts {
			_, err = tx.Exec(ctx, `INSERT INTO stream_cursors (stream_id, account_id, next_seq) SELECT $1, account_id, size FROM heads`, s.ID)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO stream_cursors (stream_id, account_id, next_seq)
				SELECT $1, account_id, size FROM heads WHERE account_id = $2`, s.ID, s.AccountID)
		}
		return err
	})
	switch {
	case isUnique(err):
		return stele.Errorf(stele.ECONFLICT, "the account already has a stream named %q", s.Name)
	case isForeignKey(err):
		return notFound("account %d not found", s.AccountID)
	case err != nil:
		return fmt.Errorf("postgres: create stream: %w", mapErr(err))
	}
	s.Version, s.CreatedAt, s.UpdatedAt = 1, now, now
	return nil
}

// Stream returns the account's stream id.
func (db *DB) Stream(ctx context.Context, accountID int64, id string) (*stele.Stream, error) {
	s, err := sqlstore.ScanStream(db.pool.QueryRow(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+
		` WHERE s.id = $1 AND s.account_id = $2`, id, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("stream %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: stream: %w", mapErr(err))
	}
	return s, nil
}

// Streams returns the account's streams by name.
func (db *DB) Streams(ctx context.Context, accountID int64) ([]*stele.Stream, error) {
	return db.streams(ctx, ` WHERE s.account_id = $1 ORDER BY s.name`, accountID)
}

// AllStreams returns every stream, by id.
func (db *DB) AllStreams(ctx context.Context) ([]*stele.Stream, error) {
	return db.streams(ctx, ` ORDER BY s.id`)
}

func (db *DB) streams(ctx context.Context, where string, args ...any) ([]*stele.Stream, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+where, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: streams: %w", mapErr(err))
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanStream)
	if err != nil {
		return nil, fmt.Errorf("postgres: streams: %w", mapErr(err))
	}
	return out, nil
}

// UpdateStream replaces the stream's settings, reading it before (locked)
// and after in the same transaction.
func (db *DB) UpdateStream(ctx context.Context, s *stele.Stream) (*stele.Stream, error) {
	dest, err := sqlstore.StreamDestination(s.Destination)
	if err != nil {
		return nil, fmt.Errorf("postgres: update stream: %w", err)
	}
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	var before, after *stele.Stream
	err = db.tx(ctx, func(tx pgx.Tx) error {
		read := func(lock string) (*stele.Stream, error) {
			return sqlstore.ScanStream(tx.QueryRow(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+
				` WHERE s.id = $1 AND s.account_id = $2`+lock, s.ID, s.AccountID))
		}
		var err error
		if before, err = read(` FOR UPDATE OF s`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE streams SET name = $1, query = $2, destination = $3, sealed_headers = $4, enabled = $5,
			version = version + 1, updated_at = $6, paused_at = 0 WHERE id = $7`,
			s.Name, s.Query, dest, s.SealedHeaders, s.Enabled, now.UnixMicro(), s.ID); err != nil {
			return err
		}
		after, err = read(``)
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, notFound("stream %q not found", s.ID)
	case isUnique(err):
		return nil, stele.Errorf(stele.ECONFLICT, "the account already has a stream named %q", s.Name)
	case err != nil:
		return nil, fmt.Errorf("postgres: update stream: %w", mapErr(err))
	}
	*s = *after
	return before, nil
}

// DeleteStream deletes the stream; its cursors and replays go with it.
func (db *DB) DeleteStream(ctx context.Context, accountID int64, id string) (*stele.Stream, error) {
	var gone *stele.Stream
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		gone, err = sqlstore.ScanStream(tx.QueryRow(ctx, `SELECT `+sqlstore.StreamColumns+sqlstore.StreamFrom+
			` WHERE s.id = $1 AND s.account_id = $2 FOR UPDATE OF s`, id, accountID))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM streams WHERE id = $1`, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("stream %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: delete stream: %w", mapErr(err))
	}
	return gone, nil
}

// StreamPositions returns the stream's cursor and head in each account it
// reads, in one query.
func (db *DB) StreamPositions(ctx context.Context, streamID string) ([]stele.StreamPosition, error) {
	rows, err := db.pool.Query(ctx, `SELECT a.id, a.name, coalesce(c.next_seq, 0), coalesce(c.forwarded, 0), coalesce(c.skipped, 0),
			coalesce(h.size, 0)
		FROM streams s JOIN accounts a ON (s.all_accounts OR a.id = s.account_id)
		LEFT JOIN stream_cursors c ON c.stream_id = s.id AND c.account_id = a.id
		LEFT JOIN heads h ON h.account_id = a.id
		WHERE s.id = $1 ORDER BY a.id`, streamID)
	if err != nil {
		return nil, fmt.Errorf("postgres: stream positions: %w", mapErr(err))
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanStreamPosition)
	if err != nil {
		return nil, fmt.Errorf("postgres: stream positions: %w", mapErr(err))
	}
	return out, nil
}

// AdvanceStream records a forwarder's report in one transaction, which
// first locks the stream's row: a delete waits for it, or it finds the
// stream gone. A cursor of an account deleted meanwhile is left out.
func (db *DB) AdvanceStream(ctx context.Context, streamID string, version int64, progress []stele.StreamProgress, h *stele.StreamHealth) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM streams WHERE id = $1 FOR SHARE`, streamID).Scan(&one); err != nil {
			return err
		}
		for _, p := range progress {
			if _, err := tx.Exec(ctx, `INSERT INTO stream_cursors (stream_id, account_id, next_seq, forwarded, skipped)
				SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $2)
				ON CONFLICT (stream_id, account_id) DO UPDATE SET next_seq = GREATEST(stream_cursors.next_seq, excluded.next_seq),
					forwarded = stream_cursors.forwarded + excluded.forwarded, skipped = stream_cursors.skipped + excluded.skipped`,
				streamID, p.AccountID, p.NextSeq, p.Forwarded, p.Skipped); err != nil {
				return err
			}
		}
		if h == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE streams SET paused_at = $1, last_error = $2, last_error_at = $3, last_sent_at = $4,
			events_per_second = $5, reported_at = $6 WHERE id = $7 AND version = $8`,
			append(sqlstore.StreamHealthValues(h), streamID, version)...)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("stream %q not found", streamID)
	}
	if isForeignKey(err) { // the account went between the check and the insert
		return stele.Errorf(stele.ECONFLICT, "an account of stream %q was deleted while its cursor moved; report again", streamID)
	}
	if err != nil {
		return fmt.Errorf("postgres: advance stream: %w", mapErr(err))
	}
	return nil
}

// CreateStreamReplay stores r, setting its CreatedAt.
func (db *DB) CreateStreamReplay(ctx context.Context, r *stele.StreamReplay) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	_, err := db.pool.Exec(ctx, `INSERT INTO stream_replays (`+sqlstore.ReplayColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		r.ID, r.StreamID, r.AccountID, r.After.UnixMicro(), r.Before.UnixMicro(), r.State, r.CursorAccount, r.NextSeq, r.UntilSeq,
		r.Sent, sqlstore.Clip(r.Error, stele.MaxStreamErrorLen), now.UnixMicro(), sqlstore.MicrosOrZero(r.FinishedAt))
	switch {
	case isForeignKey(err):
		return notFound("stream %q not found", r.StreamID)
	case err != nil:
		return fmt.Errorf("postgres: create stream replay: %w", mapErr(err))
	}
	r.CreatedAt = now
	return nil
}

// StreamReplays returns the stream's replays, newest first.
func (db *DB) StreamReplays(ctx context.Context, streamID string, limit int) ([]*stele.StreamReplay, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.ReplayColumns+` FROM stream_replays WHERE stream_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, streamID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: stream replays: %w", mapErr(err))
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanReplay)
	if err != nil {
		return nil, fmt.Errorf("postgres: stream replays: %w", mapErr(err))
	}
	return out, nil
}

// UpdateStreamReplay stores r's state, progress, error and end.
func (db *DB) UpdateStreamReplay(ctx context.Context, r *stele.StreamReplay) error {
	tag, err := db.pool.Exec(ctx, `UPDATE stream_replays SET state = $1, cursor_account = $2, next_seq = $3, until_seq = $4, sent = $5,
		error = $6, finished_at = $7 WHERE id = $8`, r.State, r.CursorAccount, r.NextSeq, r.UntilSeq, r.Sent,
		sqlstore.Clip(r.Error, stele.MaxStreamErrorLen), sqlstore.MicrosOrZero(r.FinishedAt), r.ID)
	if err != nil {
		return fmt.Errorf("postgres: update stream replay: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return notFound("stream replay %q not found", r.ID)
	}
	return nil
}
