package postgres

import (
	"context"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/recovery"
)

// leaderLockClass is the first key of a job's advisory lock; the second is
// a hash of the job's name.
const leaderLockClass = int32(0x53744c64) // "StLd"

// Leadership elects, for each job, one leader among the nodes sharing the
// database: the node holding the session-level advisory lock of the job on
// a connection of its own. The lease is that connection: the lock drops
// when the connection ends, whether the node exits, dies or loses the
// network (the server's TCP keepalives end it within ~11 s), and the
// others, trying every leader.Retry, take over. The leader pings its
// connection every second and stops the job as soon as a ping fails, so it
// lets go of the job before the server can hand it on.
type Leadership struct {
	DB     *DB
	Logger *slog.Logger
	// Retry and Ping default to leader.Retry and one second.
	Retry, Ping time.Duration
}

var _ stele.Leadership = (*Leadership)(nil)

// Lead runs fn while this node holds job's lock; see stele.Leadership.
func (l *Leadership) Lead(ctx context.Context, job string, fn func(ctx context.Context) error) {
	retry, ping := l.Retry, l.Ping
	if retry <= 0 {
		retry = leader.Retry
	}
	if ping <= 0 {
		ping = time.Second
	}
	h := fnv.New32a()
	h.Write([]byte(job))
	key := int32(h.Sum32())
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for ctx.Err() == nil {
		if conn == nil || conn.IsClosed() {
			c, err := l.connect(ctx, job)
			if err != nil {
				l.log(slog.LevelWarn, "leader election: connect", "job", job, "err", err)
				leader.Sleep(ctx, retry)
				continue
			}
			conn = c
		}
		var held bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, leaderLockClass, key).Scan(&held); err != nil {
			l.log(slog.LevelWarn, "leader election: try lock", "job", job, "err", err)
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
			leader.Sleep(ctx, retry)
			continue
		}
		if !held {
			leader.Sleep(ctx, retry)
			continue
		}
		l.log(slog.LevelInfo, "leading job", "job", job)
		err := l.lead(ctx, conn, ping, fn)
		// Whatever ended the lead, end the session too: that releases the
		// lock for certain, even if this node can no longer talk to the server.
		conn.Close(context.WithoutCancel(ctx))
		conn = nil
		if ctx.Err() != nil {
			return
		}
		if l.Logger != nil {
			recovery.Log(l.Logger, slog.LevelWarn, "stopped leading job", err, "job", job)
		}
		leader.Sleep(ctx, retry)
	}
}

// lead runs fn until it returns, ctx is done or a ping of conn fails.
func (l *Leadership) lead(ctx context.Context, conn *pgx.Conn, ping time.Duration, fn func(ctx context.Context) error) error {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for leader.Sleep(jctx, ping) {
			pctx, done := context.WithTimeout(jctx, ping)
			err := conn.Ping(pctx)
			done()
			if err != nil && jctx.Err() == nil {
				cancel(err)
				return
			}
		}
	}()
	// A panic in the job ends its lead as an error would: the lock is
	// released and the job led again, instead of ending the process.
	err := recovery.Call(func() error { return fn(jctx) })
	cancel(nil)
	<-watched
	if cause := context.Cause(jctx); err == nil && cause != nil && cause != context.Canceled {
		err = cause
	}
	return err
}

// connect opens the job's own connection, outside the pool, with TCP
// keepalives short enough that the server notices a vanished node.
func (l *Leadership) connect(ctx context.Context, job string) (*pgx.Conn, error) {
	cfg := l.DB.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "stele-leader:" + job
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	return pgx.ConnectConfig(ctx, cfg)
}

func (l *Leadership) log(level slog.Level, msg string, args ...any) {
	if l.Logger != nil {
		l.Logger.Log(context.Background(), level, msg, args...)
	}
}
