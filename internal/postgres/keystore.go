package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// KeyDB is the key store on a PostgreSQL database of its own: the
// accounts' wrapped keys, and the accounts whose keys were destroyed. Every
// node of a shared event database opens the same key database.
type KeyDB struct {
	pool *pgxpool.Pool
}

var _ stele.KeyStore = (*KeyDB)(nil)

//go:embed keymigration/*.sql
var keyMigrationFiles embed.FS

// keyMigrations is the key store's migration directory.
var keyMigrations, _ = fs.Sub(keyMigrationFiles, "keymigration")

// OpenKeys connects to the key database at keysURL and applies any
// pending migrations. The database must exist (EnsureDatabase makes it).
func OpenKeys(ctx context.Context, keysURL string) (*KeyDB, error) {
	cfg, err := pgxpool.ParseConfig(keysURL)
	if err != nil {
		return nil, stele.Errorf(stele.EINVALID, "postgres: bad key database URL: %v", err)
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "stele-keys"
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to key database: %w", err)
	}
	if err := (&DB{pool: pool}).migrate(ctx, keyMigrations); err != nil {
		pool.Close()
		return nil, fmt.Errorf("key database: %w", err)
	}
	return &KeyDB{pool: pool}, nil
}

// Close closes every connection to the key database.
func (k *KeyDB) Close() error {
	k.pool.Close()
	return nil
}

// Ping checks that the key database answers.
func (k *KeyDB) Ping(ctx context.Context) error {
	if err := k.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping key database: %w", mapErr(err))
	}
	return nil
}

// KeysDatabaseURL returns the URL of the default key database of the event
// database at eventsURL: the database of the same name with "_keys"
// appended, on the same server, reached the same way.
func KeysDatabaseURL(eventsURL string) (string, error) {
	cfg, err := pgconn.ParseConfig(eventsURL)
	if err != nil {
		return "", stele.Errorf(stele.EINVALID, "postgres: bad database URL: %v", err)
	}
	u, err := url.Parse(eventsURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", stele.Errorf(stele.EINVALID, "the key database cannot be derived from a database given as key=value settings: give --keys-db (or STELE_KEYS_DATABASE_URL)")
	}
	name := cfg.Database + "_keys"
	if len(name) > 63 {
		return "", stele.Errorf(stele.EINVALID, "the key database's name %q would be longer than PostgreSQL's 63 bytes: give --keys-db (or STELE_KEYS_DATABASE_URL)", name)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// EnsureDatabase creates the database that dbURL names, connecting through
// the existing database at serverURL, unless it exists. Nodes starting
// together may all try: the losers find it made.
func EnsureDatabase(ctx context.Context, serverURL, dbURL string) error {
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return stele.Errorf(stele.EINVALID, "postgres: bad key database URL: %v", err)
	}
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", mapErr(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, cfg.Database).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look for the key database: %w", mapErr(err))
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{cfg.Database}.Sanitize())
	switch sqlState(err) {
	case "":
		if err != nil {
			return fmt.Errorf("postgres: create the key database %s: %w", cfg.Database, mapErr(err))
		}
		return nil
	case "42P04", "23505": // duplicate_database; a unique violation in pg_database when two race
		return nil
	case "42501": // insufficient_privilege
		return stele.Errorf(stele.EINVALID, "the key database %s does not exist and this role may not create it: create it (CREATE DATABASE %s) or give --keys-db", cfg.Database, cfg.Database)
	default:
		return fmt.Errorf("postgres: create the key database %s: %w", cfg.Database, mapErr(err))
	}
}

