package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// KeyDB is the key store on a SQLite file of its own (keys.db beside the
// events' file by default): the accounts' wrapped keys, and the accounts
// whose keys were destroyed. Its pages are zeroed when freed
// (secure_delete), so that a destroyed key leaves no copy in the file.
type KeyDB struct {
	db *sql.DB
}

var _ stele.KeyStore = (*KeyDB)(nil)

//go:embed keymigration/*.sql
var keyMigrationFiles embed.FS

// keyMigrations is the key store's migration directory.
var keyMigrations, _ = fs.Sub(keyMigrationFiles, "keymigration")

// OpenKeys opens the key store at path, creating the file (mode 0600) and
// its directory when needed, and applies any pending migrations.
func OpenKeys(ctx context.Context, path string) (*KeyDB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty key store path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create key store: %w", err)
	}
	f.Close()
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_secure_delete", "1")
	q.Set("_txlock", "immediate")
	db, err := sql.Open(DriverName, (&url.URL{Scheme: "file", Opaque: path, RawQuery: q.Encode()}).String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open key store: %w", err)
	}
	db.SetMaxOpenConns(4)
	if err := migrate(ctx, db, keyMigrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("key store: %w", err)
	}
	return &KeyDB{db: db}, nil
}

// Close closes the key store.
func (k *KeyDB) Close() error { return k.db.Close() }

// Ping checks that the key store answers.
func (k *KeyDB) Ping(ctx context.Context) error {
	if err := k.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping key store: %w", mapErr(err))
	}
	return nil
}

// write runs fn in one BEGIN IMMEDIATE transaction.
func (k *KeyDB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: key store: begin: %w", mapErr(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the transaction's own error is the one to report
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: key store: commit: %w", mapErr(err))
	}
	return nil
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// destroyed fails with stele.KeysDestroyed when the account's keys were.
func destroyed(ctx context.Context, q rowQuerier, accountID int64) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM destroyed_accounts WHERE account_id = ?`, accountID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("sqlite: key store: %w", mapErr(err))
	default:
		return stele.KeysDestroyed(accountID)
	}
}

// WrappedKeys returns an account's wrapped keys by purpose and version.
func (k *KeyDB) WrappedKeys(ctx context.Context, accountID int64) ([]stele.WrappedKey, error) {
	if err := destroyed(ctx, k.db, accountID); err != nil {
		return nil, err
	}
	rows, err := k.db.QueryContext(ctx, `SELECT account_id, purpose, version, master_version, wrapped, created_at
		FROM account_keys WHERE account_id = ? ORDER BY purpose, version`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: wrapped keys: %w", mapErr(err))
	}
	return scanWrappedKeys(rows)
}

func scanWrappedKeys(rows *sql.Rows) ([]stele.WrappedKey, error) {
	defer rows.Close()
	var out []stele.WrappedKey
	for rows.Next() {
		var (
			w       stele.WrappedKey
			created int64
		)
		if err := rows.Scan(&w.AccountID, &w.Purpose, &w.Version, &w.MasterVersion, &w.Wrapped, &created); err != nil {
			return nil, fmt.Errorf("sqlite: wrapped keys: %w", err)
		}
		w.CreatedAt = sqlstore.Time(created)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: wrapped keys: %w", mapErr(err))
	}
	return out, nil
}

// AddWrappedKeys stores keys in one transaction; ECONFLICT, and nothing
// stored, if any (account, purpose, version) exists.
func (k *KeyDB) AddWrappedKeys(ctx context.Context, keys []stele.WrappedKey) error {
	return k.write(ctx, func(tx *sql.Tx) error {
		for _, w := range keys {
			if err := destroyed(ctx, tx, w.AccountID); err != nil {
				return err
			}
			created := w.CreatedAt
			if created.IsZero() {
				created = time.Now()
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO account_keys (account_id, purpose, version, master_version, wrapped, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`,
				w.AccountID, w.Purpose, w.Version, w.MasterVersion, sqlstore.NonNilBytes(w.Wrapped), created.UnixMicro())
			switch {
			case isUnique(err):
				return stele.Errorf(stele.ECONFLICT, "account %d already has %s key version %d", w.AccountID, w.Purpose, w.Version)
			case err != nil:
				return fmt.Errorf("sqlite: add wrapped keys: %w", mapErr(err))
			}
		}
		return nil
	})
}

// RewrapKeys replaces the wrapped form and master version of existing keys.
func (k *KeyDB) RewrapKeys(ctx context.Context, keys []stele.WrappedKey) error {
	return k.write(ctx, func(tx *sql.Tx) error {
		for _, w := range keys {
			if err := destroyed(ctx, tx, w.AccountID); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE account_keys SET wrapped = ?, master_version = ?
				WHERE account_id = ? AND purpose = ? AND version = ?`,
				sqlstore.NonNilBytes(w.Wrapped), w.MasterVersion, w.AccountID, w.Purpose, w.Version)
			if err != nil {
				return fmt.Errorf("sqlite: rewrap keys: %w", mapErr(err))
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return notFound("account %d has no %s key version %d", w.AccountID, w.Purpose, w.Version)
			}
		}
		return nil
	})
}

// DestroyKeys deletes the account's keys (their pages zeroed, as every
// freed page of this file is), records the account as destroyed, then
// checkpoints and truncates the WAL, so that no page image of the keys is
// left in the live files.
func (k *KeyDB) DestroyKeys(ctx context.Context, accountID int64) (int64, error) {
	var n int64
	err := k.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM account_keys WHERE account_id = ?`, accountID)
		if err != nil {
			return fmt.Errorf("sqlite: destroy keys: %w", mapErr(err))
		}
		n, _ = res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `INSERT INTO destroyed_accounts (account_id, destroyed_at) VALUES (?, ?)
			ON CONFLICT (account_id) DO NOTHING`, accountID, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: destroy keys: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Readers of other processes may hold the WAL open; a busy checkpoint
	// is retried by the next one, so its result is informative only.
	if _, err := k.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return n, fmt.Errorf("sqlite: destroy keys: checkpoint: %w", mapErr(err))
	}
	return n, nil
}

// KeyAccounts returns the accounts that hold keys.
func (k *KeyDB) KeyAccounts(ctx context.Context) ([]int64, error) {
	rows, err := k.db.QueryContext(ctx, `SELECT DISTINCT account_id FROM account_keys ORDER BY account_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: key accounts: %w", mapErr(err))
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: key accounts: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: key accounts: %w", mapErr(err))
	}
	return out, nil
}
