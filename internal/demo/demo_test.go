package demo

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

var (
	testEnd   = time.Date(2026, 11, 24, 15, 30, 0, 0, time.UTC)
	testStart = testEnd.AddDate(0, 0, -30)
)

func collect(t testing.TB, g *Generator, account string) []stele.Event {
	t.Helper()
	var out []stele.Event
	if err := g.Events(account, func(e stele.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("Events(%s): %v", account, err)
	}
	return out
}

// checkEvent applies the rules internal/ingest's Validate enforces, so that
// every demo event would be accepted as it is.
func checkEvent(t *testing.T, e *stele.Event) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s at %s: "+format, append([]any{e.Action, e.Time}, args...)...)
	}
	if e.ID != "" || e.Seq != 0 || !e.ReceivedAt.IsZero() || e.IdempotencyKey != "" {
		fail("assigned fields set")
	}
	if !stele.ActionPattern.MatchString(e.Action) || len(e.Action) > stele.MaxActionLen {
		fail("bad action")
	}
	if c, ok := stele.Catalog[e.Action]; !ok || c != e.Category {
		fail("action not in catalog or category %q wrong", e.Category)
	}
	switch e.Outcome {
	case stele.OutcomeSuccess, stele.OutcomeFailure, stele.OutcomeUnknown:
	default:
		fail("outcome %q", e.Outcome)
	}
	if e.Time.Location() != time.UTC || !e.Time.Equal(e.Time.Truncate(stele.TimeUnit)) {
		fail("time not UTC microseconds")
	}
	for name, r := range map[string]*stele.Ref{"actor": e.Actor, "target": e.Target, "source": e.Source} {
		if r == nil {
			continue
		}
		if r.IsZero() || len(r.Type) > 64 || len(r.ID) > stele.MaxIDLen || len(r.Name) > stele.MaxTextLen {
			fail("%s ref %+v", name, r)
		}
		if name != "actor" && r.Email != "" {
			fail("%s has an email", name)
		}
		if r.Email != "" && (strings.LastIndexByte(r.Email, '@') < 1 || strings.ContainsAny(r.Email, " <>")) {
			fail("%s email %q", name, r.Email)
		}
	}
	if e.IP != "" {
		a, err := netip.ParseAddr(e.IP)
		if err != nil || a.Unmap().String() != e.IP {
			fail("ip %q", e.IP)
		}
	}
	if len(e.UserAgent) > 1024 || len(e.RequestID) > 256 || len(e.Description) > stele.MaxTextLen || e.Description == "" {
		fail("text field length")
	}
	if len(e.Metadata) > 10 {
		fail("%d metadata keys", len(e.Metadata))
	}
	for k, v := range e.Metadata {
		switch v := v.(type) {
		case string:
			if len(v) > stele.MaxMetadataValue {
				fail("metadata %s too long", k)
			}
		case json.Number:
			if _, err := v.Float64(); err != nil {
				fail("metadata %s = %q", k, v)
			}
		case bool:
		default:
			fail("metadata %s has type %T", k, v)
		}
	}
}

func TestEventsPassValidation(t *testing.T) {
	g := New(1, testStart, testEnd)
	total := 0
	for _, a := range g.Accounts() {
		evs := collect(t, g, a.Name)
		total += len(evs)
		var prev time.Time
		for i := range evs {
			e := &evs[i]
			checkEvent(t, e)
			if e.Account != a.Name {
				t.Fatalf("account %q, want %q", e.Account, a.Name)
			}
			if e.Time.Before(testStart) || e.Time.After(testEnd) || e.Time.Before(prev) {
				t.Fatalf("event %d at %s out of order or range (previous %s)", i, e.Time, prev)
			}
			prev = e.Time
		}
		t.Logf("%-8s %-10s %6d events, %5.0f a day", a.Name, a.Type, len(evs), float64(len(evs))/30)
	}
	if total < 100_000 || total > 200_000 {
		t.Errorf("%d events over 30 days, want 100k-200k", total)
	}
}

func TestAccountsIncludeAcme(t *testing.T) {
	accts := New(1, testStart, testEnd).Accounts()
	if len(accts) < 3 || len(accts) > 4 || accts[0].Name != "acme" {
		t.Fatalf("accounts %v", accts)
	}
	for _, a := range accts {
		if !stele.AccountNamePattern.MatchString(a.Name) {
			t.Errorf("bad account name %q", a.Name)
		}
	}
}

