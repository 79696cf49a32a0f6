package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var (
	_ stele.KeyRotationStore = (*DB)(nil)
	_ stele.AccountDeleter   = (*DB)(nil)
)

// RowsBelowKeyVersion returns up to limit of the account's rows from seq
// on that were sealed under a data key older than version.
func (db *DB) RowsBelowKeyVersion(ctx context.Context, accountID int64, version int, from int64, limit int) ([]stele.EventRow, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE account_id = $1 AND seq >= $2 AND key_version < $3 ORDER BY seq LIMIT $4`, accountID, from, version, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: rows to re-encrypt: %w", mapErr(err))
	}
	out, err := collectEvents(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("postgres: rows to re-encrypt: %w", mapErr(err))
	}
	return out, nil
}

// UpdatePayloads stores re-sealed payloads of rows still at their old
// version, in one statement.
func (db *DB) UpdatePayloads(ctx context.Context, rows []stele.Reencrypted) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	var (
		accounts, seqs []int64
		olds, news     []int32
		payloads       [][]byte
	)
	for _, r := range rows {
		accounts, seqs = append(accounts, r.AccountID), append(seqs, r.Seq)
		olds, news = append(olds, int32(r.OldVersion)), append(news, int32(r.NewVersion))
		payloads = append(payloads, sqlstore.NonNilBytes(r.Payload))
	}
	tag, err := db.pool.Exec(ctx, `UPDATE events e SET key_version = u.new, payload = u.payload
		FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::integer[], $5::bytea[]) AS u(account_id, seq, old, new, payload)
		WHERE e.account_id = u.account_id AND e.seq = u.seq AND e.key_version = u.old`,
		accounts, seqs, olds, news, payloads)
	if err != nil {
		return 0, fmt.Errorf("postgres: update payloads: %w", mapErr(err))
	}
	return tag.RowsAffected(), nil
}

// DeleteAccountEvents deletes up to limit of the account's events, oldest first.
func (db *DB) DeleteAccountEvents(ctx context.Context, accountID int64, limit int) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM events WHERE account_id = $1 AND seq IN
		(SELECT seq FROM events WHERE account_id = $1 ORDER BY seq LIMIT $2)`, accountID, limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete account events: %w", mapErr(err))
	}
	return tag.RowsAffected(), nil
}

// DeleteAccount removes the account and its rows in every table with an
// account_id column (partitions are reached through their parent), tables
// added by later migrations included.
func (db *DB) DeleteAccount(ctx context.Context, accountID int64) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
			AND a.attname = 'account_id' AND NOT a.attisdropped ORDER BY c.relname`)
		if err != nil {
			return fmt.Errorf("postgres: delete account: list tables: %w", mapErr(err))
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("postgres: delete account: list tables: %w", mapErr(err))
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+pgx.Identifier{t}.Sanitize()+` WHERE account_id = $1`, accountID); err != nil {
				return fmt.Errorf("postgres: delete account: table %s: %w", t, mapErr(err))
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, accountID)
		if err != nil {
			return fmt.Errorf("postgres: delete account: %w", mapErr(err))
		}
		if tag.RowsAffected() == 0 {
			return notFound("account %d not found", accountID)
		}
		return nil
	})
}
