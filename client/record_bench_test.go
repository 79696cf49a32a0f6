package client_test

import (
	"context"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
)

// benchEvent is a sign-in as platforms record them.
func benchEvent() stele.Event {
	e := client.Login(stele.Ref{Type: "user", ID: "u_123", Name: "Ada Lovelace", Email: "ada@acme.io"})
	e.IP, e.UserAgent = "203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64)"
	e.Metadata = map[string]any{"method": "password", "mfa": true}
	return e
}

// heldTransport keeps every request waiting until the benchmark ends, so
// that the workers stay out of the figures of the caller's goroutine.
type heldTransport struct{ release chan struct{} }

func (h heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-h.release:
	case <-r.Context().Done():
	}
	return nil, context.Canceled
}

// BenchmarkRecord is the cost of Record on the caller's goroutine: time
// and allocations per event. The one worker is held in its first request,
// so that its work stays out of the figures, and the buffer (of the
// default size) is full: each Record copies its event in and lets the
// oldest go, as fail-open does in an outage — the same work as a Record
// into a buffer with room, and no memory growing with b.N.
func BenchmarkRecord(b *testing.B) {
	h := heldTransport{release: make(chan struct{})}
	c, err := client.New("http://127.0.0.1:9", "stele_0123456789012345678901234567890123456789", client.WithTransport(h),
		client.WithConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e := benchEvent()
	for range client.DefaultBatchSize + client.DefaultBufferSize { // the worker takes its batch and waits; the buffer fills
		c.Record(ctx, e)
	}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if err := c.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	// On a shared machine the wall time per op holds the waits for a
	// core; the process's CPU time is the work.
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	close(h.release)
	closeCtx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	c.Close(closeCtx)
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordDelivered is one client with default settings delivering
// events to Stele: from the first Record to the end of Close, which waits
// until every event is stored. It is fail-closed, so that Record waits for
// room rather than drop what Stele has not taken yet: the rate is the
// delivery's. Against STELE_BENCH_URL and STELE_BENCH_KEY
// when set (a `stele serve` of its own, to compare with `stele loadgen`),
// else an in-process server on a real listener.
func BenchmarkRecordDelivered(b *testing.B) {
	url, key := os.Getenv("STELE_BENCH_URL"), os.Getenv("STELE_BENCH_KEY")
	if url == "" {
		var stop func()
		url, key, stop = exampleServer()
		defer stop()
	}
	var retries atomic.Int64
	c, err := client.New(url, key, client.FailClosed(), client.WithErrorHandler(func(err error) {
		if _, ok := err.(*client.DeliveryError); ok {
			retries.Add(1) // a server too busy, or over the account's ingest quota
			return
		}
		b.Error(err)
	}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e := benchEvent()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := c.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(retries.Load()), "retries")
	if d := c.Dropped(); d > 0 {
		b.ReportMetric(float64(d), "dropped")
	}
}

// BenchmarkRecordDeliveredCanned is the client's own ceiling: default
// settings, fail-closed, every batch answered at once by a transport
// (encoding and sending included, no server): events/s and CPU per event.
func BenchmarkRecordDeliveredCanned(b *testing.B) {
	rt := cannedTransport{body: []byte(`{"events":[]}`)}
	c, err := client.New("http://127.0.0.1:9", "stele_0123456789012345678901234567890123456789", client.WithTransport(rt), client.FailClosed())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e := benchEvent()
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime()
	for b.Loop() {
		if err := c.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/event")
}
