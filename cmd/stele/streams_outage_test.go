package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/rsyslogtest"
)

// createStream makes acme's stream of its user.* events into rsyslog.
func createStream(t *testing.T, base, key, addr string) *client.Stream {
	t.Helper()
	c, err := client.New(base, key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateStream(context.Background(), client.StreamInput{Name: "siem", Query: "action:user.*",
		Destination: &stele.StreamDestination{Type: "syslog", Address: addr, Format: "json"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStreamCarriesOnThroughAReceiverOutage: rsyslog is stopped under a
// steady load and started again; the stream shows the failure and a
// growing lag meanwhile, then every acknowledged event arrives, the first
// copy of each in order, and the lag shown falls back to zero.
func TestStreamCarriesOnThroughAReceiverOutage(t *testing.T) {
	rs := rsyslogtest.Start(t, rsyslogtest.Options{})
	data := newStoreDir(t)
	key := streamsSetup(t, data)
	_, base := startServe(t, data)
	s := createStream(t, base, key, rs.Addr())
	p := produce(t, func() string { return base }, key, 2, 20, 20*time.Millisecond)
	p.reach(t, 0, 1000)
	rs.WaitFor(t.Context(), 500)

	rs.Stop()
	down := p.n.Load()
	st := awaitStatus(t, base, key, s.ID, "the stream to notice the outage", func(st client.StreamStatus) bool {
		return st.LastError != "" && st.LastErrorAt != nil && st.LagEvents > 0
	})
	p.reach(t, down, 2000)
	t.Logf("during the outage: %+v", st)
	grown := streamStatus(t, base, key, s.ID).Status
	if grown.LagEvents == 0 || grown.State != "failing" {
		t.Fatalf("with rsyslog down for 2000 events the stream shows %+v", grown)
	}

	rs.Restart()
	p.reach(t, p.n.Load(), 1000)
	p.end()
	acked := p.ids()
	n := awaitAll(t, rs, acked)
	awaitStatus(t, base, key, s.ID, "the lag to fall back to zero", func(st client.StreamStatus) bool {
		return st.LagEvents == 0 && st.LagSeconds == 0 && st.State == "running"
	})
	t.Logf("%d events acknowledged, %d messages received (%d sent twice)", len(acked), n, n-len(acked))
}

// TestStreamLosesNothingWhenServeIsKilled: `stele serve` is killed with
// SIGKILL while its stream forwards under load; started again, it goes on
// from the stored cursor and every acknowledged event arrives.
func TestStreamLosesNothingWhenServeIsKilled(t *testing.T) {
	rs := rsyslogtest.Start(t, rsyslogtest.Options{})
	data := newStoreDir(t)
	key := streamsSetup(t, data)
	serve, first := startServe(t, data)
	s := createStream(t, first, key, rs.Addr())
	var base atomic.Pointer[string]
	base.Store(&first)
	p := produce(t, func() string { return *base.Load() }, key, 2, 20, 10*time.Millisecond)
	p.reach(t, 0, 2000)
	rs.WaitFor(t.Context(), 1000)
	if err := serve.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	serve.Wait()
	before := p.n.Load()
	_, second := startServe(t, data)
	base.Store(&second)
	p.reach(t, before, 1000)
	p.end()
	acked := p.ids()
	n := awaitAll(t, rs, acked)
	awaitStatus(t, second, key, s.ID, "the lag to fall back to zero", func(st client.StreamStatus) bool { return st.LagEvents == 0 })
	t.Logf("%d events acknowledged across a SIGKILL, %d messages received (%d sent twice)", len(acked), n, n-len(acked))
}

// leads reports whether the node at base runs the stream: only the node
// that leads the streams job has its figures in /metrics.
func leads(t *testing.T, base, id string) bool {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return false // a dead node
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), `stele_stream_forwarded_events_total{account="acme",name="siem",owner="acme",stream="`+id+`"}`)
}

// TestStreamMovesToAnotherNodeWhenItsNodeDies: on PostgreSQL with two
// nodes the stream runs on exactly one; killed, it moves to the other
// within seconds, and every event acknowledged by either node arrives.
func TestStreamMovesToAnotherNodeWhenItsNodeDies(t *testing.T) {
	rs := rsyslogtest.Start(t, rsyslogtest.Options{})
	c := newCluster(t)
	c.cli("accounts", "create", "acme", "--type", "enterprise")
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(c.cli("keys", "create", "--account", "acme", "--scopes", "events:write,events:read,streams:manage", "--json")), &created); err != nil {
		t.Fatal(err)
	}
	key := created.Key
	var nodes [2]*node
	var bases [2]string
	for i := range nodes {
		cmd, b := c.start()
		nodes[i], bases[i] = &node{cmd.Process, cmd.Wait}, b
	}
	s := createStream(t, bases[0], key, rs.Addr())
	var next atomic.Int64
	var alive atomic.Pointer[[]string]
	both := bases[:]
	alive.Store(&both)
	p := produce(t, func() string { l := *alive.Load(); return l[next.Add(1)%int64(len(l))] }, key, 2, 20, 20*time.Millisecond)
	p.reach(t, 0, 1000)
	rs.WaitFor(t.Context(), 500)

	leader := -1
	for i, b := range bases {
		if leads(t, b, s.ID) {
			if leader >= 0 {
				t.Fatalf("both nodes run the stream")
			}
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no node runs the stream")
	}
	other := 1 - leader
	if err := nodes[leader].proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[leader].wait()
	killed := time.Now()
	survivor := []string{bases[other]}
	alive.Store(&survivor)
	deadline := killed.Add(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	for !leads(t, bases[other], s.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the stream did not move to the surviving node within a minute")
		}
		<-tick.C
	}
	tick.Stop()
	moved := time.Since(killed)
	if moved > 20*time.Second {
		t.Errorf("the stream took %v to move", moved)
	}
	p.reach(t, p.n.Load(), 1000)
	p.end()
	acked := p.ids()
	n := awaitAll(t, rs, acked)
	awaitStatus(t, bases[other], key, s.ID, "the lag to fall back to zero", func(st client.StreamStatus) bool { return st.LagEvents == 0 })
	t.Logf("the stream moved %v after its node was killed; %d events acknowledged, %d messages received", moved.Round(time.Millisecond), len(acked), n)
}

// node is a started node's process and its Wait.
type node struct {
	proc *os.Process
	wait func() error
}
