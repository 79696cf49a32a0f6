package stores

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

// KeyStore is an open key store.
type KeyStore interface {
	stele.KeyStore
	Ping(ctx context.Context) error
	Close() error
}

// Exists reports whether the place holds a store: a SQLite file with
// something in it, or a PostgreSQL database with Stele's tables. It creates
// nothing.
func Exists(ctx context.Context, p Place) (bool, error) {
	if p.Shared() {
		return postgres.HasStore(ctx, p.DB)
	}
	fi, err := os.Stat(p.SQLitePath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look for the store: %w", err)
	}
	return fi.Size() > 0, nil
}

// noStoreError is the refusal of a command pointed at a place without a
// store: where it looked, and how to point it elsewhere or make one.
func noStoreError(p Place) error {
	if p.Shared() {
		return stele.Errorf(stele.ENOTFOUND, "no Stele store in the PostgreSQL database %s: point to the database of your store with --db URL (or STELE_DATABASE_URL), or make a store there with 'stele init --db \"$STELE_DATABASE_URL\" --origin NAME --print-env'", RedactURL(p.DB))
	}
	path := p.SQLitePath()
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return stele.Errorf(stele.ENOTFOUND, "no Stele store at %s (nothing was created): point to your store's data directory with --data DIR (or STELE_DATA) or to its database with --db URL (or STELE_DATABASE_URL), or make a new store there with: stele init %s", path, p.Args())
}

// Open opens the stores of the place: the event store, the key store apart
// from it, and the leadership that decides which process runs background
// jobs. Keys that an older release kept in the event store are moved to
// the key store first (seal.Keyring.MoveLegacyKeys), so every command and
// every node finds them there.
func Open(ctx context.Context, p Place, master *seal.MasterKey, logger *slog.Logger) (stele.Store, KeyStore, stele.Leadership, error) {
	db, eventsAt, lead, err := openEvents(ctx, p, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	keys, err := openKeys(ctx, p, eventsAt)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	n, err := seal.NewKeyring(master, keys).MoveLegacyKeys(ctx, db)
	if err != nil {
		keys.Close()
		db.Close()
		return nil, nil, nil, fmt.Errorf("open store: %w", err)
	}
	if n > 0 {
		logger.Info("account keys moved out of the event store into the key store", "keys", n)
	}
	return db, keys, lead, nil
}

// openEvents opens the event store; eventsAt is its file or URL.
func openEvents(ctx context.Context, p Place, logger *slog.Logger) (db stele.Store, eventsAt string, lead stele.Leadership, err error) {
	switch {
	case IsPostgresURL(p.DB):
		// Prepare has found the keys every node shares.
		pg, err := postgres.Open(ctx, p.DB)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open store: %w", err)
		}
		return pg, p.DB, &postgres.Leadership{DB: pg, Logger: logger}, nil
	case p.DB == "", strings.HasPrefix(p.DB, "sqlite:"):
		path := p.SQLitePath()
		lite, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open store: %w", err)
		}
		return lite, path, leader.Local{Logger: logger}, nil
	default:
		return nil, "", nil, p.checkDB()
	}
}

// openKeys opens the key store of the event store at eventsAt (Place.Keys).
func openKeys(ctx context.Context, p Place, eventsAt string) (KeyStore, error) {
	u, made, err := p.Keys(eventsAt)
	if err != nil {
		return nil, err
	}
	if made {
		if err := postgres.EnsureDatabase(ctx, eventsAt, u); err != nil {
			return nil, fmt.Errorf("open key store: %w", err)
		}
	}
	if IsPostgresURL(u) {
		k, err := postgres.OpenKeys(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("open key store: %w", err)
		}
		return k, nil
	}
	k, err := sqlite.OpenKeys(ctx, strings.TrimPrefix(u, "sqlite:"))
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	return k, nil
}
