package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/rsyslogtest"
)

// producer sends batches of user.login events to a server as a steady
// load, paced by a ticker, and keeps the ids of those acknowledged.
type producer struct {
	mu    sync.Mutex
	acked map[string]int64 // id → seq
	n     atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

// produce starts workers that each send a batch of size events every
// period to base() with key, until stop.
func produce(t *testing.T, base func() string, key string, workers, size int, period time.Duration) *producer {
	t.Helper()
	p := &producer{acked: map[string]int64{}, stop: make(chan struct{})}
	hc := &http.Client{Timeout: 30 * time.Second}
	for w := range workers {
		p.wg.Go(func() {
			tick := time.NewTicker(period)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-p.stop:
					return
				case <-tick.C:
				}
				var evs []string
				for j := range size {
					evs = append(evs, fmt.Sprintf(`{"action":"user.login","actor":{"id":"w%d-%d-%d"},"description":"stream load"}`, w, i, j))
				}
				req, _ := http.NewRequest("POST", base()+"/v1/events", strings.NewReader(`{"events":[`+strings.Join(evs, ",")+`]}`))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					continue // a node down: not acknowledged
				}
				var out struct{ Events []struct{ ID string } }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil {
					continue
				}
				p.mu.Lock()
				for _, e := range out.Events {
					_, seq, _ := stele.ParseEventID(e.ID)
					p.acked[e.ID] = seq
				}
				p.mu.Unlock()
				p.n.Add(int64(len(out.Events)))
			}
		})
	}
	t.Cleanup(p.end)
	return p
}

// end stops the load and waits for the workers.
func (p *producer) end() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// reach waits until n events more than from are acknowledged.
func (p *producer) reach(t *testing.T, from, n int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for p.n.Load() < from+n {
		if time.Now().After(deadline) {
			t.Fatalf("%d events acknowledged, waited for %d", p.n.Load(), from+n)
		}
		<-tick.C
	}
}

func (p *producer) ids() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.acked)
}

// received returns the event ids in rsyslog's messages, in order, read
// from the structured data without a full parse (the files get large).
func received(msgs []string) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		_, rest, ok := strings.Cut(m, ` id="`)
		if !ok {
			continue
		}
		id, _, _ := strings.Cut(rest, `"`)
		out = append(out, id)
	}
	return out
}

