package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"
)

//go:embed migration/*.sql
var migrationFiles embed.FS

// migrations is the migration directory applied at Open.
var migrations, _ = fs.Sub(migrationFiles, "migration")

// migrate applies the .sql files of dir not yet recorded in
// schema_migrations, in name order, in one BEGIN IMMEDIATE transaction, so
// that processes opening the file at once apply each migration exactly once.
// An applied migration whose file has changed since is an error.
func migrate(ctx context.Context, db *sql.DB, dir fs.FS) error {
	names, err := fs.Glob(dir, "*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	slices.Sort(names)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: begin: %w", mapErr(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT PRIMARY KEY,
		checksum   TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", mapErr(err))
	}
	applied := map[string]string{}
	rows, err := tx.QueryContext(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: read versions: %w", mapErr(err))
	}
	for rows.Next() {
		var v, sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migrate: read versions: %w", err)
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: migrate: read versions: %w", err)
	}
	rows.Close()
	for _, name := range names {
		body, err := fs.ReadFile(dir, name)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		h := sha256.Sum256(body)
		sum := hex.EncodeToString(h[:])
		version := path.Base(name)
		if old, ok := applied[version]; ok {
			if old != sum {
				return fmt.Errorf("sqlite: migration %s was changed after it was applied (checksum %s, applied %s)", version, sum, old)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", version, mapErr(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (?, ?, ?)`,
			version, sum, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: record migration %s: %w", version, mapErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", mapErr(err))
	}
	return nil
}
