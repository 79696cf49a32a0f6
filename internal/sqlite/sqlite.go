// Package sqlite keeps Stele's accounts and events in one SQLite file, and
// the accounts' keys in another (KeyDB).
//
// A DB holds two connection pools on the file: a single writer connection,
// on which every write runs in a BEGIN IMMEDIATE transaction, and a pool of
// read-only connections. The file is in WAL mode, so readers never wait for
// the writer, and other processes (the admin CLI while the server runs) may
// open it at once: the busy timeout makes their writes take turns.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stele-audit/stele"
)

// Pool sizes.
const (
	maxReaders = 8
)

// DB is the SQLite store.
type DB struct {
	path   string
	writer *sql.DB // one connection; every transaction BEGIN IMMEDIATE
	reader *pool   // query_only connections, with prepared statements
	stmts  *appendStmts
	ckpt   *checkpointer
}

var (
	_ stele.AccountStore          = (*DB)(nil)
	_ stele.APIKeyStore           = (*DB)(nil)
	_ stele.APIKeyGenerationStore = (*DB)(nil)
	_ stele.EventStore            = (*DB)(nil)
)

// Open opens the database at path, creating the file and its directory when
// needed, and applies any pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	// The database holds only sealed payloads and tokens, but its file is
	// still nobody else's business: create it private before SQLite does.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create file: %w", err)
	}
	f.Close()
	if err := registerWALBuf(); err != nil {
		return nil, err
	}
	db := &DB{path: path}
	db.writer, err = sql.Open(writerDriver, dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)
	if err := migrate(ctx, db.writer, migrations); err != nil {
		db.writer.Close()
		return nil, err
	}
	rdb, err := sql.Open(readerDriver, dsn(path, true))
	if err != nil {
		db.writer.Close()
		return nil, fmt.Errorf("sqlite: open reader: %w", err)
	}
	db.reader = newPool(rdb)
	db.reader.SetMaxOpenConns(maxReaders)
	db.reader.SetMaxIdleConns(maxReaders)
	if db.stmts, err = prepareAppend(ctx, db.writer); err != nil {
		db.Close()
		return nil, err
	}
	if db.ckpt, err = startCheckpointer(path, db.writer, slog.Default()); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// DriverName is the database/sql driver of plain connections to a Stele
// file, for tools and tests that open one directly.
const DriverName = "sqlite3"

// The drivers of the store's own connections: the settings the DSN cannot
// carry run as pragmas when each connection opens.
const (
	writerDriver = "stele-sqlite-writer"
	readerDriver = "stele-sqlite-reader"
)

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: connectHook(pragmas(
		// Sorts and temporary tables stay in memory.
		"PRAGMA temp_store = MEMORY",
		// The checkpointer copies the WAL into the main file beside the
		// writer (walcheckpoint.go), not inside its commits. A WAL that it
		// has wholly copied is written again from its start and not cut
		// back (the limit is above the size at which the checkpointer
		// restarts it): commits overwrite blocks the file already has,
		// and their fdatasync (walbuf.c) has no new size to record.
		"PRAGMA wal_autocheckpoint = 0",
		fmt.Sprintf("PRAGMA journal_size_limit = %d", walSizeLimit),
	), requireFullSync)})
	sql.Register(readerDriver, &sqlite3.SQLiteDriver{ConnectHook: connectHook(pragmas(
		"PRAGMA temp_store = MEMORY",
		// Readers map the file rather than copy each page in with a
		// pread; the mapping is shared by every reader and costs no heap.
		"PRAGMA mmap_size = 268435456",
	))})
}

