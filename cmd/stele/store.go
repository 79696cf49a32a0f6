package main

import (
	"context"
	"errors"
	"fmt"
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

// databaseURL is --db, or else STELE_DATABASE_URL (the name PaaS hosts
// give a database), or else empty: the SQLite file in the data directory.
func (s *storeFlags) databaseURL() string {
	if s.db != "" {
		return s.db
	}
	return os.Getenv("STELE_DATABASE_URL")
}

// keysURL is --keys-db, or else STELE_KEYS_DATABASE_URL, or else empty:
// the key store that goes with the event store (keyStoreFor).
func (s *storeFlags) keysURL() string {
	if s.keysDB != "" {
		return s.keysDB
	}
	return os.Getenv("STELE_KEYS_DATABASE_URL")
}

// shared reports whether the store is one that several nodes may share.
func (s *storeFlags) shared() bool { return isPostgresURL(s.databaseURL()) }

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// keyStore is an open key store.
type keyStore interface {
	stele.KeyStore
	Ping(ctx context.Context) error
	Close() error
}

// openStore opens the stores the flags name: the event store, the key
// store apart from it, and the leadership that decides which process runs
// background jobs. Keys that an older release kept in the event store are
// moved to the key store first (seal.Keyring.MoveLegacyKeys), so every
// command and every node finds them there.
func openStore(ctx context.Context, sf storeFlags, master *seal.MasterKey, logger *slog.Logger) (stele.Store, keyStore, stele.Leadership, error) {
	db, eventsAt, lead, err := openEvents(ctx, sf, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	keys, err := openKeys(ctx, sf, eventsAt)
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
func openEvents(ctx context.Context, sf storeFlags, logger *slog.Logger) (db stele.Store, eventsAt string, lead stele.Leadership, err error) {
	u := sf.databaseURL()
	switch {
	case isPostgresURL(u):
		// Nodes sharing a database must share the keys: a key generated
		// into one node's data directory would be unknown to the others.
		if os.Getenv("STELE_MASTER_KEY") == "" && os.Getenv("STELE_MASTER_KEY_FILE") == "" {
			return nil, "", nil, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the master key shared by every node: set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE")
		}
		if os.Getenv("STELE_SIGNING_KEY") == "" {
			return nil, "", nil, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the checkpoint signing key shared by every node: set STELE_SIGNING_KEY")
		}
		pg, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open store: %w", err)
		}
		return pg, u, &postgres.Leadership{DB: pg, Logger: logger}, nil
	case u == "", strings.HasPrefix(u, "sqlite:"):
		path := strings.TrimPrefix(u, "sqlite:")
		if path == "" {
			path = filepath.Join(sf.data, "stele.db")
		}
		lite, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open store: %w", err)
		}
		return lite, path, leader.Local{Logger: logger}, nil
	default:
		return nil, "", nil, stele.Errorf(stele.EINVALID, "--db must be sqlite:PATH or a postgres:// URL")
	}
}

// openKeys opens the key store: the one --keys-db names, or else the one
// that goes with the event store at eventsAt: keys.db beside a SQLite
// file, or the database of the same name with _keys on the same
// PostgreSQL server, created if it does not exist yet. It is never the
// event store itself: a backup of the events must not hold their keys.
func openKeys(ctx context.Context, sf storeFlags, eventsAt string) (keyStore, error) {
	u := sf.keysURL()
	shared := isPostgresURL(eventsAt)
	if u == "" {
		if shared {
			ku, err := postgres.KeysDatabaseURL(eventsAt)
			if err != nil {
				return nil, err
			}
			if err := postgres.EnsureDatabase(ctx, eventsAt, ku); err != nil {
				return nil, fmt.Errorf("open key store: %w", err)
			}
			u = ku
		} else {
			u = "sqlite:" + keysPathFor(eventsAt)
		}
	}
	switch {
	case isPostgresURL(u):
		if u == eventsAt {
			return nil, keysFlagError("--keys-db names the event database itself: the keys must live apart from the events")
		}
		k, err := postgres.OpenKeys(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("open key store: %w", err)
		}
		return k, nil
	case strings.HasPrefix(u, "sqlite:") && u != "sqlite:":
		if shared {
			return nil, keysFlagError("nodes sharing a PostgreSQL database must share the key store too: --keys-db must be a postgres:// URL")
		}
		path := strings.TrimPrefix(u, "sqlite:")
		if same, _ := sameFile(path, eventsAt); same {
			return nil, keysFlagError("--keys-db names the event database itself: the keys must live apart from the events")
		}
		k, err := sqlite.OpenKeys(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open key store: %w", err)
		}
		return k, nil
	default:
		return nil, keysFlagError("--keys-db must be sqlite:PATH or a postgres:// URL")
	}
}

func keysFlagError(msg string) error {
	return &stele.Error{Code: stele.EINVALID, Message: msg, Details: []stele.FieldError{{Field: "keys-db", Rule: "apart"}}}
}

// keysPathFor is the key store beside the SQLite event file at path:
// keys.db for the default stele.db, else NAME.keys.db for NAME.db.
func keysPathFor(path string) string {
	dir, base := filepath.Split(path)
	if base == "stele.db" {
		return filepath.Join(dir, "keys.db")
	}
	return filepath.Join(dir, strings.TrimSuffix(base, ".db")+".keys.db")
}

// sameFile reports whether a and b name one file (both existing) or one
// path.
func sameFile(a, b string) (bool, error) {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true, nil
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if err := errors.Join(errA, errB); err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// pingStores reports whether both stores answer: the events' and the keys'.
func (a *app) pingStores(ctx context.Context) error {
	if err := a.db.Ping(ctx); err != nil {
		return err
	}
	return a.keys.Ping(ctx)
}
