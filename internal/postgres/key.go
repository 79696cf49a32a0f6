package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// WrappedKeys returns an account's wrapped keys by purpose and version.
func (db *DB) WrappedKeys(ctx context.Context, accountID int64) ([]stele.WrappedKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT account_id, purpose, version, master_version, wrapped, created_at
		FROM account_keys WHERE account_id = $1 ORDER BY purpose COLLATE "C", version`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: wrapped keys: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stele.WrappedKey, error) {
		var (
			k       stele.WrappedKey
			created int64
		)
		err := r.Scan(&k.AccountID, &k.Purpose, &k.Version, &k.MasterVersion, &k.Wrapped, &created)
		k.CreatedAt = sqlstore.Time(created)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: wrapped keys: %w", mapErr(err))
	}
	return out, nil
}

// AddWrappedKeys stores keys in one transaction; ECONFLICT, and nothing
// stored, if any (account, purpose, version) exists. Two nodes creating an
// account's first keys at once both try; the loser gets ECONFLICT and
// reads the winner's keys.
func (db *DB) AddWrappedKeys(ctx context.Context, keys []stele.WrappedKey) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		for _, k := range keys {
			created := k.CreatedAt
			if created.IsZero() {
				created = time.Now()
			}
			_, err := tx.Exec(ctx, `INSERT INTO account_keys (account_id, purpose, version, master_version, wrapped, created_at)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				k.AccountID, k.Purpose, k.Version, k.MasterVersion, sqlstore.NonNilBytes(k.Wrapped), created.UnixMicro())
			switch {
			case isUnique(err):
				return stele.Errorf(stele.ECONFLICT, "account %d already has %s key version %d", k.AccountID, k.Purpose, k.Version)
			case isForeignKey(err):
				return notFound("account %d not found", k.AccountID)
			case err != nil:
				return fmt.Errorf("postgres: add wrapped keys: %w", mapErr(err))
			}
		}
		return nil
	})
}
