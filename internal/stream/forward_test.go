package stream_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/rsyslogtest"
	"github.com/stele-audit/stele/internal/stream"
)

// userEvents leaves out Stele's own events about the stream (stream.created
// and the like, recorded in the account's log after the stream starts),
// so that a test counts exactly the events it recorded.
const userEvents = "action:user.*"

func syslogTo(addr, format string) *stele.StreamDestination {
	return &stele.StreamDestination{Type: "syslog", Address: addr, Format: format}
}

// TestStreamForwardsMatchingEventsInOrderToRsyslog: a stream with a query
// sends, into a real rsyslogd, every event recorded after its creation
// that matches, in seq order, and nothing of another account; and once
// it has, its status shows no lag.
func TestStreamForwardsMatchingEventsInOrderToRsyslog(t *testing.T) {
	e := newEnv(t)
	rs := rsyslogtest.Start(t, rsyslogtest.Options{})
	e.record("acme", 10, time.Time{}) // before the stream: not sent
	v := e.create("acme", stream.Input{Name: "siem", Query: "action:user.role_changed", Destination: syslogTo(rs.Addr(), "json")})
	e.run()
	got := e.record("acme", 400, time.Time{})
	e.record("globex", 50, time.Time{})
	var want []string
	for i, r := range got {
		if i%2 == 1 {
			want = append(want, r.ID)
		}
	}
	msgs := rs.WaitFor(t.Context(), len(want))
	if ids := syslogIDs(t, msgs); !slices.Equal(ids, want) {
		t.Fatalf("rsyslog got %d events %v…, want %d %v…", len(ids), ids[:min(3, len(ids))], len(want), want[:3])
	}
	m := rsyslogtest.Parse(t, msgs[:1])[0]
	var first stele.Event
	if err := json.Unmarshal([]byte(strings.TrimPrefix(*m.Message, "\uFEFF")), &first); err != nil {
		t.Fatal(err)
	}
	if first.Account != "acme" || first.Action != "user.role_changed" || first.Actor.Email != "user1@example.com" {
		t.Fatalf("first message carries %+v", first)
	}
	e.until("the lag to fall to zero", func() bool {
		st := e.get("acme", v.ID).Status
		return st.LagEvents == 0 && st.Forwarded == int64(len(want))
	})
	st := e.get("acme", v.ID).Status
	if st.State != stream.StateRunning || st.LagSeconds != 0 || st.LastSentAt == nil || st.LastError != "" {
		t.Fatalf("status after catching up: %+v", st)
	}
	if n := len(rs.Messages()); n != len(want) {
		t.Fatalf("rsyslog holds %d messages, want %d", n, len(want))
	}
}

// TestStreamSendsHTTPSFormatsWithItsSealedHeaders: NDJSON, Splunk HEC and
// OCSF batches reach an HTTPS receiver with the stream's header, opened
// from its seal, and every event once, in order.
func TestStreamSendsHTTPSFormatsWithItsSealedHeaders(t *testing.T) {
	for _, format := range []string{"ndjson", "splunk_hec", "ocsf"} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			c := newCollector(t)
			e.trust(c)
			v := e.create("acme", stream.Input{Name: "lake", Query: userEvents, Destination: &stele.StreamDestination{Type: "https", URL: c.srv.URL + "/ingest?src=stele",
				Format: format, Headers: map[string]string{"Authorization": "Splunk 0b0e6a9c-token"}}})
			if len(v.Destination.HeaderNames) != 1 || strings.Contains(fmt.Sprint(v), "0b0e6a9c") {
				t.Fatalf("the view shows %+v", v.Destination)
			}
			e.run()
			got := e.record("acme", 1200, time.Time{})
			var lines []map[string]any
			e.until("every event at the receiver", func() bool { lines, _ = c.got(); return len(lines) >= len(got) })
			lines, headers := c.got()
			if len(lines) != len(got) {
				t.Fatalf("%d lines for %d events", len(lines), len(got))
			}
			for _, h := range headers {
				if h.Get("Authorization") != "Splunk 0b0e6a9c-token" {
					t.Fatalf("a request came with Authorization %q", h.Get("Authorization"))
				}
			}
			for i, line := range lines {
				var id any
				switch format {
				case "ndjson":
					id = line["id"]
				case "splunk_hec":
					id = line["event"].(map[string]any)["id"]
				case "ocsf":
					id = line["metadata"].(map[string]any)["uid"]
				}
				if id != got[i].ID {
					t.Fatalf("line %d is event %v, want %s", i, id, got[i].ID)
				}
			}
		})
	}
}

