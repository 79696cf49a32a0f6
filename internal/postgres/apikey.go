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

// CreateAPIKey stores k, setting its CreatedAt when zero. ECONFLICT if the
// id exists, ENOTFOUND if the account does not.
func (db *DB) CreateAPIKey(ctx context.Context, k *stele.APIKey) error {
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(stele.TimeUnit)
	_, err := db.pool.Exec(ctx, `INSERT INTO api_keys (id, account_id, name, scopes, operator, secret_hash, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.AccountID, k.Name, stele.JoinScopes(k.Scopes), k.Operator, sqlstore.NonNilBytes(k.SecretHash), created.UnixMicro(), sqlstore.MicrosOrNil(k.RevokedAt))
	switch {
	case isUnique(err):
		return stele.Errorf(stele.ECONFLICT, "API key %q already exists", k.ID)
	case isForeignKey(err):
		return notFound("account %d not found", k.AccountID)
	case err != nil:
		return fmt.Errorf("postgres: create API key: %w", mapErr(err))
	}
	k.CreatedAt = created
	return nil
}

// APIKey returns the key with id; ENOTFOUND if there is none.
func (db *DB) APIKey(ctx context.Context, id string) (*stele.APIKey, error) {
	k, err := sqlstore.ScanAPIKey(db.pool.QueryRow(ctx,
		`SELECT `+sqlstore.APIKeyColumns+` FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("API key %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: API key: %w", mapErr(err))
	}
	return k, nil
}

// APIKeys returns an account's keys, oldest first, revoked ones included.
func (db *DB) APIKeys(ctx context.Context, accountID int64) ([]*stele.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.APIKeyColumns+` FROM api_keys k JOIN accounts a ON a.id = k.account_id
		WHERE k.account_id = $1 ORDER BY k.created_at, k.id COLLATE "C"`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: API keys: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.APIKey, error) { return sqlstore.ScanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: API keys: %w", mapErr(err))
	}
	return out, nil
}

// RevokeAPIKey marks the key revoked at at; ENOTFOUND if there is none. A
// key already revoked keeps its first revocation time.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	var found bool
	err := db.pool.QueryRow(ctx, `WITH k AS (SELECT id FROM api_keys WHERE id = $1),
		u AS (UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL)
		SELECT EXISTS (SELECT 1 FROM k)`, id, at.UTC().Truncate(stele.TimeUnit).UnixMicro()).Scan(&found)
	if err != nil {
		return fmt.Errorf("postgres: revoke API key: %w", mapErr(err))
	}
	if !found {
		return notFound("API key %q not found", id)
	}
	return nil
}

// APIKeyGeneration returns the counter that the triggers of migration 0005
// bump on every change to API keys and to account names.
func (db *DB) APIKeyGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT n FROM api_key_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: API key generation: %w", mapErr(err))
	}
	return n, nil
}
