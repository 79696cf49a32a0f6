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
// 1,000 events, the most a request may hold, down to single events) from 8
// connections as fast as the server answers, ignoring any 429. It reports
// both p99s and their ratio; acme's stored rate during the flood shows the
// flood was real.
//
// With quota=none acme's ingest quota does not bind: the fair writer alone
// stands between the two accounts. With quota=team or quota=business acme
// has that type's default events quota, which its flood far exceeds; the
// flood is measured once acme's burst is spent: what a noisy tenant can do
// to the others once its quota holds it. globex's quota never binds.
//
//	go test -run '^$' -bench NoisyNeighbour -benchtime 3000x -timeout 30m ./internal/api
func BenchmarkNoisyNeighbour(b *testing.B) {
	quotas := []struct {
		name   string
		events int64
	}{{"none", 0}}
	for _, t := range stele.DefaultAccountTypes {
		if t.Name == "team" || t.Name == "business" {
			quotas = append(quotas, struct {
				name   string
				events int64
			}{t.Name, t.Ingest.EventsPerSecond})
		}
	}
	for _, quota := range quotas {
		for _, batch := range []int{1000, 100, 10, 1} {
			b.Run(fmt.Sprintf("quota=%s/flood_batch=%d", quota.name, batch), func(b *testing.B) { benchNoisyNeighbour(b, batch, quota.events) })
		}
	}
}

func benchNoisyNeighbour(b *testing.B, floodBatch int, acmeEvents int64) {
	const floodConns = 8
	e := newEnv(b)
	unlimited := int64(0)
	if _, _, err := e.db.UpdateAccount(context.Background(), e.accts["globex"].ID, stele.AccountUpdate{
		IngestEventsPerSecond: stele.SettingChange{Set: &unlimited}, IngestBytesPerSecond: stele.SettingChange{Set: &unlimited}}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.db.UpdateAccount(context.Background(), e.accts["acme"].ID, stele.AccountUpdate{
		IngestEventsPerSecond: stele.SettingChange{Set: &acmeEvents}, IngestBytesPerSecond: stele.SettingChange{Set: &unlimited}}); err != nil {
		b.Fatal(err)
	}
	single, batch := demoBody(b, 1), demoBody(b, floodBatch)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * floodConns}}
	// post sends body for key and reports whether it was stored; only the
	// flooder may be refused, by its quota.
	post := func(key string, body []byte) (bool, error) {
		req, err := http.NewRequest("POST", e.srv.URL+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+e.keys[key])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		io.Copy(io.Discard, resp.Body) // so the connection is reused
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusCreated:
			return true, nil
		case resp.StatusCode == http.StatusTooManyRequests && key == "acme" && acmeEvents != 0:
			return false, nil
		default:
			return false, fmt.Errorf("%s: status %d", key, resp.StatusCode)
		}
	}
	// latencies sends n single events for globex, one at a time.
	latencies := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			start := time.Now()
			if _, err := post("globex", single); err != nil {
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
		refused atomic.Bool
		spent   = make(chan struct{}) // closed at acme's first 429
	)
	for range floodConns {
		wg.Go(func() {
			for first := true; ; first = false {
				select {
				case <-stop:
					return
				default:
				}
				stored, err := post("acme", batch)
				if err != nil {
					b.Error(err)
					return
				}
				if stored {
					flooded.Add(int64(floodBatch))
				} else if refused.CompareAndSwap(false, true) {
					close(spent)
				}
				if first {
					started <- struct{}{}
				}
			}
		})
	}
	// Measure only once every flooding connection has had an answer and,
	// under a quota, once acme's burst is spent: what follows is the
	// flood as its quota holds it.
	for range floodConns {
		<-started
	}
	if acmeEvents != 0 {
		<-spent
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
	b.ReportMetric(ms(median(idle)), "idle-p50-ms")
	b.ReportMetric(ms(median(busy)), "flood-p50-ms")
	b.ReportMetric(floodRate, "flood-events/s")
	b.ReportMetric(0, "ns/op") // the two phases' time together means nothing
}

func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