// TestStreamResumesFromItsStoredCursor: a forwarder stopped and started
// again (a restart, or another node taking the lead) goes on from the
// stored cursor: every event arrives, and those sent before the stop are
// not sent again.
func TestStreamResumesFromItsStoredCursor(t *testing.T) {
	e := newEnv(t)
	c := newCollector(t)
	e.trust(c)
	v := e.create("acme", stream.Input{Name: "lake", Query: userEvents, Destination: &stele.StreamDestination{Type: "https", URL: c.srv.URL, Format: "ndjson"}})
	stop := e.run()
	first := e.record("acme", 300, time.Time{})
	e.until("the first events at the receiver", func() bool { l, _ := c.got(); return len(l) == len(first) })
	stop()
	if st := e.get("acme", v.ID).Status; st.LagEvents != 0 || st.Forwarded != 300 {
		t.Fatalf("after a clean stop: %+v", st)
	}
	second := e.record("acme", 200, time.Time{})
	if st := e.get("acme", v.ID).Status; st.LagEvents != 200 || st.LagSeconds <= 0 {
		t.Fatalf("while stopped, with 200 events recorded: %+v", st)
	}
	e.run()
	all := append(first, second...)
	e.until("the rest at the receiver", func() bool { l, _ := c.got(); return len(l) >= len(all) })
	lines, _ := c.got()
	for i, l := range lines {
		if i >= len(all) || l["id"] != all[i].ID {
			t.Fatalf("line %d is %v: events sent again or out of order", i, l["id"])
		}
	}
	if len(lines) != len(all) {
		t.Fatalf("%d lines for %d events", len(lines), len(all))
	}
}

// TestStreamRetriesAFailingDestinationWithoutLosingEvents: while the
// receiver answers 503 the stream shows it failing, with the error, keeps
// its cursor and tries again; once the receiver is back every event
// arrives and the lag falls to zero.
func TestStreamRetriesAFailingDestinationWithoutLosingEvents(t *testing.T) {
	e := newEnv(t)
	c := newCollector(t)
	e.trust(c)
	c.setStatus(503)
	v := e.create("acme", stream.Input{Name: "lake", Query: userEvents, Destination: &stele.StreamDestination{Type: "https", URL: c.srv.URL, Format: "ndjson"}})
	e.run()
	got := e.record("acme", 250, time.Time{})
	e.until("a few refusals", func() bool { return c.refusals() >= 3 })
	e.until("the failing state", func() bool { return e.get("acme", v.ID).Status.State == stream.StateFailing })
	st := e.get("acme", v.ID).Status
	// 250, or 251 if the stream had not yet passed over stream.created.
	if !strings.Contains(st.LastError, "503") || st.LagEvents < 250 || st.Forwarded != 0 {
		t.Fatalf("while failing: %+v", st)
	}
	c.setStatus(0)
	e.until("every event", func() bool { l, _ := c.got(); return len(l) >= len(got) })
	e.until("the lag to fall to zero", func() bool { return e.get("acme", v.ID).Status.LagEvents == 0 })
	lines, _ := c.got()
	for i, l := range lines {
		if l["id"] != got[i].ID {
			t.Fatalf("line %d is %v, want %s", i, l["id"], got[i].ID)
		}
	}
	if st := e.get("acme", v.ID).Status; st.State != stream.StateRunning || st.LastError == "" {
		t.Fatalf("after recovering: %+v (the last error stays on show, older than the last send)", st)
	}
}

