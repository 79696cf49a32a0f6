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
// walCheckInterval, and if sustained writes keep the WAL from ever being wholly
// copied, as they do, it runs a RESTART checkpoint once the WAL passes
// walRestartFrames, which waits for the writer's current transaction and lets
// the next one start the WAL from its beginning. Durability is unchanged:
// commits still fsync the WAL (synchronous=FULL), and a checkpoint fsyncs the
// WAL before it copies and the main file after.
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
	logger    *slog.Logger
	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	// restarts counts RESTART checkpoints that completed.
	restarts atomic.Int64
}

func startCheckpointer(path string, logger *slog.Logger) (*checkpointer, error) {
	cdb, err := sql.Open(writerDriver, dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	cdb.SetMaxOpenConns(1)
	cdb.SetMaxIdleConns(1)
	cdb.SetConnMaxLifetime(0)
	cdb.SetConnMaxIdleTime(0)
	// A RESTART checkpoint holds new writes back while it waits for
	// readers to leave the WAL: wait briefly and try again on a later tick,
	// rather than stall ingest behind a long export.
	if _, err := cdb.Exec("PRAGMA busy_timeout = 250"); err != nil {
		cdb.Close()
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", mapErr(err))
	}
	c := &checkpointer{db: cdb, logger: logger, stop: make(chan struct{})}
	c.done.Go(c.run)
	return c, nil
}

func (c *checkpointer) run() {
	t := time.NewTicker(walCheckInterval)
	defer t.Stop()
	frames := 0 // in the WAL at the last pass
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		mode := "PASSIVE"
		if frames >= walRestartFrames {
			mode = "RESTART"
		}
		busy, n, err := c.checkpoint(mode)
		if err != nil {
			c.logger.Warn("WAL checkpoint", "mode", mode, "err", err)
			continue
		}
		if mode == "RESTART" && !busy {
			c.restarts.Add(1)
			n = 0 // the next write starts the WAL afresh
		}
		frames = n
	}
}

// checkpoint runs one checkpoint and returns whether it was cut short by
// the writer or readers, and the number of frames in the WAL.
func (c *checkpointer) checkpoint(mode string) (busy bool, frames int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b, copied int
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&b, &frames, &copied)
	if err != nil {
		return false, 0, mapErr(err)
	}
	return b != 0, frames, nil
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
