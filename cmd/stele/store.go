package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/stores"
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
// the key store that goes with the event store (stores.Place.Keys).
func (s *storeFlags) keysURL() string {
	if s.keysDB != "" {
		return s.keysDB
	}
	return os.Getenv("STELE_KEYS_DATABASE_URL")
}

// place is the store the flags name, their environment fallbacks applied.
func (s *storeFlags) place() stores.Place {
	return stores.Place{Data: s.data, DB: s.databaseURL(), KeysDB: s.keysURL()}
}

// shared reports whether the store is one that several nodes may share.
func (s *storeFlags) shared() bool { return s.place().Shared() }

// The modes a command opens its store in (stores.Mode).
const (
	existingStore  = stores.Existing
	storeIfMissing = stores.IfMissing
	newStore       = stores.New
)

// prepareStore decides whether a command may go on at the place the flags
// name, and finds its keys (stores.Prepare).
func prepareStore(ctx context.Context, sf storeFlags, mode stores.Mode, given *stores.Keys, logger *slog.Logger) (stores.Keys, error) {
	return stores.Prepare(ctx, sf.place(), mode, given, originPrefixOr(ledger.DefaultOriginPrefix), logger)
}

// openStore opens the event store, the key store and the leadership the
// flags name (stores.Open).
func openStore(ctx context.Context, sf storeFlags, master *seal.MasterKey, logger *slog.Logger) (stele.Store, stores.KeyStore, stele.Leadership, error) {
	return stores.Open(ctx, sf.place(), master, logger)
}

// pingStores reports whether both stores answer: the events' and the keys'.
func (a *app) pingStores(ctx context.Context) error {
	if err := a.db.Ping(ctx); err != nil {
		return err
	}
	return a.keys.Ping(ctx)
}

// storeShell says what the shell of printed commands needs besides them:
// on PostgreSQL the database URL and the nodes' keys, which are not shown.
func storeShell(sf storeFlags) string {
	if sf.shared() {
		return " (in a shell with STELE_DATABASE_URL set to the database URL, and the same STELE_MASTER_KEY and STELE_SIGNING_KEY as the nodes, or their _FILE forms)"
	}
	if os.Getenv("STELE_MASTER_KEY") != "" || os.Getenv("STELE_MASTER_KEY_FILE") != "" {
		return " (with the same STELE_MASTER_KEY and STELE_SIGNING_KEY as this server, or their _FILE forms)"
	}
	return ""
}
