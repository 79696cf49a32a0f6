// Package datapath wires Stele's data path on one store: the keyring that
// unwraps the accounts' keys (kept in the key store) with the master key, the single group-commit
// writer, and the ingest and search services over them. The server, the
// CLI and the tests build it the same way.
package datapath

import (
	"context"
	"log/slog"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
)

// Path is the data path on one store.
type Path struct {
	Keyring *seal.Keyring
	Writer  *ingest.Writer
	Ingest  *ingest.Service
	Search  *search.Service
	cancel  context.CancelFunc
}

// Start wires the data path on db, with the accounts' keys in keys,
// and starts its writer, which runs until Stop.
func Start(db stele.Store, keys stele.KeyStore, master *seal.MasterKey, logger *slog.Logger, cfg ingest.WriterConfig) *Path {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Path{Keyring: seal.NewKeyring(master, keys), cancel: cancel}
	c.Writer = ingest.NewWriter(ctx, db, logger, cfg)
	c.Ingest = ingest.NewService(db, c.Keyring, c.Writer, logger)
	c.Search = search.New(db, c.Keyring)
	return c
}

// Stop stops the writer once the commit it has in flight is done (its
// callers learn the outcome; batches still queued fail as unavailable). The
// store stays open: close it after Stop.
func (c *Path) Stop() {
	c.cancel()
	c.Writer.Wait()
}
