package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed migration/*.sql
var migrationFiles embed.FS

// migrations is the migration directory applied at Open.
var migrations, _ = fs.Sub(migrationFiles, "migration")

// migrationLock is the key of the transaction-level advisory lock that
// nodes starting together take before they look at schema_migrations.
const migrationLock = int64(0x5374656c654d6967) // "SteleMig"

// migrate applies the .sql files of dir not yet recorded in
// schema_migrations, in name order, in one transaction that first takes
// pg_advisory_xact_lock: nodes starting at once wait for each other and
// apply each migration exactly once. An applied migration whose file has
// changed since is an error. The scheme is sqlite/migrate.go's.
func (db *DB) migrate(ctx context.Context, dir fs.FS) error {
	names, err := fs.Glob(dir, "*.sql")
	if err != nil {
		return fmt.Errorf("postgres: list migrations: %w", err)
	}
	slices.Sort(names)
	return db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("postgres: migrate: lock: %w", mapErr(err))
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    text   PRIMARY KEY,
			checksum   text   NOT NULL,
			applied_at bigint NOT NULL
		)`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", mapErr(err))
		}
		rows, err := tx.Query(ctx, `SELECT version, checksum FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("postgres: migrate: read versions: %w", mapErr(err))
		}
		applied := map[string]string{}
		var v, sum string
		_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil })
		if err != nil {
			return fmt.Errorf("postgres: migrate: read versions: %w", mapErr(err))
		}
		for _, name := range names {
			body, err := fs.ReadFile(dir, name)
			if err != nil {
				return fmt.Errorf("postgres: migrate: %w", err)
			}
			h := sha256.Sum256(body)
			sum := hex.EncodeToString(h[:])
			version := path.Base(name)
			if old, ok := applied[version]; ok {
				if old != sum {
					return fmt.Errorf("postgres: migration %s was changed after it was applied (checksum %s, applied %s)", version, sum, old)
				}
				continue
			}
			// Exec without arguments uses the simple protocol, which runs
			// a file of several statements.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", version, mapErr(err))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, checksum, applied_at) VALUES ($1, $2, $3)`,
				version, sum, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("postgres: record migration %s: %w", version, mapErr(err))
			}
		}
		return nil
	})
}

// migrationNames lists the embedded migrations.
func migrationNames() ([]string, error) { return fs.Glob(migrations, "*.sql") }
