package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/query"
)

// clock is a time a test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestReadsAreCoalescedPerReaderQueryAndWindow: the same read within the
// window is recorded once; another query, another reader, another way in
// or another account is another record, and so is the same read once the
// window has passed.
func TestReadsAreCoalescedPerReaderQueryAndWindow(t *testing.T) {
	s := newStack(t)
	clk := &clock{t: time.Now()}
	reads := audit.NewReads(s.rec, audit.ReadsConfig{Now: clk.Now})
	u := &stele.User{ID: "u_ada", Account: "acme", Email: "ada@acme.example", Role: stele.RoleAuditor}
	ada := audit.User(u, "203.0.113.7", "Mozilla/5.0")
	key := audit.Key(&stele.Principal{Account: "acme", KeyID: "key_a"}, "198.51.100.1", "curl")
	other := audit.Key(&stele.Principal{Account: "acme", KeyID: "key_b"}, "198.51.100.1", "curl")
	search := func(q string, n int) audit.View {
		return audit.View{Account: "acme", Kind: audit.ViewSearch, Query: q, Results: n}
	}
	for range 5 { // five pages of one query
		reads.Read(key, search("action:user.login after:24h", 50))
	}
	reads.Read(key, search("action:user.logout", 3))             // another query
	reads.Read(other, search("action:user.login after:24h", 50)) // another key
	reads.Read(ada, search("action:user.login after:24h", 50))   // another reader, through the console
	reads.Read(key, audit.View{Account: "acme", Kind: audit.ViewEvent, Query: "evt_1_5", Results: 1})
	clk.Add(audit.DefaultReadWindow - time.Second)
	reads.Read(key, search("action:user.login after:24h", 50)) // a refresh inside the window
	clk.Add(2 * time.Second)
	reads.Read(key, search("action:user.login after:24h", 40)) // the window has passed
	reads.Close()

	got := s.stored(t)
	want := []struct {
		actor, query, view string
		results            string
	}{
		{"key_a", "action:user.login after:24h", "search", "50"},
		{"key_a", "action:user.logout", "search", "3"},
		{"key_b", "action:user.login after:24h", "search", "50"},
		{"u_ada", "action:user.login after:24h", "search", "50"},
		{"key_a", "evt_1_5", "event", "1"},
		{"key_a", "action:user.login after:24h", "search", "40"},
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%s %v", e.Actor.ID, e.Metadata)
		}
		t.Fatalf("recorded %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Action != "audit_log.viewed" || e.Category != stele.CategoryAudit || e.Account != "acme" || e.Actor.ID != w.actor ||
			e.Metadata["query"] != w.query || e.Metadata["view"] != w.view || fmt.Sprint(e.Metadata["results"]) != w.results {
			t.Errorf("record %d: %s %s by %+v %v, want %+v", i, e.Account, e.Action, e.Actor, e.Metadata, w)
		}
	}
	if via := got[3].Metadata["via"]; via != "console" || got[3].IP != "203.0.113.7" {
		t.Errorf("the console read: via %v from %q", via, got[3].IP)
	}
	if via := got[0].Metadata["via"]; via != "api" {
		t.Errorf("the API read: via %v", via)
	}
	if f := reads.Figures(); f.Recorded != 6 || f.Coalesced != 5 || f.Dropped != 0 || f.Failed != 0 {
		t.Errorf("figures %+v", f)
	}
}

// TestAReadNeverWaitsForItsRecord: with the sink stuck and the queue
// full, Read returns at once and counts what it could not record; once
// the sink answers, the reads that waited are recorded.
func TestAReadNeverWaitsForItsRecord(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var mu sync.Mutex
	var stored []stele.Event
	rec := &audit.Recorder{Sink: audit.SinkFunc(func(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		mu.Lock()
		defer mu.Unlock()
		stored = append(stored, events...)
		return nil, nil
	})}
	reads := audit.NewReads(rec, audit.ReadsConfig{Queue: 1})
	key := audit.Key(&stele.Principal{Account: "acme", KeyID: "key_a"}, "", "")
	read := func(q string) { reads.Read(key, audit.View{Account: "acme", Kind: audit.ViewSearch, Query: q}) }
	read("a") // taken by the worker, which the sink holds
	<-entered // the worker is in the sink
	read("b") // waits in the queue
	read("c") // the queue is full: dropped
	read("c") // still full: dropped again, not coalesced
	if f := reads.Figures(); f.Dropped != 2 {
		t.Fatalf("figures %+v", f)
	}
	close(release)
	reads.Close()
	if len(stored) != 2 || stored[0].Metadata["query"] != "a" || stored[1].Metadata["query"] != "b" {
		t.Fatalf("stored %+v", stored)
	}
	read("d") // after Close: dropped, never a panic
	if f := reads.Figures(); f.Dropped != 3 || f.Recorded != 2 {
		t.Fatalf("figures %+v", f)
	}
}

// TestARefusedRecordIsLoggedAndTriedAgain: a record the store refuses is
// logged without the query, and the same read is recorded at its next
// occurrence rather than covered by a record that does not exist.
func TestARefusedRecordIsLoggedAndTriedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		fail := true
		var stored []stele.Event
		rec := &audit.Recorder{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Sink: audit.SinkFunc(func(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
				if fail {
					return nil, errors.New("store down")
				}
				stored = append(stored, events...)
				return nil, nil
			})}
		reads := audit.NewReads(rec, audit.ReadsConfig{})
		key := audit.Key(&stele.Principal{Account: "acme", KeyID: "key_a"}, "", "")
		v := audit.View{Account: "acme", Kind: audit.ViewSearch, Query: "secret-query-text"}
		reads.Read(key, v)
		time.Sleep(audit.DefaultReadLinger) // the batch waits its linger out
		synctest.Wait()                     // the worker tried, failed, and waits for more
		if f := reads.Figures(); f.Failed != 1 || f.Recorded != 0 {
			t.Fatalf("figures %+v", f)
		}
		if out := logs.String(); !strings.Contains(out, "action=audit_log.viewed") || strings.Contains(out, "secret-query-text") {
			t.Fatalf("log: %s", out)
		}
		fail = false
		reads.Read(key, v) // within the window, but the first was never recorded
		reads.Read(key, v)
		reads.Close()
		if f := reads.Figures(); len(stored) != 1 || f.Recorded != 1 || f.Coalesced != 1 {
			t.Fatalf("stored %d, figures %+v", len(stored), f)
		}
	})
}

