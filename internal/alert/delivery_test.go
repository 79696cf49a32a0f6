package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/notify"
	"github.com/stele-audit/stele/internal/smtptest"
)

const secret = "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCD"

var fastBackoff = notify.Backoff{First: 20 * time.Millisecond, Max: 100 * time.Millisecond, GiveUpAfter: time.Hour}

func TestPermissionChangeReachesWebhookSlackAndEmail(t *testing.T) {
	s := newStack(t)
	hook, hookSrv := newWebhookReceiver(t, secret)
	slackGot := make(chan map[string]any, 10)
	slackSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		slackGot <- m
	}))
	t.Cleanup(slackSrv.Close)
	var smtp notify.SMTPConfig
	var mail *smtptest.Server
	if os.Getenv("STELE_REQUIRE_SMTP") != "" || smtptestAvailable() {
		mail = smtptest.Start(t, smtptest.Options{Username: "stele-alerts", Password: "correct.horse.battery"})
		smtp = notify.SMTPConfig{Host: mail.Host, Port: mail.Port, Username: "stele-alerts", Password: "correct.horse.battery",
			From: "Stele Alerts <alerts@stele.example.com>", RootCAs: mail.RootCAs}
	}
	j := s.jobs(t, smtp, fastBackoff)
	dests := []notifyDestination{{Type: "webhook", URL: hookSrv.URL + "/stele", Secret: secret}, {Type: "slack", URL: slackSrv.URL + "/services/T/B/X"}}
	if mail != nil {
		dests = append(dests, notifyDestination{Type: "email", To: []string{"secops@example.com"}})
	}
	rule := s.rule(t, s.acme, Input{Name: "Role or permission changed", Query: "action:user.role_changed,user.permissions_changed", Destinations: dests})
	j.start(t)

	rs := s.ingest(t, s.acme, `{"action": "user.role_changed", "actor": {"id": "u_1", "email": "ada@acme.io"},
		"target": {"id": "u_2"}, "description": "<!channel> Ada made Bob an admin"}`)
	b := hook.next(t)
	if b.Rule.ID != rule.ID || b.Count != 1 || len(b.Events) != 1 || b.Events[0].ID != rs[0].ID || b.Account != "acme" ||
		b.Events[0].Description != "<!channel> Ada made Bob an admin" || b.Test || !strings.HasPrefix(b.URL, "https://stele.example.com/admin/audit-logs?q=") {
		t.Fatalf("webhook body: %+v", b)
	}
	// A replay of the captured delivery is acknowledged, not acted on; a
	// changed body fails the signature.
	hook.mu.Lock()
	first := hook.raw[0]
	hook.mu.Unlock()
	for i, body := range [][]byte{first.body, bytes.Replace(first.body, []byte(`"count":1`), []byte(`"count":9`), 1)} {
		req, _ := http.NewRequest("POST", hookSrv.URL+"/stele", bytes.NewReader(body))
		req.Header = first.header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := []int{http.StatusOK, http.StatusUnauthorized}[i]; resp.StatusCode != want {
			t.Fatalf("replay %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	hook.mu.Lock()
	if len(hook.bodies) != 1 || hook.repeated != 1 || hook.refused != 1 {
		t.Fatalf("receiver acted on %d, saw %d repeats and refused %d; want 1, 1, 1", len(hook.bodies), hook.repeated, hook.refused)
	}
	hook.mu.Unlock()

	select {
	case m := <-slackGot:
		text, _ := m["text"].(string)
		raw, _ := json.Marshal(m)
		if !strings.Contains(text, "Role or permission changed") || strings.Contains(string(raw), "<!channel>") {
			t.Fatalf("slack message: %s", raw)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no slack message")
	}
	if mail != nil {
		msgs := mail.Messages(t, 1)
		if !strings.Contains(msgs[0].Subject, "Role or permission changed") || !strings.Contains(msgs[0].Text, rs[0].ID) {
			t.Fatalf("mail subject %q, text %q", msgs[0].Subject, msgs[0].Text)
		}
	} else {
		t.Log("exim4 is not installed: the email destination was left out (STELE_REQUIRE_SMTP makes this a failure)")
	}

	fired := waitLogged(t, s, s.acme, "alert.fired", 1)
	if fired[0].Metadata["event_ids"] != rs[0].ID || fired[0].Metadata["count"] != "1" || fired[0].Target.ID != rule.ID ||
		fired[0].Metadata["alert_id"] != b.AlertID || fired[0].Category != stele.CategoryAudit {
		t.Fatalf("alert.fired = %+v", fired[0])
	}
	waitDelivered(t, s, rule.ID, len(dests))
}

// smtptestAvailable reports whether exim4 is installed (smtptest skips
// without it).
func smtptestAvailable() bool {
	for _, p := range []string{"/usr/sbin/exim4", "/usr/sbin/exim"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// waitLogged waits until the account's log holds n events with action.
func waitLogged(t *testing.T, s *stack, account *stele.Account, action string, n int) []*stele.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		es := s.logged(t, account, action)
		if len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s events after 30 s, want %d", len(es), action, n)
		}
		time.Sleep(tick) // polling the store: nothing tells a test when a record lands
	}
}

// waitDelivered waits until every delivery of the rule's firings is
// delivered, n of them.
func waitDelivered(t *testing.T, s *stack, ruleID string, n int) []Firing {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := s.rules.History(t.Context(), s.acme, ruleID, 1000)
		if err != nil {
			t.Fatal(err)
		}
		done, total := 0, 0
		for _, f := range h {
			for _, d := range f.Deliveries {
				total++
				if d.State == stele.DeliveryDelivered {
					done++
				}
			}
		}
		if done == n && total == n {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries delivered after 30 s, want %d: %+v", done, total, n, h)
		}
		time.Sleep(tick)
	}
}

func TestThresholdFiresOncePerGroupAndRespectsItsCooldown(t *testing.T) {
	s := newStack(t)
	j := s.jobs(t, notify.SMTPConfig{}, fastBackoff)
	j.clock.Add(-time.Hour) // events may be sent with past times; the evaluator's clock goes with them
	rule := s.rule(t, s.acme, Input{Name: "Failed logins", Query: "action:user.login_failed", Threshold: threshold(5, "10m", "actor"),
		Cooldown: "15m", Destinations: webhookTo("http://127.0.0.1:1/")})
	fail := func(user string, n int) {
		var evs []string
		at := j.clock.Now().UTC().Format(time.RFC3339Nano)
		for range n {
			evs = append(evs, fmt.Sprintf(`{"action": "user.login_failed", "actor": {"id": %q}, "outcome": "failure", "time": %q}`, user, at))
		}
		s.ingest(t, s.acme, `{"events": [`+strings.Join(evs, ",")+`]}`)
	}
	firings := func() []*stele.AlertFiring {
		t.Helper()
		if err := j.eval.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
		fs, err := s.db.AlertFirings(t.Context(), s.acme.ID, rule.ID, time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	fail("u_1", 4)
	fail("u_2", 4)
	if fs := firings(); len(fs) != 0 {
		t.Fatalf("4 failures each fired %d times", len(fs))
	}
	fail("u_1", 1)
	fs := firings()
	if len(fs) != 1 || fs[0].Count != 5 || len(fs[0].Seqs) != 5 {
		t.Fatalf("u_1's fifth failure: firings %+v, want one of 5", fs)
	}
	u1 := fs[0].Group
	j.clock.Add(time.Minute)
	fail("u_1", 7) // within u_1's cooldown: nothing
	if fs := firings(); len(fs) != 1 {
		t.Fatalf("within the cooldown: %d firings", len(fs))
	}
	fail("u_2", 1) // u_2's own cooldown is not running
	fs = firings()
	if len(fs) != 2 || fs[0].Group == u1 || fs[0].Count != 5 {
		t.Fatalf("u_2's fifth failure: %+v", fs)
	}
	fail("u_3", 3)
	if fs := firings(); len(fs) != 2 {
		t.Fatalf("u_3's 3 failures fired: %d", len(fs))
	}

	// A new leader rebuilds the windows from the store: u_3's three count,
	// u_2's five were spent by its firing.
	j.clock.Add(time.Minute)
	next := *j.eval
	next.rules, next.cursors = nil, nil
	j.eval = &next
	if fs := firings(); len(fs) != 2 {
		t.Fatalf("a new leader fired on what was counted before: %d firings", len(fs))
	}
	fail("u_2", 4)
	fail("u_3", 2)
	fs = firings()
	if len(fs) != 3 || fs[0].Count != 5 || fs[0].Group == u1 {
		t.Fatalf("u_3's fifth failure across leaders: %d firings, newest %+v", len(fs), fs[0])
	}

	// Past u_1's cooldown, its failures of 15 minutes ago have left the
	// window: one more is one, five more fire.
	j.clock.Add(15 * time.Minute)
	fail("u_1", 1)
	if fs := firings(); len(fs) != 3 {
		t.Fatalf("u_1's failure after the window fired: %d firings", len(fs))
	}
	fail("u_1", 4)
	fs = firings()
	if len(fs) != 4 || fs[0].Group != u1 || fs[0].Count != 5 {
		t.Fatalf("after the cooldown: %+v", fs[0])
	}
	records := waitLogged(t, s, s.acme, "alert.fired", 4)
	if records[0].Metadata["group_by"] != "actor" || records[0].Metadata["group"] != "u_1" || records[0].Metadata["count"] != "5" {
		t.Fatalf("alert.fired = %+v", records[0].Metadata)
	}
}

func TestReceiverDownDuringSteadyLoadGetsEveryAlert(t *testing.T) {
	s := newStack(t)
	hook, srv := newWebhookReceiver(t, secret)
	hook.setDown(true)
	j := s.jobs(t, notify.SMTPConfig{}, fastBackoff)
	rule := s.rule(t, s.acme, Input{Name: "Integrations", Query: "action:integration.removed",
		Destinations: []notifyDestination{{Type: "webhook", URL: srv.URL, Secret: secret}}})
	j.start(t)
	var ids []string
	for i := range 40 {
		rs := s.ingest(t, s.acme, fmt.Sprintf(`{"events": [{"action": "integration.removed", "description": "%d"}, {"action": "user.login"}]}`, i))
		ids = append(ids, rs[0].ID)
	}
	// Every one of the rule's firings was tried and refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, _ := s.rules.History(t.Context(), s.acme, rule.ID, 1000)
		n, tried := 0, 0
		for _, f := range h {
			n += f.Count
			if f.Deliveries[0].Attempts > 0 {
				tried++
			}
		}
		if n == 40 && tried == len(h) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d matching events in firings, %d of %d tried", n, tried, len(h))
		}
		time.Sleep(tick)
	}
	hook.setDown(false)
	h := waitDelivered(t, s, rule.ID, len(mustHistory(t, s, rule.ID)))
	got := map[string]bool{}
	hook.mu.Lock()
	for _, b := range hook.bodies {
		for _, e := range b.Events {
			got[e.ID] = true
		}
	}
	acted := len(hook.bodies)
	hook.mu.Unlock()
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("event %s never reached the receiver", id)
		}
	}
	if acted != len(h) {
		t.Fatalf("the receiver acted on %d deliveries for %d firings", acted, len(h))
	}
}

