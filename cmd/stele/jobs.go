package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/recovery"

	"github.com/stele-audit/stele/internal/metrics"
	"github.com/stele-audit/stele/internal/seal"
)

// serveJobs are serve's background jobs for retention and metrics.
type serveJobs struct {
	metrics *metrics.Collector
	logger  *slog.Logger
	stop    func()
}

// startJobs starts the retention purge (every retentionEvery) and the
// per-minute metrics recording; stop ends them and waits.
func startJobs(ctx context.Context, a *app, sf storeFlags, types []stele.AccountType, quotas *ingest.Quotas, retentionEvery time.Duration) *serveJobs {
	job := a.retentionJob(types)
	// `stele crypto rotate --master` in another process adds a master key
	// version to the key file; keys rewrapped under it unwrap here too.
	a.keyring.ReloadMaster = func() (*seal.MasterKey, error) { return seal.LoadMasterKey(sf.data, os.Getenv, a.logger) }
	col := metrics.New(metrics.Config{Recorder: a.ingest, StoreSize: a.db.Size, Ingested: a.writer.Committed, Commits: a.writer.Commits,
		Throttled: func() []metrics.Throttled {
			var out []metrics.Throttled
			for _, r := range quotas.Refusals() {
				out = append(out, metrics.Throttled(r))
			}
			return out
		}, Logger: a.logger, Streams: a.streams.forwarder.Figures})
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	// Jobs on the shared data run on one node at a time; metrics are each
	// node's own.
	wg.Go(func() {
		a.leader.Lead(jctx, "retention", func(ctx context.Context) error {
			job.Loop(ctx, retentionEvery)
			return nil
		})
	})
	if pg, ok := a.db.(*postgres.DB); ok {
		wg.Go(func() {
			a.leader.Lead(jctx, "partitions", leader.Every(24*time.Hour, a.logger, "partitions", pg.MaintainPartitions))
		})
	}
	wg.Go(func() { a.leader.Lead(jctx, "streams", a.streams.forwarder.Run) })
	wg.Go(func() { col.Loop(jctx, time.Minute) })
	// Each node records the refusals it made: one ingest.throttled event
	// per throttled account and minute.
	wg.Go(func() {
		quotas.Loop(jctx, a.ingest, time.Minute, func(err error) { a.logger.Warn("record ingest throttling", "err", err) })
	})
	return &serveJobs{metrics: col, logger: a.logger, stop: func() { cancel(); wg.Wait() }}
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