// awaitAll waits until rsyslog holds every acknowledged event, and checks
// that the first copy of each came in seq order.
func awaitAll(t *testing.T, rs *rsyslogtest.Server, acked map[string]int64) (copies int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	msgs := rs.Await(ctx, fmt.Sprintf("all %d acknowledged events", len(acked)), func(msgs []string) bool {
		seen := map[string]bool{}
		for _, id := range received(msgs) {
			seen[id] = true
		}
		for id := range acked {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	seen := map[string]bool{}
	last := int64(-1)
	for _, id := range received(msgs) {
		if seen[id] {
			continue
		}
		seen[id] = true
		_, seq, err := stele.ParseEventID(id)
		if err != nil {
			t.Fatalf("a message names event %q", id)
		}
		if seq <= last {
			t.Fatalf("event %s (seq %d) first arrived after seq %d", id, seq, last)
		}
		last = seq
	}
	return len(msgs)
}

// streamStatus reads a stream through the API.
func streamStatus(t *testing.T, base, key, id string) *client.Stream {
	t.Helper()
	c, err := client.New(base, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Stream(ctx, id)
	if err != nil {
		t.Fatalf("GET the stream: %v", err)
	}
	return s
}

// awaitStatus polls the stream's status until cond holds.
func awaitStatus(t *testing.T, base, key, id, what string, cond func(client.StreamStatus) bool) client.StreamStatus {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st := streamStatus(t, base, key, id).Status
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited two minutes for %s; status %+v", what, st)
		}
		<-tick.C
	}
}

// streamsSetup makes account acme with a key that writes events and
// manages streams, on the store of data.
func streamsSetup(t *testing.T, data string) string {
	t.Helper()
	runCLI(t, "accounts", "create", "acme", "--type", "enterprise", "--data", data)
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read,streams:manage", "--json", "--data", data)), &created); err != nil {
		t.Fatal(err)
	}
	return created.Key
}

// streamsCLI runs `stele streams …` against base with key.
func streamsCLI(t *testing.T, base, key string, args ...string) string {
	t.Helper()
	out, errOut, code := runCLIErr(t, "", []string{"STELE_URL=" + base, "STELE_KEY=" + key}, append([]string{"streams"}, args...)...)
	if code != 0 {
		t.Fatalf("stele streams %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// TestStreamsCLIDrivesARealServer: stele streams create, list, show,
// update, replay and delete against a real `stele serve`, whose stream
// forwards into a real rsyslogd; a token given in a header file shows
// nowhere.
func TestStreamsCLIDrivesARealServer(t *testing.T) {
	rs := rsyslogtest.Start(t, rsyslogtest.Options{})
	data := newStoreDir(t)
	key := streamsSetup(t, data)
	_, base := startServe(t, data)

	var s client.Stream
	out := streamsCLI(t, base, key, "create", "SIEM (prod)", "--syslog", rs.Addr(), "--format", "cef", "--query", "action:user.*", "--json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("create --json: %v\n%s", err, out)
	}
	p := produce(t, func() string { return base }, key, 1, 25, 20*time.Millisecond)
	p.reach(t, 0, 500)
	p.end()
	awaitAll(t, rs, p.ids())
	awaitStatus(t, base, key, s.ID, "no lag", func(st client.StreamStatus) bool { return st.LagEvents == 0 && st.Forwarded >= 500 })

	if out := streamsCLI(t, base, key, "list"); !strings.Contains(out, s.ID) || !strings.Contains(out, "SIEM (prod)") || !strings.Contains(out, "running") {
		t.Fatalf("list:\n%s", out)
	}
	headers := t.TempDir() + "/headers"
	if err := os.WriteFile(headers, []byte("# the HEC token\nAuthorization: Splunk cli-secret-token-77\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = streamsCLI(t, base, key, "update", s.ID, "--https", "https://hec.example.com:8088/services/collector/event", "--format", "splunk_hec",
		"--header-file", headers, "--enabled", "false", "--json")
	if !strings.Contains(out, `"state": "disabled"`) || !strings.Contains(out, `"Authorization"`) || strings.Contains(out, "cli-secret") {
		t.Fatalf("update:\n%s", out)
	}
	if out := streamsCLI(t, base, key, "replay", s.ID, "--after", "1h"); !strings.Contains(out, "requested") {
		t.Fatalf("replay:\n%s", out)
	}
	out = streamsCLI(t, base, key, "show", s.ID)
	for _, want := range []string{"SIEM (prod)", "disabled", "splunk_hec", "pending"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cli-secret") {
		t.Fatalf("show prints the token:\n%s", out)
	}
	// A bad flag or stream is an error naming it, with exit code 2 for
	// what the user can fix.
	_, errOut, code := runCLIErr(t, "", []string{"STELE_URL=" + base, "STELE_KEY=" + key}, "streams", "create", "x", "--syslog", "siem:514", "--format", "xml")
	if code != 2 || !strings.Contains(errOut, "destination.format") {
		t.Fatalf("a bad format: exit %d\n%s", code, errOut)
	}
	streamsCLI(t, base, key, "delete", s.ID)
	if out := streamsCLI(t, base, key, "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after delete: %s", out)
	}
	// Everything the CLI did is in acme's log.
	var page struct{ Events []stele.Event }
	req, _ := http.NewRequest("GET", base+"/v1/events?q=action:stream.*", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	var actions []string
	for _, e := range page.Events {
		actions = append(actions, e.Action)
	}
	if !slices.Equal(actions, []string{"stream.deleted", "stream.replayed", "stream.updated", "stream.created"}) {
		t.Fatalf("acme's stream events: %v", actions)
	}
}
