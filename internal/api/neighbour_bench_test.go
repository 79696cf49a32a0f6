package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// BenchmarkNoisyNeighbour measures what one account's flood does to
// another's single events, in one run on one server (a real SQLite file
// behind a real listener): globex sends b.N single events one after the
// other with the server idle, then b.N more while acme sends batches (of
// 1,000 events, the most a request may hold, or of 100) from 8 connections
// as fast as the server takes them. It
// reports both p99s and their ratio; acme's ingest rate during the flood
// shows the flood was real. Neither account's ingest quota binds (acme is
// unlimited in newEnv, globex is made so here): the writer is what is
// measured, with the quotas' bookkeeping on every request.
//
//	go test -run '^$' -bench NoisyNeighbour -benchtime 300x -timeout 30m ./internal/api
func BenchmarkNoisyNeighbour(b *testing.B) {
	for _, batch := range []int{1000, 100} {
		b.Run(fmt.Sprintf("flood_batch=%d", batch), func(b *testing.B) { benchNoisyNeighbour(b, batch) })
	}
}

func benchNoisyNeighbour(b *testing.B, floodBatch int) {
	const floodConns = 8
	e := newEnv(b)
	unlimited := int64(0)
	if _, _, err := e.db.UpdateAccount(context.Background(), e.accts["globex"].ID, stele.AccountUpdate{
		IngestEventsPerSecond: stele.SettingChange{Set: &unlimited}, IngestBytesPerSecond: stele.SettingChange{Set: &unlimited}}); err != nil {
		b.Fatal(err)
	}
	single, batch := demoBody(b, 1), demoBody(b, floodBatch)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * floodConns}}
	post := func(key string, body []byte) error {
		req, err := http.NewRequest("POST", e.srv.URL+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+e.keys[key])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body) // so the connection is reused
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Errorf("%s: status %d", key, resp.StatusCode)
		}
		return nil
	}
	// latencies sends n single events for globex, one at a time.
	latencies := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			start := time.Now()
			if err := post("globex", single); err != nil {
				b.Fatal(err)
			}
			out[i] = time.Since(start)
		}
		return out
	}
	latencies(20) // the connection and the store's first pages

	b.ResetTimer()
	idle := latencies(b.N)

	stop := make(chan struct{})
	var (
		wg      sync.WaitGroup
		flooded atomic.Int64
		started = make(chan struct{}, floodConns)
	)
	for range floodConns {
		wg.Go(func() {
			for first := true; ; first = false {
				select {
				case <-stop:
					return
				default:
				}
				if err := post("acme", batch); err != nil {
					b.Error(err)
					return
				}
				flooded.Add(int64(floodBatch))
				if first {
					started <- struct{}{}
				}
			}
		})
	}
	// Measure only once every flooding connection has a batch stored.
	for range floodConns {
		<-started
	}
	floodStart, floodFrom := time.Now(), flooded.Load()
	busy := latencies(b.N)
	floodRate := float64(flooded.Load()-floodFrom) / time.Since(floodStart).Seconds()
	close(stop)
	wg.Wait()
	b.StopTimer()

	pIdle, pBusy := p99(idle), p99(busy)
	b.ReportMetric(ms(pIdle), "idle-p99-ms")
	b.ReportMetric(ms(pBusy), "flood-p99-ms")
	b.ReportMetric(float64(pBusy)/float64(pIdle), "p99-ratio")
	b.ReportMetric(floodRate, "flood-events/s")
	b.ReportMetric(0, "ns/op") // the two phases' time together means nothing
}

func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
