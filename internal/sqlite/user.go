package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.UserStore = (*DB)(nil)

// CreateUser stores u, setting its CreatedAt and UpdatedAt. ECONFLICT if
// the email exists (in any account), ENOTFOUND if the account does not.
func (db *DB) CreateUser(ctx context.Context, u *stele.User) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, account_id, email, name, role, password_hash, totp_secret, totp_last_step, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			u.ID, u.AccountID, strings.ToLower(u.Email), u.Name, string(u.Role), u.PasswordHash, u.TOTPSecret, now.UnixMicro(), now.UnixMicro())
		return err
	})
	switch {
	case isUnique(err):
		return stele.Errorf(stele.ECONFLICT, "a user with email %q already exists", u.Email)
	case isForeignKey(err):
		return notFound("account %d not found", u.AccountID)
	case err != nil:
		return fmt.Errorf("sqlite: create user: %w", mapErr(err))
	}
	u.Email = strings.ToLower(u.Email)
	u.CreatedAt, u.UpdatedAt = now, now
	return nil
}

// User returns the user with id; ENOTFOUND if there is none.
func (db *DB) User(ctx context.Context, id string) (*stele.User, error) {
	return db.oneUser(ctx, `u.id = ?`, id)
}

// UserByEmail returns the user with email, case-insensitively; ENOTFOUND if there is none.
func (db *DB) UserByEmail(ctx context.Context, email string) (*stele.User, error) {
	return db.oneUser(ctx, `u.email = ?`, strings.ToLower(email))
}

func (db *DB) oneUser(ctx context.Context, where string, arg any) (*stele.User, error) {
	u, err := sqlstore.ScanUser(db.reader.QueryRowContext(ctx,
		`SELECT `+sqlstore.UserColumns+` FROM users u JOIN accounts a ON a.id = u.account_id WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: user: %w", mapErr(err))
	}
	return u, nil
}

// Users returns an account's users by email.
func (db *DB) Users(ctx context.Context, accountID int64) ([]*stele.User, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sqlstore.UserColumns+` FROM users u JOIN accounts a ON a.id = u.account_id
		WHERE u.account_id = ? ORDER BY u.email`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: users: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.User
	for rows.Next() {
		u, err := sqlstore.ScanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: users: %w", mapErr(err))
	}
	return out, nil
}

// CountUsers returns the number of users of every account.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", mapErr(err))
	}
	return n, nil
}

// UpdateUser changes the fields of u that are set and returns the user as stored.
func (db *DB) UpdateUser(ctx context.Context, id string, u stele.UserUpdate) (*stele.User, error) {
	var sets []string
	var args []any
	if u.Name != nil {
		sets, args = append(sets, `name = ?`), append(args, *u.Name)
	}
	if u.Role != nil {
		sets, args = append(sets, `role = ?`), append(args, string(*u.Role))
	}
	if u.PasswordHash != nil {
		sets, args = append(sets, `password_hash = ?`), append(args, *u.PasswordHash)
	}
	if u.TOTPSecret != nil {
		sets, args = append(sets, `totp_secret = ?`, `totp_last_step = 0`), append(args, *u.TOTPSecret)
	}
	sets, args = append(sets, `updated_at = ?`), append(args, time.Now().UnixMicro(), id)
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
		if err != nil {
			return fmt.Errorf("sqlite: update user: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user not found")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.User(ctx, id)
}

// UseTOTPStep records step as the user's last accepted TOTP step, unless a
// step at or after it was used already.
func (db *DB) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	var ok bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
		if err != nil {
			return fmt.Errorf("sqlite: use TOTP step: %w", mapErr(err))
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, err
}

// DeleteUser deletes the user and, with it, its sessions.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: delete user: %w", mapErr(err))
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("sqlite: delete user: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user not found")
		}
		return nil
	})
}