func TestEventsAreDeterministicForASeed(t *testing.T) {
	end := testStart.AddDate(0, 0, 3)
	a := collect(t, New(42, testStart, end), "globex")
	b := collect(t, New(42, testStart, end), "globex")
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different events")
	}
	g := New(42, testStart, end)
	if c := collect(t, g, "globex"); !reflect.DeepEqual(a, c) {
		t.Fatal("a second Events call on one generator gave different events")
	}
	if c := collect(t, New(43, testStart, end), "globex"); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same events")
	}
}

func TestEventsIncludeFailuresAndBruteForce(t *testing.T) {
	evs := collect(t, New(7, testStart, testEnd), "acme")
	failures, bursts := 0, 0
	for i := range evs {
		if evs[i].Outcome == stele.OutcomeFailure {
			failures++
		}
	}
	// A burst: 20 failed logins against one person from one address within 10 minutes.
	type key struct{ ip, actor string }
	var window []int
	seen := map[key]bool{}
	for i := range evs {
		e := &evs[i]
		if e.Action != "user.login_failed" {
			continue
		}
		window = append(window, i)
		for len(window) > 0 && e.Time.Sub(evs[window[0]].Time) > 10*time.Minute {
			window = window[1:]
		}
		counts := map[key]int{}
		for _, j := range window {
			k := key{evs[j].IP, evs[j].Actor.Email}
			counts[k]++
			if counts[k] >= 20 && !seen[k] {
				seen[k] = true
				bursts++
			}
		}
	}
	if failures < 100 {
		t.Errorf("%d failures in 30 days, want more", failures)
	}
	if bursts < 2 {
		t.Errorf("%d brute-force bursts in 30 days, want a few", bursts)
	}
	t.Logf("%d failures, %d bursts", failures, bursts)
}

func TestEventsFollowTheWorkingDay(t *testing.T) {
	p, _ := profileFor("acme")
	loc := time.FixedZone("acme", p.utcOffset*3600)
	var at10, at03, weekend10 int
	for _, e := range collect(t, New(3, testStart, testEnd), "acme") {
		l := e.Time.In(loc)
		weekend := l.Weekday() == time.Saturday || l.Weekday() == time.Sunday
		switch {
		case l.Hour() == 10 && !weekend:
			at10++
		case l.Hour() == 10:
			weekend10++
		case l.Hour() == 3 && !weekend:
			at03++
		}
	}
	if at10 < 3*at03 {
		t.Errorf("%d events at 10:00 on weekdays, %d at 03:00: want many more by day", at10, at03)
	}
	if weekend10*5/8 >= at10*2/22 { // per-day weekend load well below weekday load
		t.Errorf("weekends (%d at 10:00) as busy as weekdays (%d)", weekend10, at10)
	}
}

func TestEventsStopsAtTheFirstError(t *testing.T) {
	want := errors.New("stop")
	n := 0
	err := New(1, testStart, testEnd).Events("hooli", func(stele.Event) error {
		n++
		if n == 10 {
			return want
		}
		return nil
	})
	if err != want || n != 10 {
		t.Fatalf("err %v after %d events, want %v after 10", err, n, want)
	}
}

func TestEventsRejectsAnUnknownAccount(t *testing.T) {
	if err := New(1, testStart, testEnd).Events("nobody", func(stele.Event) error { return nil }); err == nil {
		t.Fatal("no error for an unknown account")
	}
}

func TestNextIsFreshAndValid(t *testing.T) {
	g := New(1, testStart, testEnd)
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	var wg sync.WaitGroup
	for _, acct := range []string{"acme", "globex", "loadtest"} {
		wg.Go(func() {
			actions := map[string]bool{}
			for range 2000 {
				e := g.Next(acct, at)
				if e.Account != acct || !e.Time.Equal(at.Truncate(time.Microsecond)) {
					t.Errorf("Next gave account %q time %s", e.Account, e.Time)
					return
				}
				actions[e.Action] = true
			}
			if len(actions) < 10 {
				t.Errorf("%s: only %d kinds of action from Next", acct, len(actions))
			}
		})
	}
	wg.Wait()
	for range 500 {
		e := g.Next("acme", at)
		checkEvent(t, &e)
	}
}

func BenchmarkEvents(b *testing.B) {
	g := New(1, testStart, testStart.AddDate(0, 0, 7))
	n := 0
	for b.Loop() {
		if err := g.Events("acme", func(stele.Event) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
