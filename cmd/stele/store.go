package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/postgres"
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

// shared reports whether the store is one that several nodes may share.
func (s *storeFlags) shared() bool { return isPostgresURL(s.databaseURL()) }

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// openStore opens the store the flags name, and the leadership that decides
// which process runs background jobs on it.
func openStore(ctx context.Context, sf storeFlags, logger *slog.Logger) (stele.Store, stele.Leadership, error) {
	u := sf.databaseURL()
	switch {
	case isPostgresURL(u):
		// Nodes sharing a database must share the keys: a key generated
		// into one node's data directory would be unknown to the others.
		if os.Getenv("STELE_MASTER_KEY") == "" && os.Getenv("STELE_MASTER_KEY_FILE") == "" {
			return nil, nil, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the master key shared by every node: set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE")
		}
		if os.Getenv("STELE_SIGNING_KEY") == "" {
			return nil, nil, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the checkpoint signing key shared by every node: set STELE_SIGNING_KEY")
		}
		db, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, nil, fmt.Errorf("open store: %w", err)
		}
		return db, &postgres.Leadership{DB: db, Logger: logger}, nil
	case u == "", strings.HasPrefix(u, "sqlite:"):
		path := strings.TrimPrefix(u, "sqlite:")
		if path == "" {
			path = filepath.Join(sf.data, "stele.db")
		}
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, nil, fmt.Errorf("open store: %w", err)
		}
		return db, leader.Local{Logger: logger}, nil
	default:
		return nil, nil, stele.Errorf(stele.EINVALID, "--db must be sqlite:PATH or a postgres:// URL")
	}
}
