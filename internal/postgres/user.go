package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.UserStore = (*DB)(nil)

// CreateUser stores u, setting its CreatedAt and UpdatedAt. ECONFLICT if
// the email exists (in any account), ENOTFOUND if the account does not.
func (db *DB) CreateUser(ctx context.Context, u *stele.User) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	email := strings.ToLower(u.Email)
	_, err := db.pool.Exec(ctx, `INSERT INTO users (id, account_id, email, name, role, password_hash, totp_secret, totp_last_step, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)`,
		u.ID, u.AccountID, email, u.Name, string(u.Role), u.PasswordHash, u.TOTPSecret, now.UnixMicro())
	switch {
	case isUnique(err):
		return stele.Errorf(stele.ECONFLICT, "a user with email %q already exists", u.Email)
	case isForeignKey(err):
		return notFound("account %d not found", u.AccountID)
	case err != nil:
		return fmt.Errorf("postgres: create user: %w", mapErr(err))
	}
	u.Email = email
	u.CreatedAt, u.UpdatedAt = now, now
	return nil
}

// User returns the user with id; ENOTFOUND if there is none.
func (db *DB) User(ctx context.Context, id string) (*stele.User, error) {
	return db.oneUser(ctx, `u.id = $1`, id)
}

// UserByEmail returns the user with email, case-insensitively; ENOTFOUND if there is none.
func (db *DB) UserByEmail(ctx context.Context, email string) (*stele.User, error) {
	return db.oneUser(ctx, `u.email = $1`, strings.ToLower(email))
}

func (db *DB) oneUser(ctx context.Context, where string, arg any) (*stele.User, error) {
	u, err := sqlstore.ScanUser(db.pool.QueryRow(ctx,
		`SELECT `+sqlstore.UserColumns+` FROM users u JOIN accounts a ON a.id = u.account_id WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: user: %w", mapErr(err))
	}
	return u, nil
}

// Users returns an account's users by email.
func (db *DB) Users(ctx context.Context, accountID int64) ([]*stele.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.UserColumns+` FROM users u JOIN accounts a ON a.id = u.account_id
		WHERE u.account_id = $1 ORDER BY u.email COLLATE "C"`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: users: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.User, error) { return sqlstore.ScanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: users: %w", mapErr(err))
	}
	return out, nil
}

// CountUsers returns the number of users of every account.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", mapErr(err))
	}
	return n, nil
}

// UpdateUser changes the fields of u that are set and returns the user as stored.
func (db *DB) UpdateUser(ctx context.Context, id string, u stele.UserUpdate) (*stele.User, error) {
	var sets []string
	var args []any
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, col+` = $`+strconv.Itoa(len(args)))
	}
	if u.Name != nil {
		set("name", *u.Name)
	}
	if u.Role != nil {
		set("role", string(*u.Role))
	}
	if u.PasswordHash != nil {
		set("password_hash", *u.PasswordHash)
	}
	if u.TOTPSecret != nil {
		set("totp_secret", *u.TOTPSecret)
		sets = append(sets, `totp_last_step = 0`)
	}
	set("updated_at", time.Now().UnixMicro())
	args = append(args, id)
	tag, err := db.pool.Exec(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: update user: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return nil, notFound("user not found")
	}
	return db.User(ctx, id)
}

// UseTOTPStep records step as the user's last accepted TOTP step, unless a
// step at or after it was used already. The conditional UPDATE makes two
// nodes accepting the same code at once agree on one winner.
func (db *DB) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, id)
	if err != nil {
		return false, fmt.Errorf("postgres: use TOTP step: %w", mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteUser deletes the user and, with it, its sessions.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("postgres: delete user: %w", mapErr(err))
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("postgres: delete user: %w", mapErr(err))
		}
		if tag.RowsAffected() == 0 {
			return notFound("user not found")
		}
		return nil
	})
}
