package retention_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// BenchmarkIngestDuringPurge measures batched ingest alone, then while a
// retention run purges N expired events (STELE_BENCH_PURGE_N, default
// 200,000), in the same run on the same store, and reports both rates and
// their ratio. Run it once: go test -run '^$' -bench IngestDuringPurge -benchtime 1x ./internal/retention
func BenchmarkIngestDuringPurge(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("STELE_BENCH_PURGE_N")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		benchIngestDuringPurge(b, n)
	}
}

func benchIngestDuringPurge(b *testing.B, n int) {
	e := newBenchEnv(b)
	e.job.Batch, e.job.Pause = 0, 0 // the defaults: 5,000 rows, then as long a pause
	if v, err := strconv.Atoi(os.Getenv("STELE_BENCH_PURGE_BATCH")); err == nil {
		e.job.Batch = v
	}
	if v, err := time.ParseDuration(os.Getenv("STELE_BENCH_PURGE_PAUSE")); err == nil {
		e.job.Pause = v
	}
	ctx := context.Background()
	const batch = 500
	const writers = 4
	old := t0.Add(-days(60))
	// Fill the store with n expired events.
	for i := 0; i < n; i += batch {
		evs := make([]stele.Event, min(batch, n-i))
		for j := range evs {
			evs[j] = benchEvent(old.Add(time.Duration(i+j)*time.Millisecond), i+j)
		}
		if _, err := e.svc.Record(ctx, evs...); err != nil {
			b.Fatal(err)
		}
	}
	ingest := func(stop <-chan struct{}, count *atomic.Int64) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					evs := make([]stele.Event, batch)
					for j := range evs {
						evs[j] = benchEvent(t0.Add(-time.Duration(k)*time.Millisecond), w*1_000_000+k*batch+j)
					}
					if _, err := e.svc.Record(ctx, evs...); err != nil {
						b.Error(err)
						return
					}
					count.Add(batch)
				}
			})
		}
		wg.Wait()
	}
	// Undisturbed: ingest for a fixed time.
	const alone = 5 * time.Second
	var c0 atomic.Int64
	stop := make(chan struct{})
	start := time.Now()
	go func() { time.Sleep(alone); close(stop) }()
	ingest(stop, &c0)
	rate0 := float64(c0.Load()) / time.Since(start).Seconds()

	// While purging: ingest until the purge is done.
	var c1 atomic.Int64
	stop = make(chan struct{})
	done := make(chan struct{})
	go func() { ingest(stop, &c1); close(done) }()
	start = time.Now()
	res, err := e.job.Run(ctx, "acme", false)
	purgeTook := time.Since(start)
	close(stop)
	<-done
	if err != nil {
		b.Fatal(err)
	}
	rate1 := float64(c1.Load()) / purgeTook.Seconds()
	if res[0].Deleted != int64(n) {
		b.Fatalf("purged %d of %d", res[0].Deleted, n)
	}
	b.ReportMetric(rate0, "ingest-alone-events/s")
	b.ReportMetric(rate1, "ingest-during-purge-events/s")
	b.ReportMetric(100*rate1/rate0, "%-of-undisturbed")
	b.ReportMetric(float64(n)/purgeTook.Seconds(), "purged-events/s")
	b.Logf("purged %d in %v (%d batches); ingest alone %.0f ev/s, during purge %.0f ev/s (%.0f%%)",
		n, purgeTook.Round(time.Millisecond), res[0].Batches, rate0, rate1, 100*rate1/rate0)
}

func benchEvent(tm time.Time, i int) stele.Event {
	return stele.Event{Account: "acme", Action: "user.login", Time: tm, Outcome: stele.OutcomeSuccess,
		Actor:       &stele.Ref{Type: "user", ID: fmt.Sprintf("u_%d", i%500), Email: fmt.Sprintf("user%d@acme.io", i%500), Name: "Ada Lovelace"},
		IP:          "203.0.113.7",
		UserAgent:   "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
		Description: "Ada Lovelace signed in with a password and MFA",
		Metadata:    map[string]any{"method": "password", "mfa": true, "session": fmt.Sprintf("s_%d", i)},
	}
}
