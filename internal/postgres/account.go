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

// CreateAccount stores a, setting its ID and, when zero, its CreatedAt.
func (db *DB) CreateAccount(ctx context.Context, a *stele.Account) error {
	created := a.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(stele.TimeUnit)
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO accounts (name, type, retention_days, legal_hold, created_at, `+sqlstore.AccountSettingColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		append([]any{a.Name, a.Type, a.RetentionDays, a.LegalHold, created.UnixMicro()}, sqlstore.AccountSettings(a)...)...).Scan(&id)
	if isUnique(err) {
		return stele.Errorf(stele.ECONFLICT, "account %q already exists", a.Name)
	}
	if err != nil {
		return fmt.Errorf("postgres: create account: %w", mapErr(err))
	}
	a.ID, a.CreatedAt = id, created
	return nil
}

// Account returns the account with id; ENOTFOUND if there is none.
func (db *DB) Account(ctx context.Context, id int64) (*stele.Account, error) {
	a, err := sqlstore.ScanAccount(db.pool.QueryRow(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("account %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: account: %w", mapErr(err))
	}
	return a, nil
}

// AccountByName returns the account named name; ENOTFOUND if there is none.
func (db *DB) AccountByName(ctx context.Context, name string) (*stele.Account, error) {
	a, err := sqlstore.ScanAccount(db.pool.QueryRow(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("account %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: account by name: %w", mapErr(err))
	}
	return a, nil
}

// Accounts returns every account in name order.
func (db *DB) Accounts(ctx context.Context) ([]*stele.Account, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.Account, error) { return sqlstore.ScanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts: %w", mapErr(err))
	}
	return out, nil
}

// UpdateAccount applies u to the account with id and returns it as updated.
// A RetentionDays of 0, like ClearRetention, removes the override.
func (db *DB) UpdateAccount(ctx context.Context, id int64, u stele.AccountUpdate) (before, after *stele.Account, err error) {
	var a *stele.Account
	err = db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = sqlstore.ScanAccount(tx.QueryRow(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("account %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: update account: %w", mapErr(err))
		}
		before = a.Clone()
		u.Apply(a)
		_, err = tx.Exec(ctx, `UPDATE accounts SET type = $1, retention_days = $2, legal_hold = $3,
			ingest_events_per_second = $4, ingest_bytes_per_second = $5, ingest_burst_seconds = $6 WHERE id = $7`,
			append(append([]any{a.Type, a.RetentionDays, a.LegalHold}, sqlstore.AccountSettings(a)...), id)...)
		if err != nil {
			return fmt.Errorf("postgres: update account: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return before, a, nil
}
