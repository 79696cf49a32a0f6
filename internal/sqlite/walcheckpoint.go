package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WAL checkpointing runs beside the writer rather than inside its commits.
//
// SQLite's automatic checkpoint runs in the connection that commits, so the
// writer would stop every few commits to copy the WAL's pages into the main
// file and fsync it: under batched ingest that was a tenth of the writer's
// time, on a single core while the other had room. The writer's connection
// has wal_autocheckpoint off; a checkpointer with its own connection copies
// pages in PASSIVE mode (never blocking the writer or readers) every
// walCheckInterval.
//
// Sustained writes keep such a pass from ever copying the whole WAL, and
// only a wholly copied WAL starts again from its beginning. Once the WAL
// passes walRestartFrames the checkpointer makes a second pass, which copies
// what was written during the first, and then a last one on the writer's
// own connection, between two of its transactions: nothing is written
// meanwhile, so it copies the few frames left, and the next transaction
// starts the WAL afresh. The writer waits only for that last short pass.
// (A RESTART checkpoint did this by taking SQLite's write lock while it
// copied; the writer, polling for the lock with growing sleeps, stalled for
// tens of milliseconds each time, for every account.) Durability is
// unchanged: commits still fsync the WAL (synchronous=FULL), and a
// checkpoint fsyncs the WAL before it copies and the main file after.
const (
	walCheckInterval = 100 * time.Millisecond
)

// walRestartFrames is a variable so that a test can reach it quickly.
var (
	walRestartFrames = 60_000 // ≈ 240 MiB of 4 KiB pages
)

// walSizeLimit is the journal_size_limit of the writer: above a WAL of
// walRestartFrames frames, so that a WAL the checkpointer restarts keeps
// its length and is overwritten in place.
const walSizeLimit = 256 << 20

type checkpointer struct {
	db        *sql.DB
	writer    *sql.DB // the writer's pool, for the last pass before a restart
	logger    *slog.Logger
	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	// restarts counts the passes that left the WAL wholly copied, for the
	// next transaction to start it afresh.
	restarts atomic.Int64
}

func startCheckpointer(path string, writer *sql.DB, logger *slog.Logger) (*checkpointer, error) {
	cdb, err := sql.Open(writerDriver, dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	cdb.SetMaxOpenConns(1)
	cdb.SetMaxIdleConns(1)
	cdb.SetConnMaxLifetime(0)
	cdb.SetConnMaxIdleTime(0)
	c := &checkpointer{db: cdb, writer: writer, logger: logger, stop: make(chan struct{})}
	c.done.Go(c.run)
	return c, nil
}

func (c *checkpointer) run() {
	t := time.NewTicker(walCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if err := c.pass(); err != nil {
			c.logger.Warn("WAL checkpoint", "err", err)
		}
	}
}

// pass copies the WAL into the main file and, once the WAL is over
// walRestartFrames, has the writer's next transaction start it afresh.
func (c *checkpointer) pass() error {
	_, frames, err := c.checkpoint(c.db)
	if err != nil || frames < walRestartFrames {
		return err
	}
	if _, _, err := c.checkpoint(c.db); err != nil {
		return err
	}
	// Readers of old snapshots may keep some frames from being copied;
	// then the WAL goes on, and a later pass tries again.
	whole, _, err := c.checkpoint(c.writer)
	if whole {
		c.restarts.Add(1)
	}
	return err
}

// checkpoint runs one PASSIVE checkpoint on db and returns whether it
// copied the whole WAL, and the WAL's length in frames.
func (c *checkpointer) checkpoint(db *sql.DB) (whole bool, frames int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, copied int
	err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err != nil {
		return false, 0, mapErr(err)
	}
	return busy == 0 && copied == frames, frames, nil
}

// close stops the checkpointer; closing it again does nothing.
func (c *checkpointer) close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.done.Wait()
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}