// TestStreamPausesWhenTheDestinationRefusesForGood: a 401 pauses the
// stream, with the error shown and stream.paused in the account's log;
// nothing is sent while it is paused; an update resumes it from its
// cursor, losing nothing.
func TestStreamPausesWhenTheDestinationRefusesForGood(t *testing.T) {
	e := newEnv(t)
	c, clock := newCollector(t), newCollector(t)
	e.trust(c, clock)
	c.setStatus(401)
	dest := &stele.StreamDestination{Type: "https", URL: c.srv.URL, Format: "ndjson", Headers: map[string]string{"Authorization": "Bearer wrong-token-123"}}
	v := e.create("acme", stream.Input{Name: "lake", Query: userEvents, Destination: dest})
	e.run()
	got := e.record("acme", 20, time.Time{})
	e.until("the pause", func() bool { return e.get("acme", v.ID).Status.State == stream.StatePaused })
	st := e.get("acme", v.ID).Status
	// The lag counts every event not yet read past: the 20, and perhaps
	// stream.created (if the stream had not yet passed over it) and
	// stream.paused.
	if st.PausedAt == nil || !strings.Contains(st.LastError, "401") || st.LagEvents < 20 || st.Forwarded != 0 {
		t.Fatalf("paused status %+v", st)
	}
	if strings.Contains(st.LastError, "wrong-token") || strings.Contains(e.logs.String(), "wrong-token") {
		t.Fatal("the header value shows in the error or the log")
	}
	// The pause is stored first, then recorded.
	var paused []*stele.Event
	e.until("stream.paused in the log", func() bool { paused = e.ownEvents("acme", "action:stream.paused"); return len(paused) > 0 })
	if len(paused) != 1 || paused[0].Target.ID != v.ID || paused[0].Outcome != stele.OutcomeFailure {
		t.Fatalf("stream.paused events: %+v", paused)
	}
	refused := c.refusals()
	e.until("the paused stream to stop running", func() bool { return len(e.fwd.Figures()) == 0 })
	e.record("acme", 5, time.Time{})
	// A second stream, made after those events, shows the forwarder has
	// reloaded the streams and read past them since; the paused one sent
	// nothing meanwhile.
	e.create("acme", stream.Input{Name: "clock", Query: "action:user.logout", Destination: &stele.StreamDestination{Type: "https", URL: clock.srv.URL, Format: "ndjson"}})
	if _, err := e.data.Ingest.Record(t.Context(), stele.Event{Account: "acme", Action: "user.logout"}); err != nil {
		t.Fatal(err)
	}
	e.until("the second stream's event", func() bool { l, _ := clock.got(); return len(l) == 1 })
	if n := c.refusals(); n != refused {
		t.Fatalf("a paused stream sent %d more requests", n-refused)
	}
	c.setStatus(0)
	dest.Headers = map[string]string{"Authorization": "Bearer right-token-456"}
	if _, err := e.svc.Update(t.Context(), e.owner("acme"), v.ID, stream.Input{Name: "lake", Query: userEvents, Destination: dest}, e.actor); err != nil {
		t.Fatal(err)
	}
	e.until("every event after the update", func() bool { l, _ := c.got(); return len(l) >= len(got)+5 })
	lines, headers := c.got()
	if lines[0]["id"] != got[0].ID || headers[0].Get("Authorization") != "Bearer right-token-456" {
		t.Fatalf("after the update the first line is %v with %q", lines[0]["id"], headers[0].Get("Authorization"))
	}
}

// TestStreamSkipsEventsPurgedBeforeItSentThem: a stream that starts at
// the oldest event, behind a retention purge, sends what is left and
// says how many it could not.
func TestStreamSkipsEventsPurgedBeforeItSentThem(t *testing.T) {
	e := newEnv(t)
	rs := rsyslogtest.Start(t, rsyslogtest.Options{})
	old := time.Now().Add(-48 * time.Hour)
	got := e.record("acme", 30, old)
	v := e.create("acme", stream.Input{Name: "siem", Query: userEvents, Start: "oldest", Destination: syslogTo(rs.Addr(), "cef")})
	acme := e.accts["acme"]
	cutoff := old.Add(10 * time.Second).UnixMicro() // the first ten events
	expired, err := e.db.ExpiredEvents(t.Context(), acme.ID, cutoff, nil, 100)
	if err != nil || len(expired) != 10 {
		t.Fatalf("expired: %+v, %v", expired, err)
	}
	if err := e.db.PurgeEvents(t.Context(), acme.ID, cutoff, expired, nil); err != nil {
		t.Fatalf("purge: %v", err)
	}
	e.run()
	msgs := rs.WaitFor(t.Context(), 20)
	if sent := syslogIDs(t, msgs); !slices.Equal(sent, ids(got[10:])) {
		t.Fatalf("rsyslog got %v, want the last 20 events", sent)
	}
	e.until("the skipped count", func() bool {
		st := e.get("acme", v.ID).Status
		return st.SkippedPurged == 10 && st.Forwarded == 20 && st.LagEvents == 0
	})
}

