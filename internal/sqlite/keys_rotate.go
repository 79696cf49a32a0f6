package sqlite

import (
	"context"
	"database/sql"
	"fmt"

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
	out, err := db.queryEvents(ctx, limit, `SELECT `+eventColumns+` FROM events
		WHERE account_id = ? AND seq >= ? AND key_version < ? ORDER BY seq LIMIT ?`, accountID, from, version, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rows to re-encrypt: %w", err)
	}
	return out, nil
}

// UpdatePayloads stores re-sealed payloads of rows still at their old version.
func (db *DB) UpdatePayloads(ctx context.Context, rows []stele.Reencrypted) (int64, error) {
	var total int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE events SET key_version = ?, payload = ?
			WHERE account_id = ? AND seq = ? AND key_version = ?`)
		if err != nil {
			return fmt.Errorf("sqlite: update payloads: %w", mapErr(err))
		}
		defer st.Close()
		total = 0
		for _, r := range rows {
			res, err := st.ExecContext(ctx, r.NewVersion, sqlstore.NonNilBytes(r.Payload), r.AccountID, r.Seq, r.OldVersion)
			if err != nil {
				return fmt.Errorf("sqlite: update payloads: %w", mapErr(err))
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	return total, err
}

// DeleteAccountEvents deletes up to limit of the account's events, oldest first.
func (db *DB) DeleteAccountEvents(ctx context.Context, accountID int64, limit int) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE account_id = ? AND seq IN
			(SELECT seq FROM events WHERE account_id = ? ORDER BY seq LIMIT ?)`, accountID, accountID, limit)
		if err != nil {
			return fmt.Errorf("sqlite: delete account events: %w", mapErr(err))
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// DeleteAccount removes the account and its rows in every table with an
// account_id column, tables added by later migrations included. Foreign
// keys are checked at commit, once everything is gone.
func (db *DB) DeleteAccount(ctx context.Context, accountID int64) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
			return fmt.Errorf("sqlite: delete account: %w", mapErr(err))
		}
		rows, err := tx.QueryContext(ctx, `SELECT m.name FROM sqlite_schema m, pragma_table_info(m.name) c
			WHERE m.type = 'table' AND c.name = 'account_id' ORDER BY m.name`)
		if err != nil {
			return fmt.Errorf("sqlite: delete account: list tables: %w", mapErr(err))
		}
		var tables []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: delete account: %w", err)
			}
			tables = append(tables, name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: delete account: %w", mapErr(err))
		}
		for _, t := range tables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM "`+t+`" WHERE account_id = ?`, accountID); err != nil {
				return fmt.Errorf("sqlite: delete account: table %s: %w", t, mapErr(err))
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, accountID)
		if err != nil {
			return fmt.Errorf("sqlite: delete account: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("account %d not found", accountID)
		}
		return nil
	})
}
