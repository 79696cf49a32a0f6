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
// their ratio. In "in-order" the expired events are the log's oldest seqs,
// as when events arrive in time order; in "scattered" each is back-filled
// among as many current events (STELE_BENCH_CURRENT_N, default N), one of
// each in turn, so that the purge deletes every other seq. Run it once:
//
//	go test -run '^$' -bench IngestDuringPurge -benchtime 1x ./internal/retention
//	STELE_BENCH_PURGE_N=1000000 go test -run '^$' -bench 'IngestDuringPurge/scattered' -benchtime 1x -timeout 1h ./internal/retention
func BenchmarkIngestDuringPurge(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("STELE_BENCH_PURGE_N")); err == nil && v > 0 {
		n = v
	}
	current := n
	if v, err := strconv.Atoi(os.Getenv("STELE_BENCH_CURRENT_N")); err == nil && v >= 0 {
		current = v
	}
	b.Run("in-order", func(b *testing.B) {
		for b.Loop() {
			benchIngestDuringPurge(b, n, 0)
		}
	})
	b.Run("scattered", func(b *testing.B) {
		for b.Loop() {
			benchIngestDuringPurge(b, n, current)
		}
	})
}

// benchIngestDuringPurge fills a store with n expired events, each of the
// first current ones followed by a current event, then measures ingest
// alone and during their purge.
func benchIngestDuringPurge(b *testing.B, n, current int) {
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
	recent := t0.Add(-days(1))
	// Fill the store: n expired events, interleaved with current ones, by
	// several writers (each a stripe of the events) to share commits.
	var fill sync.WaitGroup
	for w := range writers {
		fill.Go(func() {
			var evs []stele.Event
			flush := func() {
				if _, err := e.svc.Record(ctx, evs...); err != nil {
					b.Error(err)
				}
				evs = evs[:0]
			}
			for i := w; i < n || i < current; i += writers {
				if i < n {
					evs = append(evs, benchEvent(old.Add(time.Duration(i)*time.Millisecond), i))
				}
				if i < current {
					evs = append(evs, benchEvent(recent.Add(time.Duration(i)*time.Millisecond), n+i))
				}
				if len(evs) >= batch {
					flush()
				}
			}
			if len(evs) > 0 {
				flush()
			}
		})
	}
	fill.Wait()
	if b.Failed() {
		b.FailNow()
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
	b.Logf("purged %d (among %d current) in %v (%d batches); ingest alone %.0f ev/s, during purge %.0f ev/s (%.0f%%)",
		n, current, purgeTook.Round(time.Millisecond), res[0].Batches, rate0, rate1, 100*rate1/rate0)
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
