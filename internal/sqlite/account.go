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

// CreateAccount stores a, setting its ID and, when zero, its CreatedAt.
// The ID is one no account ever had (migration 0011).
func (db *DB) CreateAccount(ctx context.Context, a *stele.Account) error {
	created := a.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(stele.TimeUnit)
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO accounts (id, name, type, retention_days, legal_hold, created_at, `+sqlstore.AccountSettingColumns+`)
			VALUES ((SELECT id + 1 FROM account_id_floor), ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			append([]any{a.Name, a.Type, nullInt(a.RetentionDays), a.LegalHold, created.UnixMicro()}, sqlstore.AccountSettings(a)...)...).Scan(&id)
	})
	if isUnique(err) {
		return stele.Errorf(stele.ECONFLICT, "account %q already exists", a.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create account: %w", mapErr(err))
	}
	a.ID, a.CreatedAt = id, created
	return nil
}

// Account returns the account with id; ENOTFOUND if there is none.
func (db *DB) Account(ctx context.Context, id int64) (*stele.Account, error) {
	a, err := sqlstore.ScanAccount(db.reader.QueryRowContext(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: account: %w", mapErr(err))
	}
	return a, nil
}

// AccountByName returns the account named name; ENOTFOUND if there is none.
func (db *DB) AccountByName(ctx context.Context, name string) (*stele.Account, error) {
	a, err := sqlstore.ScanAccount(db.reader.QueryRowContext(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: account by name: %w", mapErr(err))
	}
	return a, nil
}

// Accounts returns every account in name order.
func (db *DB) Accounts(ctx context.Context) ([]*stele.Account, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: accounts: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.Account
	for rows.Next() {
		a, err := sqlstore.ScanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: accounts: %w", mapErr(err))
	}
	return out, nil
}

// UpdateAccount applies u to the account with id and returns it as updated.
// A RetentionDays of 0, like ClearRetention, removes the override.
func (db *DB) UpdateAccount(ctx context.Context, id int64, u stele.AccountUpdate) (before, after *stele.Account, err error) {
	var a *stele.Account
	err = db.write(ctx, func(tx *sql.Tx) error {
		var err error
		a, err = sqlstore.ScanAccount(tx.QueryRowContext(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("account %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update account: %w", mapErr(err))
		}
		before = a.Clone()
		u.Apply(a)
		_, err = tx.ExecContext(ctx, `UPDATE accounts SET type = ?, retention_days = ?, legal_hold = ?,
			ingest_events_per_second = ?, ingest_bytes_per_second = ?, ingest_burst_seconds = ? WHERE id = ?`,
			append(append([]any{a.Type, nullInt(a.RetentionDays), a.LegalHold}, sqlstore.AccountSettings(a)...), id)...)
		if err != nil {
			return fmt.Errorf("sqlite: update account: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return before, a, nil
}

type scanner interface{ Scan(dest ...any) error }

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}
