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

// CreateAPIKey stores k, setting its CreatedAt when zero. ECONFLICT if the
// id exists, ENOTFOUND if the account does not.
func (db *DB) CreateAPIKey(ctx context.Context, k *stele.APIKey) error {
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(stele.TimeUnit)
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, account_id, name, scopes, operator, secret_hash, created_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.AccountID, k.Name, stele.JoinScopes(k.Scopes), k.Operator, sqlstore.NonNilBytes(k.SecretHash), created.UnixMicro(), sqlstore.MicrosOrNil(k.RevokedAt))
		return err
	})
	switch {
	case isUnique(err):
		return stele.Errorf(stele.ECONFLICT, "API key %q already exists", k.ID)
	case isForeignKey(err):
		return notFound("account %d not found", k.AccountID)
	case err != nil:
		return fmt.Errorf("sqlite: create API key: %w", mapErr(err))
	}
	k.CreatedAt = created
	return nil
}

// APIKey returns the key with id; ENOTFOUND if there is none.
func (db *DB) APIKey(ctx context.Context, id string) (*stele.APIKey, error) {
	k, err := sqlstore.ScanAPIKey(db.reader.QueryRowContext(ctx,
		`SELECT `+sqlstore.APIKeyColumns+` FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API key %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: API key: %w", mapErr(err))
	}
	return k, nil
}

// APIKeys returns an account's keys, oldest first, revoked ones included.
func (db *DB) APIKeys(ctx context.Context, accountID int64) ([]*stele.APIKey, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sqlstore.APIKeyColumns+` FROM api_keys k JOIN accounts a ON a.id = k.account_id
		WHERE k.account_id = ? ORDER BY k.created_at, k.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: API keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.APIKey
	for rows.Next() {
		k, err := sqlstore.ScanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: API keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: API keys: %w", mapErr(err))
	}
	return out, nil
}

// RevokeAPIKey marks the key revoked at at; ENOTFOUND if there is none. A
// key already revoked keeps its first revocation time.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("API key %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: revoke API key: %w", mapErr(err))
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
			at.UTC().Truncate(stele.TimeUnit).UnixMicro(), id)
		if err != nil {
			return fmt.Errorf("sqlite: revoke API key: %w", mapErr(err))
		}
		return nil
	})
}

// APIKeyGeneration returns the counter that the triggers of migration 0007
// bump on every change to API keys and to account names.
func (db *DB) APIKeyGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := db.reader.QueryRowContext(ctx, `SELECT n FROM api_key_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: API key generation: %w", mapErr(err))
	}
	return n, nil
}
