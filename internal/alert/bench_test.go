package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/notify"
)

// benchBody returns a batch of n demo events as a request body.
func benchBody(b *testing.B, n int) []byte {
	b.Helper()
	gen := demo.New(1, time.Now().Add(-time.Hour), time.Now())
	type ref struct {
		Type string `json:"type,omitempty"`
		ID   string `json:"id,omitempty"`
		Name string `json:"name,omitempty"`
	}
	type input struct {
		Time        string         `json:"time"`
		Action      string         `json:"action"`
		Category    string         `json:"category,omitempty"`
		Outcome     string         `json:"outcome,omitempty"`
		Actor       *stele.Ref     `json:"actor,omitempty"`
		Target      *ref           `json:"target,omitempty"`
		Source      *ref           `json:"source,omitempty"`
		IP          string         `json:"ip,omitempty"`
		Description string         `json:"description,omitempty"`
		Metadata    map[string]any `json:"metadata,omitempty"`
	}
	refOf := func(r *stele.Ref) *ref {
		if r == nil {
			return nil
		}
		return &ref{r.Type, r.ID, r.Name}
	}
	events := make([]input, n)
	for i := range events {
		e := gen.Next("acme", time.Now().Add(-time.Minute))
		events[i] = input{e.Time.Format(time.RFC3339Nano), e.Action, e.Category, e.Outcome, e.Actor, refOf(e.Target), refOf(e.Source),
			e.IP, e.Description, e.Metadata}
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchRules are 50 rules of the kinds an account keeps: the templates,
// per-action and per-prefix rules, a few on fields other than the action
// (checked against every event), half of them with a threshold.
func benchRules() []Input {
	queries := []string{
		"action:user.role_changed,user.permissions_changed", "action:integration.added,integration.removed",
		"action:settings.updated,retention.changed,legal_hold.set,legal_hold.lifted", "action:user.login_failed",
		"action:audit_log.exported", "action:finding.deleted", "action:user.mfa_failed", "action:user.locked_out",
		"action:api_key.created,api_key.revoked", "action:user.deleted", "action:source.scan_failed", "action:source.disconnected",
		"action:finding.generated critical", "action:finding.* -outcome:success", "action:user.* outcome:failure",
		"action:session.revoked", "action:user.password_reset", "action:user.created", "action:integration.updated",
		"action:audit_log.denied", "category:configuration", "outcome:failure", "ip:203.0.113.7", "actor:admin",
		"action:user.login -outcome:success",
	}
	var out []Input
	for i := range 50 {
		in := Input{Name: fmt.Sprintf("rule %d", i), Query: queries[i%len(queries)], Destinations: webhookTo("http://127.0.0.1:1/")}
		if i%2 == 1 {
			in.Threshold = threshold(5+i, "10m", []string{"actor", "ip", "source", ""}[i%4])
			in.Cooldown = "15m"
		}
		out = append(out, in)
	}
	return out
}

// BenchmarkIngestWithAlertRules is batched ingest (500 demo events a
// request, 16 requests at once) on two real SQLite files, one account
// without rules and one with 50 enabled rules, half of them thresholds:
// the cost of matching every event and of storing the matches in the
// commit. Each iteration sends 32 batches to the one, then 32 to the
// other, so that both see the same machine (these are shared and their
// load drifts); it reports each one's rate and their ratio.
func BenchmarkIngestWithAlertRules(b *testing.B) {
	body := benchBody(b, 500)
	type side struct {
		s       *stack
		p       *stele.Principal
		events  int64
		elapsed time.Duration
	}
	var sides [2]*side
	for i, n := range []int{0, 50} {
		s := newStack(b)
		for _, in := range benchRules()[:n] {
			if _, err := s.rules.Create(b.Context(), s.acme, in, audit.CLI()); err != nil {
				b.Fatal(err)
			}
		}
		sides[i] = &side{s: s, p: &stele.Principal{AccountID: s.acme.ID, Account: s.acme.Name, Scopes: []stele.Scope{stele.ScopeEventsWrite}}}
	}
	const senders, perPhase = 16, 32
	phase := func(sd *side) {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range senders {
			wg.Go(func() {
				for next.Add(1) <= perPhase {
					rs, err := sd.s.path.Ingest.Ingest(b.Context(), sd.p, body)
					if err != nil {
						b.Error(err)
						return
					}
					atomic.AddInt64(&sd.events, int64(len(rs)))
				}
			})
		}
		wg.Wait()
		sd.elapsed += time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		// Alternate which goes first, so that neither always follows the
		// other's checkpoint work.
		phase(sides[i%2])
		phase(sides[1-i%2])
	}
	b.StopTimer()
	rate := func(sd *side) float64 { return float64(sd.events) / sd.elapsed.Seconds() }
	b.ReportMetric(rate(sides[0]), "events/s-no-rules")
	b.ReportMetric(rate(sides[1]), "events/s-50-rules")
	b.ReportMetric(rate(sides[1])/rate(sides[0]), "ratio")
	ms, _ := sides[1].s.db.AlertMatches(b.Context(), sides[1].s.acme.ID, 0, 1<<40, 1<<30)
	b.ReportMetric(float64(len(ms))/float64(max(sides[1].events, 1)), "matches/event")
}

// BenchmarkAlertLatencyUnderLoad measures how long an alert for a
// matching event takes to reach a webhook receiver while batched ingest
// runs: 4 producers send 500-event batches (none matching) as fast as the
// store takes them, and one matching event is sent every 50 ms, b.N of
// them; each one's latency runs from its request to the receiver getting
// the alert that carries it. Reports p50 and p99.
func BenchmarkAlertLatencyUnderLoad(b *testing.B) {
	s := newStack(b)
	var (
		mu      sync.Mutex
		arrived = map[string]time.Time{}
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body notify.WebhookBody
		json.NewDecoder(r.Body).Decode(&body)
		now := time.Now()
		mu.Lock()
		for _, e := range body.Events {
			if _, ok := arrived[e.Description]; !ok {
				arrived[e.Description] = now
			}
		}
		mu.Unlock()
	}))
	defer hook.Close()
	if _, err := s.rules.Create(b.Context(), s.acme, Input{Name: "Integrations", Query: "action:integration.removed",
		Destinations: []notify.Destination{{Type: "webhook", URL: hook.URL, Secret: "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCD"}}}, audit.CLI()); err != nil {
		b.Fatal(err)
	}
	j := s.jobs(b, notify.SMTPConfig{}, notify.DefaultBackoff)
	j.eval.Poll, j.eval.Now, j.deliver.Now = 0, nil, nil // as serve runs them
	stopJobs := make(chan struct{})
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-stopJobs; cancel() }()
		Job(j.eval, j.deliver)(ctx)
	}()

	body := benchBody(b, 500)
	body = []byte(strings.ReplaceAll(string(body), "integration.removed", "integration.updated"))
	p := &stele.Principal{AccountID: s.acme.ID, Account: s.acme.Name, Scopes: []stele.Scope{stele.ScopeEventsWrite}}
	stop := make(chan struct{})
	var load sync.WaitGroup
	var loaded atomic.Int64
	for range 4 {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if rs, err := s.path.Ingest.Ingest(b.Context(), p, body); err == nil {
					loaded.Add(int64(len(rs)))
				}
			}
		})
	}
	sent := map[string]time.Time{}
	tick := time.NewTicker(50 * time.Millisecond)
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		marker := fmt.Sprintf("m%d", i)
		mu.Lock()
		sent[marker] = time.Now()
		mu.Unlock()
		go s.path.Ingest.Ingest(b.Context(), p, []byte(`{"action": "integration.removed", "description": "`+marker+`"}`))
	}
	tick.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= b.N || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	close(stop)
	load.Wait()
	close(stopJobs)
	<-jobsDone
	var lat []time.Duration
	mu.Lock()
	for m, at := range sent {
		if got, ok := arrived[m]; ok {
			lat = append(lat, got.Sub(at))
		}
	}
	mu.Unlock()
	if len(lat) < b.N {
		b.Fatalf("%d of %d alerts arrived", len(lat), b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	b.ReportMetric(float64(loaded.Load())/b.Elapsed().Seconds(), "load-events/s")
}
