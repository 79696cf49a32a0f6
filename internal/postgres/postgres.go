// Package postgres keeps Stele's accounts and events in PostgreSQL, so that
// several stateless Stele nodes can share one database, and the accounts'
// keys in another database (KeyDB).
//
// Every node holds a pgx connection pool. Appends run in ordinary
// READ COMMITTED transactions; the head row of each account is locked
// FOR UPDATE for the rest of the transaction, so nodes appending to one
// account take turns and its seqs stay gap-free and unique. Commits are
// durable as long as the server keeps synchronous_commit on (its default).
//
// The events table is partitioned by month of event time (see
// migration/0001_initial.sql and partition.go), so that retention can drop
// or trim old partitions instead of deleting row by row.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stele-audit/stele"
)

// DB is the PostgreSQL store.
type DB struct {
	pool *pgxpool.Pool
	// copyMin is the smallest batch of events InsertEvents sends with COPY;
	// smaller batches take one multi-row INSERT, which costs one round trip
	// less. Benchmarks set it to compare the two.
	copyMin int
}

var (
	_ stele.AccountStore          = (*DB)(nil)
	_ stele.APIKeyStore           = (*DB)(nil)
	_ stele.APIKeyGenerationStore = (*DB)(nil)
	_ stele.EventStore            = (*DB)(nil)
)

// defaultCopyMin is where COPY starts to beat a multi-row INSERT (see
// BenchmarkInsertEvents and docs/PERFORMANCE.md).
const defaultCopyMin = 32

// Open connects to the database at url (a postgres:// URL or a libpq
// key=value string), applies any pending migrations under an advisory lock,
// and makes sure the event partitions around now exist.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, stele.Errorf(stele.EINVALID, "postgres: bad database URL: %v", err)
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "stele"
	}
	// pgx prepares each statement once per connection. Planning a query
	// over a dozen partitions with eight indexes each costs far more than
	// running it (for a page of the newest events, fifty times more), and
	// the shapes of Stele's queries do not depend on the values
	// bound, so plans are made once, generic, and reused.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	// pgxpool's default of max(4, cores) connections is too few for a node
	// that writes and serves queries at once.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{pool: pool, copyMin: defaultCopyMin}
	if err := db.migrate(ctx, migrations); err != nil {
		pool.Close()
		return nil, err
	}
	from, to := partitionWindow()
	if err := db.EnsurePartitions(ctx, from, to); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes every connection of the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", mapErr(err))
	}
	return nil
}

// Size returns the bytes the current database occupies.
func (db *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: size: %w", mapErr(err))
	}
	return n, nil
}

// EventsSize returns the bytes of the events table: every partition with
// its indexes and TOAST data.
func (db *DB) EventsSize(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint
		FROM pg_partition_tree('events') WHERE isleaf`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: events size: %w", mapErr(err))
	}
	return n, nil
}

// Pool returns the connection pool, for the leader election and tests.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// tx runs fn in one transaction and commits it.
func (db *DB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", mapErr(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx)) // the transaction's own error is the one to report
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", mapErr(err))
	}
	return nil
}

// SQLSTATE codes the store tells apart.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeSerialization       = "40001"
	codeDeadlock            = "40P01"
)

func sqlState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func isUnique(err error) bool     { return sqlState(err) == codeUniqueViolation }
func isForeignKey(err error) bool { return sqlState(err) == codeForeignKeyViolation }

// mapErr turns failures a caller should retry (a lost connection, a
// deadlock, a serialisation failure) into EUNAVAILABLE, keeping the
// driver's error in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	switch c := sqlState(err); {
	case c == codeSerialization || c == codeDeadlock:
		return errors.Join(stele.Errorf(stele.EUNAVAILABLE, "the database asked to retry"), err)
	case c == "" && pgconn.SafeToRetry(err):
		return errors.Join(stele.Errorf(stele.EUNAVAILABLE, "the database connection failed; retry"), err)
	}
	return err
}

func notFound(format string, args ...any) error {
	return stele.Errorf(stele.ENOTFOUND, format, args...)
}

// Analyze refreshes the planner's statistics of the events partitions, as
// autovacuum would in time; worth calling after a bulk load.
func (db *DB) Analyze(ctx context.Context) error {
	if _, err := db.pool.Exec(ctx, `ANALYZE events`); err != nil {
		return fmt.Errorf("postgres: analyze: %w", mapErr(err))
	}
	return nil
}