func mustHistory(t *testing.T, s *stack, ruleID string) []Firing {
	t.Helper()
	h, err := s.rules.History(t.Context(), s.acme, ruleID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDeliveryGivesUpAndRecordsItsFailure(t *testing.T) {
	s := newStack(t)
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	t.Cleanup(gone.Close)
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	t.Cleanup(busy.Close)
	j := s.jobs(t, notify.SMTPConfig{}, notify.Backoff{First: 10 * time.Millisecond, Max: 20 * time.Millisecond, GiveUpAfter: 300 * time.Millisecond})
	rule := s.rule(t, s.acme, Input{Name: "Exports", Query: "action:audit_log.exported", Destinations: []notifyDestination{
		{Type: "webhook", URL: gone.URL + "/path-is-secret?token=t0ps3cret", Secret: secret}, {Type: "webhook", URL: busy.URL, Secret: secret}}})
	j.start(t)
	s.ingest(t, s.acme, `{"action": "audit_log.exported"}`)
	failed := waitLogged(t, s, s.acme, "alert.delivery_failed", 2)
	for _, e := range failed {
		raw, _ := json.Marshal(e)
		if strings.Contains(string(raw), "t0ps3cret") || strings.Contains(string(raw), "path-is-secret") || strings.Contains(string(raw), secret) {
			t.Fatalf("alert.delivery_failed carries a secret: %s", raw)
		}
		if e.Target.ID != rule.ID || e.Outcome != stele.OutcomeFailure {
			t.Fatalf("alert.delivery_failed = %+v", e)
		}
	}
	// The record comes first, then the state: wait for both.
	deadline := time.Now().Add(30 * time.Second)
	h := mustHistory(t, s, rule.ID)
	for h[0].Deliveries[0].State != stele.DeliveryFailed || h[0].Deliveries[1].State != stele.DeliveryFailed {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v, want both failed", h[0].Deliveries)
		}
		time.Sleep(tick)
		h = mustHistory(t, s, rule.ID)
	}
	for _, d := range h[0].Deliveries {
		if d.LastError == "" {
			t.Fatalf("delivery %+v, want failed with its error", d)
		}
	}
	if a := h[0].Deliveries[0].Attempts; a != 1 {
		t.Fatalf("a 410 was tried %d times; a permanent failure is tried once", a)
	}
	if a := h[0].Deliveries[1].Attempts; a < 2 {
		t.Fatalf("a 503 was tried %d times before giving up", a)
	}
}

func TestSlowDestinationHoldsUpNoOther(t *testing.T) {
	s := newStack(t)
	release := make(chan struct{})
	var once sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-release
	}))
	t.Cleanup(func() { once.Do(func() { close(release) }); slow.Close() })
	hook, fast := newWebhookReceiver(t, secret)
	j := s.jobs(t, notify.SMTPConfig{}, fastBackoff)
	j.deliver.Workers = 2
	n, err := notify.New(notify.Config{ConsoleURL: "https://stele.example.com", URLPolicy: loopbackPolicy, HTTPTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	j.deliver.Notifier = n
	s.rule(t, s.acme, Input{Name: "Slow", Query: "action:integration.added", Destinations: []notifyDestination{{Type: "webhook", URL: slow.URL, Secret: secret}}})
	s.rule(t, s.acme, Input{Name: "Fast", Query: "action:integration.removed", Destinations: []notifyDestination{{Type: "webhook", URL: fast.URL, Secret: secret}}})
	// Ten deliveries to the slow receiver are due before the fast one's.
	for range 10 {
		s.ingest(t, s.acme, `{"action": "integration.added"}`)
		if err := j.eval.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	s.ingest(t, s.acme, `{"action": "integration.removed"}`)
	if err := j.eval.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.deliver.Run(ctx) }()
	if b := hook.next(t); b.Rule.Name != "Fast" {
		t.Fatalf("fast receiver got %+v", b)
	}
	once.Do(func() { close(release) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSendTestReachesEveryDestination(t *testing.T) {
	s := newStack(t)
	hook, srv := newWebhookReceiver(t, secret)
	s.jobs(t, notify.SMTPConfig{}, fastBackoff) // sets the notifier
	r := s.rule(t, s.acme, Input{Name: "Admins", Query: "action:user.role_changed", Destinations: []notifyDestination{
		{Type: "webhook", URL: srv.URL, Secret: secret}, {Type: "webhook", URL: "http://127.0.0.1:1/refused", Secret: secret}}})
	res, err := s.rules.Test(t.Context(), s.acme, r.ID, audit.CLI())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].OK || res[1].OK || res[1].Error == "" {
		t.Fatalf("test results %+v", res)
	}
	if b := hook.next(t); !b.Test || b.Rule.ID != r.ID {
		t.Fatalf("test body %+v", b)
	}
	if es := s.logged(t, s.acme, "alert_rule.tested"); len(es) != 1 || es[0].Outcome != stele.OutcomeFailure {
		t.Fatalf("alert_rule.tested: %+v", es)
	}
}

func TestNewLeaderDoesNotCountSpentMatchesAgain(t *testing.T) {
	s := newStack(t)
	j := s.jobs(t, notify.SMTPConfig{}, fastBackoff)
	rule := s.rule(t, s.acme, Input{Name: "Deleted findings", Query: "action:finding.deleted", Threshold: threshold(3, "1h", ""),
		Destinations: webhookTo("http://127.0.0.1:1/")})
	count := func() int {
		t.Helper()
		if err := j.eval.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
		fs, err := s.db.AlertFirings(t.Context(), s.acme.ID, rule.ID, time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(fs)
	}
	s.ingest(t, s.acme, `{"events": [{"action": "finding.deleted"}, {"action": "finding.deleted"}, {"action": "finding.deleted"}]}`)
	if n := count(); n != 1 {
		t.Fatalf("3 deletions: %d firings", n)
	}
	next := *j.eval
	next.rules, next.cursors = nil, nil
	j.eval = &next
	s.ingest(t, s.acme, `{"events": [{"action": "finding.deleted"}, {"action": "finding.deleted"}]}`)
	if n := count(); n != 1 {
		t.Fatalf("a new leader counted the fired deletions again: %d firings", n)
	}
	s.ingest(t, s.acme, `{"action": "finding.deleted"}`)
	if n := count(); n != 2 {
		t.Fatalf("3 new deletions: %d firings, want 2", n)
	}
}

// TestEventsPastRetentionFireNoRule: a back-fill of events already past
// the account's retention (not yet purged) matches no rule, as no read
// shows them; current events of the same kind still fire.
func TestEventsPastRetentionFireNoRule(t *testing.T) {
	s := newStack(t)
	j := s.jobs(t, notify.SMTPConfig{}, fastBackoff)
	s.path.Search.SetRetention([]stele.AccountType{{Name: "enterprise", RetentionDays: 30}}, nil)
	j.eval.Retention = s.path.Search
	rule := s.rule(t, s.acme, Input{Name: "Role changes", Query: "action:user.role_changed", Destinations: webhookTo("http://127.0.0.1:1/")})
	old := time.Now().Add(-40 * 24 * time.Hour).UTC().Format(time.RFC3339Nano)
	s.ingest(t, s.acme, `{"events": [{"action": "user.role_changed", "time": "`+old+`"}, {"action": "user.role_changed", "time": "`+old+`"}]}`)
	if len(s.matches(t, s.acme)) != 2 {
		t.Fatal("the back-filled events were not matched at ingest")
	}
	if err := j.eval.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fs, _ := s.db.AlertFirings(t.Context(), s.acme.ID, rule.ID, time.Time{}, 10); len(fs) != 0 {
		t.Fatalf("events past retention fired %d times", len(fs))
	}
	current := s.ingest(t, s.acme, `{"action": "user.role_changed"}`)
	if err := j.eval.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fs, _ := s.db.AlertFirings(t.Context(), s.acme.ID, rule.ID, time.Time{}, 10); len(fs) != 1 || !slices.Equal(fs[0].Seqs, []int64{current[0].Seq}) {
		t.Fatalf("a current event: firings %v, want one of seq %d", fs, current[0].Seq)
	}
}
