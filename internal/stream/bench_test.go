package stream_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/rsyslogtest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/stream"
)

// benchStack is the data path on a SQLite file, with acme, a stream of
// every acme event into a real rsyslogd, and its forwarder (not running).
type benchStack struct {
	data *datapath.Path
	svc  *stream.Service
	fwd  *stream.Forwarder
	rs   *rsyslogtest.Server
	acme *stele.Account
}

func newBenchStack(b *testing.B, format string) *benchStack {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "stele.db"))
	if err != nil {
		b.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	logger := slog.New(slog.DiscardHandler)
	data := datapath.Start(db, sqlitetest.Keys(b), master, logger, ingest.WriterConfig{})
	b.Cleanup(func() {
		data.Stop()
		db.Close()
	})
	acme := &stele.Account{Name: "acme", Type: "enterprise"}
	if err := db.CreateAccount(ctx, acme); err != nil {
		b.Fatal(err)
	}
	rec := &audit.Recorder{Sink: data.Ingest, Logger: logger}
	s := &benchStack{data: data, acme: acme, rs: rsyslogtest.Start(b, rsyslogtest.Options{})}
	s.fwd = &stream.Forwarder{Store: db, Keys: data.Keyring, Audit: rec, Logger: logger, Wake: data.Writer.NextCommit,
		Options: forward.Options{Hostname: "stele-bench"}}
	s.svc = &stream.Service{Store: db, Secrets: data.Keyring, Audit: rec, Changed: s.fwd.Poke}
	_, err = s.svc.Create(ctx, stream.Owner{Account: acme}, stream.Input{Name: "siem", Query: "-action:stream.*",
		Destination: &stele.StreamDestination{Type: "syslog", Address: s.rs.Addr(), Format: format}}, audit.System())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// run runs the forwarder until the benchmark ends.
func (s *benchStack) run(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.fwd.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
}

var errEnough = errors.New("enough")

// demoBatch is 500 of acme's demo events, to be recorded again and again.
func demoBatch(b *testing.B) []stele.Event {
	b.Helper()
	end := time.Now().UTC()
	var out []stele.Event
	err := demo.New(1, end.Add(-24*time.Hour), end).Events("acme", func(e stele.Event) error {
		if len(out) == 500 {
			return errEnough
		}
		out = append(out, e)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		b.Fatal(err)
	}
	return out
}

// ingestAll records n events in batches of 500 from four goroutines, as
// fast as the writer takes them, and returns when they are all stored.
func (s *benchStack) ingestAll(b *testing.B, n int) {
	b.Helper()
	batch := demoBatch(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for next.Add(int64(len(batch))) <= int64(n) {
				if _, err := s.data.Ingest.Record(context.Background(), batch...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkStreamWhileIngesting measures a stream's rate into a real
// rsyslogd over TCP while batched ingest runs beside it. Ingest alone on
// SQLite may stay under the rate a stream takes, and a stream that keeps
// up shows only ingest's rate; so the stream starts three quarters of
// STELE_BENCH_STREAM_EVENTS (default 200,000) behind, and the last
// quarter is recorded while it forwards. It reports what rsyslogd wrote
// per second while that ingest ran (the stream's rate under ingest, as
// long as it was still behind when the ingest ended: drain-s > 0), the
// ingest's own rate, and the time the stream took to drain after it.
func BenchmarkStreamWhileIngesting(b *testing.B) {
	n := envInt("STELE_BENCH_STREAM_EVENTS", 200_000) / 2000 * 2000
	for _, format := range []string{"cef", "json"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				s := newBenchStack(b, format)
				s.ingestAll(b, n*3/4)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
				start := time.Now()
				s.run(b)
				s.ingestAll(b, n/4)
				ingested := time.Since(start)
				during := s.rs.Count()
				s.rs.WaitForCount(ctx, n)
				drained := time.Since(start)
				cancel()
				b.ReportMetric(float64(during)/ingested.Seconds(), "stream-events/s")
				b.ReportMetric(float64(n/4)/ingested.Seconds(), "ingest-events/s")
				b.ReportMetric((drained - ingested).Seconds(), "drain-s")
			}
		})
	}
}

// BenchmarkStreamCatchUp records STELE_BENCH_STREAM_BEHIND events
// (default 100,000; the figure is 1,000,000) with no forwarder
// running, then starts it and reports how fast the stream catches up
// into a real rsyslogd over TCP.
func BenchmarkStreamCatchUp(b *testing.B) {
	n := envInt("STELE_BENCH_STREAM_BEHIND", 100_000) / 500 * 500
	for b.Loop() {
		s := newBenchStack(b, "cef")
		s.ingestAll(b, n)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		start := time.Now()
		s.run(b)
		s.rs.WaitForCount(ctx, n)
		took := time.Since(start)
		cancel()
		b.ReportMetric(float64(n)/took.Seconds(), "events/s")
		b.ReportMetric(took.Seconds(), "s")
	}
}
