package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// WrappedKeys returns an account's wrapped keys by purpose and version.
func (db *DB) WrappedKeys(ctx context.Context, accountID int64) ([]stele.WrappedKey, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT account_id, purpose, version, master_version, wrapped, created_at
		FROM account_keys WHERE account_id = ? ORDER BY purpose, version`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: wrapped keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []stele.WrappedKey
	for rows.Next() {
		var (
			k       stele.WrappedKey
			created int64
		)
		if err := rows.Scan(&k.AccountID, &k.Purpose, &k.Version, &k.MasterVersion, &k.Wrapped, &created); err != nil {
			return nil, fmt.Errorf("sqlite: wrapped keys: %w", err)
		}
		k.CreatedAt = sqlstore.Time(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: wrapped keys: %w", mapErr(err))
	}
	return out, nil
}

// AddWrappedKeys stores keys in one transaction; ECONFLICT, and nothing
// stored, if any (account, purpose, version) exists.
func (db *DB) AddWrappedKeys(ctx context.Context, keys []stele.WrappedKey) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			created := k.CreatedAt
			if created.IsZero() {
				created = time.Now()
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO account_keys (account_id, purpose, version, master_version, wrapped, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`,
				k.AccountID, k.Purpose, k.Version, k.MasterVersion, sqlstore.NonNilBytes(k.Wrapped), created.UnixMicro())
			switch {
			case isUnique(err):
				return stele.Errorf(stele.ECONFLICT, "account %d already has %s key version %d", k.AccountID, k.Purpose, k.Version)
			case isForeignKey(err):
				return notFound("account %d not found", k.AccountID)
			case err != nil:
				return fmt.Errorf("sqlite: add wrapped keys: %w", mapErr(err))
			}
		}
		return nil
	})
}