// TestQueryTextKeepsRelativeBoundsAsWritten: two parses of a query with
// a relative bound, minutes apart, name the same query; an absolute
// bound is kept as the time it is.
func TestQueryTextKeepsRelativeBoundsAsWritten(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ q, want string }{
		{"", ""},
		{"action:user.login   after:24h", "action:user.login after:24h"},
		{"after:7d before:1h ada", "ada after:7d before:1h"},
		{"after:2026-11-01 outcome:failure", "outcome:failure after:2026-11-01T00:00:00Z"},
	} {
		a, err := query.Parse(tc.q, now)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := query.Parse(tc.q, now.Add(3*time.Minute))
		if got, later := audit.QueryText(a), audit.QueryText(b); got != tc.want || later != got {
			t.Errorf("%q: %q then %q, want %q", tc.q, got, later, tc.want)
		}
	}
}

// TestAnyQueryIsRecordedWhole: the query is the reader's to write; the
// longest and oddest the parser takes is recorded, clipped, never refused
// or salvaged, so no reader can make their reads unrecorded.
func TestAnyQueryIsRecordedWhole(t *testing.T) {
	s := newStack(t)
	key := audit.Key(&stele.Principal{Account: "acme", KeyID: "key_a"}, "", "")
	for _, text := range []string{
		`-"` + strings.Repeat(`\"`, 1000) + `"`,
		`"<script>alert(1)</script>" "line` + "\n" + `break" ` + strings.Repeat("é", 900),
		strings.Repeat("x", query.MaxBytes),
	} {
		q, err := query.Parse(text, time.Now())
		if err != nil {
			t.Fatalf("%.40q: %v", text, err)
		}
		v := audit.View{Account: "acme", Kind: audit.ViewSearch, Query: audit.QueryText(q), Results: 3}
		if err := s.rec.Viewed(t.Context(), key, v); err != nil {
			t.Fatalf("%.40q: %v", text, err)
		}
		e := s.stored(t)[0]
		got, _ := e.Metadata["query"].(string)
		if _, salvaged := e.Metadata["salvaged"]; salvaged || got == "" || len(got) > 1100 {
			t.Fatalf("%.40q: recorded as %d bytes, metadata keys %v", text, len(got), e.Metadata)
		}
		if long := len(v.Query) > 1024; long != (e.Metadata["query_truncated"] == true) {
			t.Errorf("%.40q: %d bytes, truncated %v", text, len(v.Query), e.Metadata["query_truncated"])
		}
	}
}

// BenchmarkRead is what noting a read costs the request that made it: a
// refresh of a query recorded moments ago (coalesced), and a new query
// (queued for the recorder, whose sink here drops the records).
func BenchmarkRead(b *testing.B) {
	rec := &audit.Recorder{Sink: audit.SinkFunc(func(context.Context, ...stele.Event) ([]stele.Receipt, error) { return nil, nil })}
	key := audit.Key(&stele.Principal{Account: "acme", KeyID: "key_0123456789abcdef"}, "203.0.113.7", "curl/8")
	q := "action:user.login actor:ada@acme.io after:24h"
	b.Run("coalesced", func(b *testing.B) {
		reads := audit.NewReads(rec, audit.ReadsConfig{})
		defer reads.Close()
		for b.Loop() {
			reads.Read(key, audit.View{Account: "acme", Kind: audit.ViewSearch, Query: q, Results: 50})
		}
	})
	b.Run("new", func(b *testing.B) {
		reads := audit.NewReads(rec, audit.ReadsConfig{Queue: 1 << 20, Table: 1 << 22})
		defer reads.Close()
		i := 0
		for b.Loop() {
			reads.Read(key, audit.View{Account: "acme", Kind: audit.ViewSearch, Query: q + strconv.Itoa(i), Results: 50})
			i++
		}
	})
}

// TestAPanicInTheRecorderFailsOneBatch: a sink that panics fails the
// batch, as a refusal would; the recorder lives on and records the next.
func TestAPanicInTheRecorderFailsOneBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		rec := &audit.Recorder{Logger: slog.New(slog.DiscardHandler), Sink: audit.SinkFunc(func(context.Context, ...stele.Event) ([]stele.Receipt, error) {
			calls++
			if calls == 1 {
				panic("boom")
			}
			return nil, nil
		})}
		reads := audit.NewReads(rec, audit.ReadsConfig{})
		key := audit.Key(&stele.Principal{Account: "acme", KeyID: "key_a"}, "", "")
		reads.Read(key, audit.View{Account: "acme", Kind: audit.ViewSearch, Query: "a"})
		time.Sleep(audit.DefaultReadLinger)
		synctest.Wait()
		if f := reads.Figures(); f.Failed != 1 {
			t.Fatalf("figures %+v", f)
		}
		reads.Read(key, audit.View{Account: "acme", Kind: audit.ViewSearch, Query: "b"})
		reads.Close()
		if f := reads.Figures(); f.Failed != 1 || f.Recorded != 1 {
			t.Fatalf("figures %+v", f)
		}
	})
}
