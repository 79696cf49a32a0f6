package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
)

// BenchmarkQueryWithReadsRecorded measures GET /v1/events with the record
// of reads on and off, in the same run, on two stores filled alike (so
// that the records written into one, and their commits, weigh on its
// reads only): each iteration sends one query to the API without Reads
// and one to the API with it, in alternating order, and the latencies of
// each are reported as p50 and p99 (ms) with the ratio of the p99s. "distinct" makes every query new
// (each one recorded: the worst case, a record written through the ingest
// path beside every read); "repeated" refreshes one query (coalesced, as
// paging and dashboards are). STELE_BENCH_READ_EVENTS sets the events in
// the store (default 20000).
func BenchmarkQueryWithReadsRecorded(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("STELE_BENCH_READ_EVENTS")); err == nil && v > 0 {
		n = v
	}
	for _, mode := range []string{"distinct", "repeated"} {
		b.Run(mode, func(b *testing.B) {
			e := newReadEnv(b, nil, audit.ReadsConfig{})
			plain := newReadEnv(b, nil, audit.ReadsConfig{})
			for sent := 0; sent < n; sent += 1000 {
				e.sendMix(b, min(1000, n-sent))
				plain.sendMix(b, min(1000, n-sent))
			}
			offURL := plain.plain.URL
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			get := func(base, key, q string) time.Duration {
				req, _ := http.NewRequest("GET", base+"/v1/events?limit=50&q="+url.QueryEscape(q), nil)
				req.Header.Set("Authorization", "Bearer "+key)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("GET: %d %v", resp.StatusCode, err)
				}
				return d
			}
			base := time.Now().UTC()
			var off, on []time.Duration
			i := 0
			for b.Loop() {
				q := "action:user.login"
				if mode == "distinct" {
					// The same results, a new query each time.
					q += " before:" + base.Add(time.Duration(i+1)*time.Microsecond).Format(time.RFC3339Nano)
				}
				if i%2 == 0 {
					off = append(off, get(offURL, plain.keys["acme"], q))
					on = append(on, get(e.srv.URL, e.keys["acme"], q))
				} else {
					on = append(on, get(e.srv.URL, e.keys["acme"], q))
					off = append(off, get(offURL, plain.keys["acme"], q))
				}
				i++
			}
			b.StopTimer()
			e.reads.Close()
			f := e.reads.Figures()
			if f.Dropped > 0 || f.Failed > 0 {
				b.Fatalf("figures %+v", f)
			}
			p := func(ds []time.Duration, q float64) float64 {
				s := slices.Clone(ds)
				slices.Sort(s)
				return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
			}
			b.ReportMetric(p(off, 0.5), "p50-off-ms")
			b.ReportMetric(p(on, 0.5), "p50-on-ms")
			b.ReportMetric(p(off, 0.99), "p99-off-ms")
			b.ReportMetric(p(on, 0.99), "p99-on-ms")
			b.ReportMetric(p(on, 0.99)/p(off, 0.99), "p99-on/off")
			b.ReportMetric(float64(f.Recorded), "recorded")
		})
	}
}

// sendMix stores n events in acme, a quarter of them user.login.
func (e *readEnv) sendMix(t testing.TB, n int) {
	t.Helper()
	actions := []string{"user.login", "user.logout", "finding.generated", "settings.updated"}
	batch := make([]map[string]any, n)
	for i := range batch {
		batch[i] = map[string]any{"action": actions[i%len(actions)], "actor": map[string]string{"id": fmt.Sprintf("u_%d", i%97), "email": fmt.Sprintf("user%d@acme.example", i%97)},
			"ip": "203.0.113.7", "description": "something happened to a thing of the account", "metadata": map[string]any{"n": i}}
	}
	body, _ := json.Marshal(map[string]any{"events": batch})
	p := &stele.Principal{AccountID: e.accts["acme"].ID, Account: "acme", Scopes: []stele.Scope{stele.ScopeEventsWrite}}
	if _, err := e.ingest.Ingest(context.Background(), p, body); err != nil {
		t.Fatal(err)
	}
}