// destroyedIn fails with stele.KeysDestroyed when the account's keys were.
func destroyedIn(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, accountID int64) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM destroyed_accounts WHERE account_id = $1`, accountID).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("postgres: key database: %w", mapErr(err))
	default:
		return stele.KeysDestroyed(accountID)
	}
}

func (k *KeyDB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return (&DB{pool: k.pool}).tx(ctx, fn)
}

// WrappedKeys returns an account's wrapped keys by purpose and version.
func (k *KeyDB) WrappedKeys(ctx context.Context, accountID int64) ([]stele.WrappedKey, error) {
	if err := destroyedIn(ctx, k.pool, accountID); err != nil {
		return nil, err
	}
	rows, err := k.pool.Query(ctx, `SELECT account_id, purpose, version, master_version, wrapped, created_at
		FROM account_keys WHERE account_id = $1 ORDER BY purpose COLLATE "C", version`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: wrapped keys: %w", mapErr(err))
	}
	return collectWrappedKeys(rows)
}

func collectWrappedKeys(rows pgx.Rows) ([]stele.WrappedKey, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stele.WrappedKey, error) {
		var (
			w       stele.WrappedKey
			created int64
		)
		err := r.Scan(&w.AccountID, &w.Purpose, &w.Version, &w.MasterVersion, &w.Wrapped, &created)
		w.CreatedAt = sqlstore.Time(created)
		return w, err
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
func (k *KeyDB) AddWrappedKeys(ctx context.Context, keys []stele.WrappedKey) error {
	return k.tx(ctx, func(tx pgx.Tx) error {
		for _, w := range keys {
			if err := destroyedIn(ctx, tx, w.AccountID); err != nil {
				return err
			}
			created := w.CreatedAt
			if created.IsZero() {
				created = time.Now()
			}
			_, err := tx.Exec(ctx, `INSERT INTO account_keys (account_id, purpose, version, master_version, wrapped, created_at)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				w.AccountID, w.Purpose, w.Version, w.MasterVersion, sqlstore.NonNilBytes(w.Wrapped), created.UnixMicro())
			switch {
			case isUnique(err):
				return stele.Errorf(stele.ECONFLICT, "account %d already has %s key version %d", w.AccountID, w.Purpose, w.Version)
			case err != nil:
				return fmt.Errorf("postgres: add wrapped keys: %w", mapErr(err))
			}
		}
		return nil
	})
}

// RewrapKeys replaces the wrapped form and master version of existing keys.
func (k *KeyDB) RewrapKeys(ctx context.Context, keys []stele.WrappedKey) error {
	return k.tx(ctx, func(tx pgx.Tx) error {
		for _, w := range keys {
			if err := destroyedIn(ctx, tx, w.AccountID); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE account_keys SET wrapped = $1, master_version = $2
				WHERE account_id = $3 AND purpose = $4 AND version = $5`,
				sqlstore.NonNilBytes(w.Wrapped), w.MasterVersion, w.AccountID, w.Purpose, w.Version)
			if err != nil {
				return fmt.Errorf("postgres: rewrap keys: %w", mapErr(err))
			}
			if tag.RowsAffected() != 1 {
				return notFound("account %d has no %s key version %d", w.AccountID, w.Purpose, w.Version)
			}
		}
		return nil
	})
}

// DestroyKeys deletes the account's keys and records the account as
// destroyed in one transaction, then vacuums the table so that the dead
// row versions holding the keys are pruned from the live pages. Copies in
// this database's WAL archives and base backups remain until those expire
// (docs/SECURITY.md: keep the key database's backups short-lived).
func (k *KeyDB) DestroyKeys(ctx context.Context, accountID int64) (int64, error) {
	var n int64
	err := k.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM account_keys WHERE account_id = $1`, accountID)
		if err != nil {
			return fmt.Errorf("postgres: destroy keys: %w", mapErr(err))
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `INSERT INTO destroyed_accounts (account_id, destroyed_at) VALUES ($1, $2)
			ON CONFLICT (account_id) DO NOTHING`, accountID, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("postgres: destroy keys: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if _, err := k.pool.Exec(ctx, `VACUUM account_keys`); err != nil {
		return n, fmt.Errorf("postgres: destroy keys: vacuum: %w", mapErr(err))
	}
	return n, nil
}

// KeyAccounts returns the accounts that hold keys.
func (k *KeyDB) KeyAccounts(ctx context.Context) ([]int64, error) {
	rows, err := k.pool.Query(ctx, `SELECT DISTINCT account_id FROM account_keys ORDER BY account_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: key accounts: %w", mapErr(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("postgres: key accounts: %w", mapErr(err))
	}
	return ids, nil
}
