package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/console"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/metrics"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/recovery"
	"github.com/stele-audit/stele/internal/seal"
)

// serveJobs are serve's background jobs, and the metrics they keep.
type serveJobs struct {
	jobs        *leader.Jobs
	metrics     *metrics.Collector
	checkpoints *integrity.Checkpointer
	logger      *slog.Logger
}

// startJobs starts serve's background jobs: on one node at a time the
// checkpoint signing, the retention purge and (on PostgreSQL) partition
// upkeep; on every node its metrics, its record of ingest throttling and
// the expiry of console sessions. stop ends them.
func startJobs(ctx context.Context, a *app, c serveConfig, quotas *ingest.Quotas, con *console.Server, reads *audit.Reads) *serveJobs {
	// `stele crypto rotate --master` in another process adds a master key
	// version to the key file; keys rewrapped under it unwrap here too.
	a.keyring.ReloadMaster = func() (*seal.MasterKey, error) { return seal.ReadMasterKey(c.store.data, os.Getenv) }
	col := metrics.New(metrics.Config{Recorder: a.ingest, StoreSize: a.db.Size, Ingested: a.writer.Committed, Commits: a.writer.Commits,
		Throttled: func() []metrics.Throttled {
			var out []metrics.Throttled
			for _, r := range quotas.Refusals() {
				out = append(out, metrics.Throttled(r))
			}
			return out
		}, Logger: a.logger, Streams: a.streams.forwarder.Figures,
		Reads:      func() metrics.ReadFigures { return metrics.ReadFigures(reads.Figures()) },
		Collectors: a.writer.Collectors()})
	retention := a.retentionJob(c.types)
	jobs := leader.Start(ctx, a.leader, a.logger)
	jobs.Lead("checkpoints", leader.Until(func(ctx context.Context) { a.checkpoints.Loop(ctx, c.checkpointEvery) }))
	jobs.Lead("retention", leader.Until(func(ctx context.Context) { retention.Loop(ctx, c.retentionEvery) }))
	jobs.Lead("streams", a.streams.forwarder.Run)
	if pg, ok := a.db.(*postgres.DB); ok {
		jobs.Lead("partitions", leader.Every(24*time.Hour, a.logger, "partitions", pg.MaintainPartitions))
	}
	jobs.Go("metrics", leader.Until(func(ctx context.Context) { col.Loop(ctx, time.Minute) }))
	// One ingest.throttled event per throttled account and minute, of the
	// refusals this node made.
	jobs.Go("ingest throttling", leader.Until(func(ctx context.Context) {
		quotas.Loop(ctx, a.audit, time.Minute, func(err error) { a.logger.Warn("record ingest throttling", "err", err) })
	}))
	jobs.Go("sessions", leader.Until(func(ctx context.Context) { con.ExpireSessions(ctx, 10*time.Minute) }))
	return &serveJobs{jobs: jobs, metrics: col, checkpoints: a.checkpoints, logger: a.logger}
}

// stop ends the jobs, waits for them, and signs the last checkpoints, so
// that what was acknowledged is covered by one.
func (j *serveJobs) stop() {
	j.jobs.Stop()
	j.checkpoints.SignAtShutdown(context.Background())
}

// handler serves GET /metrics beside h, behind metricsToken when it is
// set, and measures every request. The API and the console recover from
// panics themselves; this recover is for whatever else is served, so that
// no request can end the process.
func (j *serveJobs) handler(h http.Handler, metricsToken string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", j.metrics.Handler(metricsToken))
	mux.Handle("/", h)
	return j.metrics.Middleware(recovery.Handler(j.logger, mux, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
}
