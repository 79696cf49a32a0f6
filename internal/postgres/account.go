package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
)

const accountColumns = `id, name, type, retention_days, legal_hold, created_at`

// CreateAccount stores a, setting its ID and, when zero, its CreatedAt.
func (db *DB) CreateAccount(ctx context.Context, a *stele.Account) error {
	created := a.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(stele.TimeUnit)
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO accounts (name, type, retention_days, legal_hold, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		a.Name, a.Type, a.RetentionDays, a.LegalHold, created.UnixMicro()).Scan(&id)
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
	a, err := scanAccount(db.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
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
	a, err := scanAccount(db.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = $1`, name))
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
	rows, err := db.pool.Query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.Account, error) { return scanAccount(r) })
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
		a, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("account %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: update account: %w", mapErr(err))
		}
		before = a.Clone()
		if u.Type != nil {
			a.Type = *u.Type
		}
		switch {
		case u.ClearRetention, u.RetentionDays != nil && *u.RetentionDays == 0:
			a.RetentionDays = nil
		case u.RetentionDays != nil:
			n := *u.RetentionDays
			a.RetentionDays = &n
		}
		if u.LegalHold != nil {
			a.LegalHold = *u.LegalHold
		}
		_, err = tx.Exec(ctx, `UPDATE accounts SET type = $1, retention_days = $2, legal_hold = $3 WHERE id = $4`,
			a.Type, a.RetentionDays, a.LegalHold, id)
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

func scanAccount(s pgx.Row) (*stele.Account, error) {
	var (
		a         stele.Account
		retention *int32
		created   int64
	)
	if err := s.Scan(&a.ID, &a.Name, &a.Type, &retention, &a.LegalHold, &created); err != nil {
		return nil, err
	}
	if retention != nil {
		n := int(*retention)
		a.RetentionDays = &n
	}
	a.CreatedAt = fromMicros(created)
	return &a, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