// TestStreamReplaySendsAWindowAgain: a replay sends the events of its
// window that match the query again, beside the live stream, is recorded
// in the account's log, and ends done with the count it sent.
func TestStreamReplaySendsAWindowAgain(t *testing.T) {
	e := newEnv(t)
	c := newCollector(t)
	e.trust(c)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	early := e.record("acme", 40, start) // before the stream: never sent live
	v := e.create("acme", stream.Input{Name: "lake", Query: "action:user.login", Destination: &stele.StreamDestination{Type: "https", URL: c.srv.URL, Format: "ndjson"}})
	e.run()
	rp, err := e.svc.Replay(t.Context(), e.owner("acme"), v.ID, start.Add(10*time.Second), start.Add(20*time.Second), e.actor)
	if err != nil {
		t.Fatal(err)
	}
	// Events 10 to 19; the logins among them are the even ones.
	var want []string
	for i := 10; i < 20; i += 2 {
		want = append(want, early[i].ID)
	}
	e.until("the replay to finish", func() bool {
		reps := e.get("acme", v.ID).Status.Replays
		return len(reps) == 1 && reps[0].State == stele.ReplayDone
	})
	lines, _ := c.got()
	var gotIDs []string
	for _, l := range lines {
		gotIDs = append(gotIDs, l["id"].(string))
	}
	if !slices.Equal(gotIDs, want) {
		t.Fatalf("the replay sent %v, want %v", gotIDs, want)
	}
	rep := e.get("acme", v.ID).Status.Replays[0]
	if rep.ID != rp.ID || rep.Sent != int64(len(want)) || rep.FinishedAt == nil {
		t.Fatalf("replay status %+v", rep)
	}
	recorded := e.ownEvents("acme", "action:stream.replayed")
	if len(recorded) != 1 || recorded[0].Metadata["replay"] != rp.ID {
		t.Fatalf("stream.replayed events %+v", recorded)
	}
	// The live stream went on meanwhile.
	live := e.record("acme", 4, time.Time{})
	e.until("the live events", func() bool { l, _ := c.got(); return len(l) == len(want)+2 })
	lines, _ = c.got()
	if lines[len(lines)-2]["id"] != live[0].ID || lines[len(lines)-1]["id"] != live[2].ID {
		t.Fatalf("live lines %v", lines[len(want):])
	}
}

// TestAllAccountsStreamWalksEveryAccountAndAnAccountStreamItsOwn: the
// operator's stream of every account gets each account's events, in
// order within each; an account's stream gets its own only.
func TestAllAccountsStreamWalksEveryAccountAndAnAccountStreamItsOwn(t *testing.T) {
	e := newEnv(t)
	every, acmeOnly := newCollector(t), newCollector(t)
	e.trust(every, acmeOnly)
	on := true
	e.create(stele.SystemAccount, stream.Input{Name: "platform", Query: userEvents, AllAccounts: &on,
		Destination: &stele.StreamDestination{Type: "https", URL: every.srv.URL, Format: "ndjson"}})
	e.create("acme", stream.Input{Name: "acme", Query: userEvents, Destination: &stele.StreamDestination{Type: "https", URL: acmeOnly.srv.URL, Format: "ndjson"}})
	e.run()
	a := e.record("acme", 120, time.Time{})
	g := e.record("globex", 80, time.Time{})
	e.until("both accounts at the platform's receiver", func() bool { l, _ := every.got(); return len(l) >= 200 })
	e.until("acme at its receiver", func() bool { l, _ := acmeOnly.got(); return len(l) >= 120 })
	byAccount := map[string][]string{}
	lines, _ := every.got()
	for _, l := range lines {
		byAccount[l["account"].(string)] = append(byAccount[l["account"].(string)], l["id"].(string))
	}
	if !slices.Equal(byAccount["acme"], ids(a)) || !slices.Equal(byAccount["globex"], ids(g)) {
		t.Fatalf("the platform stream got acme %d, globex %d events, or out of order", len(byAccount["acme"]), len(byAccount["globex"]))
	}
	lines, _ = acmeOnly.got()
	for _, l := range lines {
		if l["account"] != "acme" {
			t.Fatalf("acme's stream got an event of %v", l["account"])
		}
	}
	if len(lines) != 120 {
		t.Fatalf("acme's stream got %d events, want 120", len(lines))
	}
}

// TestStreamFiguresForMetrics: the node running a stream reports its lag,
// its forwarded count and its errors per account.
func TestStreamFiguresForMetrics(t *testing.T) {
	e := newEnv(t)
	c := newCollector(t)
	e.trust(c)
	v := e.create("acme", stream.Input{Name: "lake", Query: userEvents, Destination: &stele.StreamDestination{Type: "https", URL: c.srv.URL, Format: "ndjson"}})
	e.run()
	e.record("acme", 50, time.Time{})
	e.until("the figures", func() bool {
		figs := e.fwd.Figures()
		return len(figs) == 1 && len(figs[0].Accounts) == 1 && figs[0].Accounts[0].Forwarded == 50
	})
	f := e.fwd.Figures()[0]
	if f.Stream != v.ID || f.Name != "lake" || f.Owner != "acme" || f.Accounts[0].Account != "acme" || f.Accounts[0].LagEvents != 0 || f.Failing {
		t.Fatalf("figures %+v", f)
	}
	c.setStatus(500)
	e.record("acme", 1, time.Time{})
	e.until("an error in the figures", func() bool { f := e.fwd.Figures(); return len(f) == 1 && f[0].Errors > 0 && f[0].Failing })
	if err := e.svc.Delete(t.Context(), e.owner("acme"), v.ID, e.actor); err != nil {
		t.Fatal(err)
	}
	e.until("the stream to leave the figures", func() bool { return len(e.fwd.Figures()) == 0 })
}