// connectHook runs the hooks in order when a connection opens.
func connectHook(hooks ...func(*sqlite3.SQLiteConn) error) func(*sqlite3.SQLiteConn) error {
	return func(c *sqlite3.SQLiteConn) error {
		for _, h := range hooks {
			if err := h(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// requireFullSync refuses a writer connection whose commits do not each
// sync the WAL. An acknowledgement promises a durable event; and on
// walbuf.c a commit's frames are written out at its sync, so without one
// other connections would be told of frames not yet in the file.
func requireFullSync(c *sqlite3.SQLiteConn) error {
	rows, err := c.Query("PRAGMA synchronous", nil)
	if err != nil {
		return fmt.Errorf("sqlite: read synchronous: %w", err)
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil {
		return fmt.Errorf("sqlite: read synchronous: %w", err)
	}
	// 2 is FULL, 3 EXTRA.
	if level, ok := v[0].(int64); !ok || level < 2 {
		return fmt.Errorf("sqlite: the writer needs synchronous=FULL so that every commit is synced before it is acknowledged, and synchronous is %v", v[0])
	}
	return nil
}

func pragmas(stmts ...string) func(*sqlite3.SQLiteConn) error {
	return func(c *sqlite3.SQLiteConn) error {
		for _, s := range stmts {
			if _, err := c.Exec(s, nil); err != nil {
				return fmt.Errorf("sqlite: %s: %w", s, err)
			}
		}
		return nil
	}
}

// dsn returns the data source name of a writer or reader connection.
func dsn(path string, reader bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "1")
	if reader {
		q.Set("_cache_size", "-8192") // 8 MiB per reader
		q.Set("_query_only", "1")
		q.Set("_txlock", "deferred")
	} else {
		// A page cache keeps the index pages that group commits dirty
		// from being re-read, but SQLite walks the whole cache at the end
		// of most commits (a B-tree split renumbers pages through a key
		// beyond the file, and the commit's truncate then scans every
		// hash bucket): 32 MiB is the measured middle, between single
		// events, faster with less, and batched ingest into a large store,
		// no slower (docs/PERFORMANCE.md).
		q.Set("_cache_size", "-32768") // 32 MiB
		q.Set("_txlock", "immediate")
		// Its commits write the WAL through walbuf.c where it is built,
		// which needs synchronous=FULL (above, and requireFullSync): the
		// sync is what flushes its buffer.
		if walBufVFS != "" {
			q.Set("vfs", walBufVFS)
		}
	}
	u := url.URL{Scheme: "file", Opaque: path, RawQuery: q.Encode()}
	return u.String()
}

// Path is the file the store was opened at.
func (db *DB) Path() string { return db.path }

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.stmts != nil {
		errs = append(errs, db.stmts.close())
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping checks that the file can be read and written.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping reader: %w", mapErr(err))
	}
	if err := db.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", mapErr(err))
	}
	return nil
}

// Size returns the bytes the database occupies: page_count × page_size.
func (db *DB) Size(ctx context.Context) (int64, error) {
	var pages, size int64
	if err := db.reader.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, fmt.Errorf("sqlite: page count: %w", mapErr(err))
	}
	if err := db.reader.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return 0, fmt.Errorf("sqlite: page size: %w", mapErr(err))
	}
	return pages * size, nil
}

// write runs fn in one BEGIN IMMEDIATE transaction on the writer connection.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", mapErr(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the transaction's own error is the one to report
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", mapErr(err))
	}
	return nil
}

// sqliteCode returns the extended result code of err, or 0.
func sqliteCode(err error) int {
	var e sqlite3.Error
	if errors.As(err, &e) {
		return int(e.ExtendedCode)
	}
	return 0
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == int(sqlite3.ErrConstraintUnique) || c == int(sqlite3.ErrConstraintPrimaryKey)
}

func isForeignKey(err error) bool {
	return sqliteCode(err) == int(sqlite3.ErrConstraintForeignKey)
}

// mapErr turns a database still busy after the busy timeout into EUNAVAILABLE,
// keeping the driver's error in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if c := sqliteCode(err); c&0xff == int(sqlite3.ErrBusy) {
		return errors.Join(stele.Errorf(stele.EUNAVAILABLE, "the database is busy; retry"), err)
	}
	return err
}

func notFound(format string, args ...any) error {
	return stele.Errorf(stele.ENOTFOUND, format, args...)
}