// TestStreamForwardsOverTLSToRsyslog: a syslog stream with tls on reaches
// rsyslogd's gtls listener, verifying its certificate.
func TestStreamForwardsOverTLSToRsyslog(t *testing.T) {
	e := newEnv(t)
	rs := rsyslogtest.Start(t, rsyslogtest.Options{TLS: true})
	e.fwd.Options.RootCAs = rs.RootCAs()
	e.create("acme", stream.Input{Name: "siem", Query: userEvents,
		Destination: &stele.StreamDestination{Type: "syslog", Address: rs.Addr(), TLS: true, Format: "cef"}})
	e.run()
	got := e.record("acme", 300, time.Time{})
	if sent := syslogIDs(t, rs.WaitFor(t.Context(), len(got))); !slices.Equal(sent, ids(got)) {
		t.Fatalf("rsyslog got %d events, want %d in order", len(sent), len(got))
	}
}

// TestStreamForwardsWhatAnORQueryMatches: a stream's query may hold OR and
// parentheses; exactly the events it matches are forwarded, in order.
func TestStreamForwardsWhatAnORQueryMatches(t *testing.T) {
	e := newEnv(t)
	c := newCollector(t)
	e.trust(c)
	e.create("acme", stream.Input{Name: "lake", Query: "action:user.login OR (actor:u_1 -outcome:failure)",
		Destination: &stele.StreamDestination{Type: "https", URL: c.srv.URL, Format: "ndjson"}})
	e.run()
	got := e.record("acme", 40, time.Time{}) // even: user.login; odd: user.role_changed; actor u_<index>
	var want []string
	for k, r := range got {
		if k%2 == 0 || k == 1 {
			want = append(want, r.ID)
		}
	}
	var lines []map[string]any
	e.until("the matching events at the receiver", func() bool { lines, _ = c.got(); return len(lines) >= len(want) })
	var ids []string
	for _, line := range lines {
		ids = append(ids, fmt.Sprint(line["id"]))
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("forwarded %v\nwant      %v", ids, want)
	}
}

// TestStreamNeverForwardsEventsPastRetention: events stored already past
// their account's retention (a back-fill), and not yet purged, are not
// forwarded, live or by a replay, as no read shows them; they count as
// skipped.
func TestStreamNeverForwardsEventsPastRetention(t *testing.T) {
	e := newEnv(t)
	e.data.Search.SetRetention([]stele.AccountType{{Name: "enterprise", RetentionDays: 1}}, nil)
	e.fwd.Retention = e.data.Search
	rs := rsyslogtest.Start(t, rsyslogtest.Options{})
	expired := e.record("acme", 10, time.Now().Add(-72*time.Hour))
	current := e.record("acme", 10, time.Now().Add(-time.Hour))
	v := e.create("acme", stream.Input{Name: "siem", Query: userEvents, Start: "oldest", Destination: syslogTo(rs.Addr(), "cef")})
	e.run()
	msgs := rs.WaitFor(t.Context(), 10)
	if sent := syslogIDs(t, msgs); !slices.Equal(sent, ids(current)) {
		t.Fatalf("rsyslog got %v, want the 10 current events, not %v", sent, ids(expired))
	}
	e.until("the skipped count", func() bool {
		st := e.get("acme", v.ID).Status
		return st.SkippedPurged == 10 && st.Forwarded == 10 && st.LagEvents == 0
	})
	// A replay of a window holding both sends the current ones only.
	if _, err := e.svc.Replay(t.Context(), e.owner("acme"), v.ID, time.Now().Add(-100*time.Hour), time.Now(), e.actor); err != nil {
		t.Fatal(err)
	}
	e.until("the replay to finish", func() bool {
		reps := e.get("acme", v.ID).Status.Replays
		return len(reps) == 1 && reps[0].State == stele.ReplayDone
	})
	if sent := e.get("acme", v.ID).Status.Replays[0].Sent; sent != 10 {
		t.Fatalf("the replay sent %d events, want the 10 current ones", sent)
	}
	if sent := syslogIDs(t, rs.WaitFor(t.Context(), 20)[10:]); !slices.Equal(sent, ids(current)) {
		t.Fatalf("the replay sent %v, want %v", sent, ids(current))
	}
}
