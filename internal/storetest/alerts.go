package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// runAlerts is the contract of stele.AlertStore and of the two AppendTx
// methods that write the alert outbox.
func runAlerts(t *testing.T, open func(t *testing.T) stele.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s stele.Store)
	}{
		{"AlertRulesCreateReadUpdateDelete", testAlertRules},
		{"AlertRulesBelongToTheirAccount", testAlertRuleTenancy},
		{"AlertRuleGenerationMovesOnEveryRuleChange", testAlertRuleGeneration},
		{"AlertRulesPerAccountAreBounded", testAlertRuleLimit},
		{"AlertMatchesCommitWithTheirEvents", testAlertMatches},
		{"AlertRoundStoresFiringsDeliveriesCursorsAtOnce", testAlertRound},
		{"AlertDeliveriesDueUpdatedAndListed", testAlertDeliveries},
		{"AlertHistoryPrunedPastRetention", testPruneAlertHistory},
		{"DeleteAccountRemovesItsAlerts", testDeleteAccountAlerts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func alertRule(acct *stele.Account, id string) *stele.AlertRule {
	return &stele.AlertRule{ID: id, AccountID: acct.ID, Name: "Rule " + id, Query: "action:user.role_changed",
		Threshold: &stele.AlertThreshold{Count: 5, Window: 10 * time.Minute, GroupBy: stele.GroupByActor},
		Cooldown:  15 * time.Minute, Enabled: true, Destinations: "sealed1.1.blob-" + id}
}

func mustRule(t *testing.T, s stele.Store, r *stele.AlertRule) *stele.AlertRule {
	t.Helper()
	if err := s.CreateAlertRule(ctx(t), r); err != nil {
		t.Fatalf("create alert rule %s: %v", r.ID, err)
	}
	return r
}

func sameRule(t *testing.T, got, want *stele.AlertRule) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Fatalf("rule %s times %v/%v, want %v/%v", w.ID, g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("rule read back\n%+v\nwant\n%+v", g, w)
	}
}

func testAlertRules(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	before := time.Now().Add(-time.Second)
	r1 := mustRule(t, s, alertRule(a, "rul_1"))
	if r1.CreatedAt.Before(before) || !r1.CreatedAt.Equal(r1.UpdatedAt) || r1.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt %v UpdatedAt %v: want now, equal, UTC", r1.CreatedAt, r1.UpdatedAt)
	}
	plain := alertRule(a, "rul_2")
	plain.Threshold, plain.Cooldown, plain.Enabled = nil, 0, false
	mustRule(t, s, plain)
	got, err := s.AlertRule(ctx(t), a.ID, "rul_1")
	if err != nil {
		t.Fatal(err)
	}
	sameRule(t, got, r1)
	got, err = s.AlertRule(ctx(t), a.ID, "rul_2")
	if err != nil {
		t.Fatal(err)
	}
	sameRule(t, got, plain)
	wantCode(t, s.CreateAlertRule(ctx(t), alertRule(a, "rul_1")), stele.ECONFLICT)
	wantCode(t, s.CreateAlertRule(ctx(t), alertRule(&stele.Account{ID: a.ID + 1000}, "rul_x")), stele.ENOTFOUND)

	list, err := s.AlertRules(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "rul_1" || list[1].ID != "rul_2" {
		t.Fatalf("AlertRules = %v, want rul_1, rul_2 oldest first", ruleIDs(list))
	}
	enabled, _, err := s.EnabledAlertRules(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ids := ruleIDs(enabled); !slices.Equal(ids, []string{"rul_1"}) {
		t.Fatalf("EnabledAlertRules = %v, want [rul_1]", ids)
	}

	upd := *r1
	upd.Name, upd.Query, upd.Threshold, upd.Cooldown, upd.Enabled, upd.Destinations = "Renamed", "action:integration.removed", nil, time.Minute, false, "sealed1.1.new"
	was, err := s.UpdateAlertRule(ctx(t), &upd)
	if err != nil {
		t.Fatal(err)
	}
	sameRule(t, was, r1)
	if !upd.CreatedAt.Equal(r1.CreatedAt) || upd.UpdatedAt.Before(r1.UpdatedAt) {
		t.Fatalf("after update CreatedAt %v UpdatedAt %v, want %v and later", upd.CreatedAt, upd.UpdatedAt, r1.CreatedAt)
	}
	got, _ = s.AlertRule(ctx(t), a.ID, "rul_1")
	sameRule(t, got, &upd)
	missing := alertRule(a, "rul_nope")
	if _, err := s.UpdateAlertRule(ctx(t), missing); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("update of a missing rule: %v, want not_found", err)
	}

	was, err = s.DeleteAlertRule(ctx(t), a.ID, "rul_2")
	if err != nil {
		t.Fatal(err)
	}
	sameRule(t, was, plain)
	if _, err := s.AlertRule(ctx(t), a.ID, "rul_2"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("deleted rule read back: %v", err)
	}
	if _, err := s.DeleteAlertRule(ctx(t), a.ID, "rul_2"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("second delete: %v, want not_found", err)
	}
}

func ruleIDs(rs []*stele.AlertRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func testAlertRuleTenancy(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	mustRule(t, s, alertRule(a, "rul_a"))
	if _, err := s.AlertRule(ctx(t), b.ID, "rul_a"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("beta read acme's rule: %v", err)
	}
	cross := alertRule(b, "rul_a")
	if _, err := s.UpdateAlertRule(ctx(t), cross); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("beta updated acme's rule: %v", err)
	}
	if _, err := s.DeleteAlertRule(ctx(t), b.ID, "rul_a"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("beta deleted acme's rule: %v", err)
	}
	if list, _ := s.AlertRules(ctx(t), b.ID); len(list) != 0 {
		t.Fatalf("beta lists %v", ruleIDs(list))
	}
	got, err := s.AlertRule(ctx(t), a.ID, "rul_a")
	if err != nil || got.Name != "Rule rul_a" {
		t.Fatalf("acme's rule after beta's attempts: %+v, %v", got, err)
	}
}

func ruleGenerationMoved(t *testing.T, s stele.Store, before int64, what string) int64 {
	t.Helper()
	now, err := s.AlertRuleGeneration(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if now == before {
		t.Fatalf("alert rule generation stayed at %d after %s", now, what)
	}
	return now
}

func testAlertRuleGeneration(t *testing.T, s stele.Store) {
	g, err := s.AlertRuleGeneration(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	a := mustAccount(t, s, "acme")
	appendRows(t, s, a.ID, []stele.EventRow{eventRow(a.ID, 0)}, nil)
	if now, _ := s.AlertRuleGeneration(ctx(t)); now != g {
		t.Fatalf("rule generation moved from %d to %d without a rule change", g, now)
	}
	r := mustRule(t, s, alertRule(a, "rul_g"))
	g = ruleGenerationMoved(t, s, g, "a rule was created")
	r.Enabled = false
	if _, err := s.UpdateAlertRule(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	g = ruleGenerationMoved(t, s, g, "a rule was disabled")
	_, gen, err := s.EnabledAlertRules(ctx(t))
	if err != nil || gen != g {
		t.Fatalf("EnabledAlertRules read generation %d, %v; the store's is %d", gen, err, g)
	}
	var inTx int64
	if err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		var err error
		inTx, err = tx.AlertRuleGeneration(ctx(t))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inTx != g {
		t.Fatalf("AppendTx.AlertRuleGeneration read %d, the store's is %d", inTx, g)
	}
	if _, err := s.DeleteAlertRule(ctx(t), a.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	ruleGenerationMoved(t, s, g, "a rule was deleted")
}

func testAlertRuleLimit(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	for i := range stele.MaxAlertRules {
		mustRule(t, s, alertRule(a, fmt.Sprintf("rul_%03d", i)))
	}
	wantCode(t, s.CreateAlertRule(ctx(t), alertRule(a, "rul_over")), stele.ECONFLICT)
	// The bound is per account.
	mustRule(t, s, alertRule(b, "rul_b"))
}

// appendWithMatches appends rows and matches in one transaction, as the
// ingest writer does.
func appendWithMatches(t *testing.T, s stele.Store, account int64, rows []stele.EventRow, ms []stele.AlertMatch) error {
	t.Helper()
	return s.Append(ctx(t), func(tx stele.AppendTx) error {
		h, err := tx.Head(ctx(t), account)
		if err != nil {
			return err
		}
		if err := tx.InsertEvents(ctx(t), rows); err != nil {
			return err
		}
		if err := tx.InsertAlertMatches(ctx(t), ms); err != nil {
			return err
		}
		h.Size += int64(len(rows))
		h.Frontier = [][32]byte{hashOf("frontier", account, h.Size)}
		return tx.SetHead(ctx(t), h)
	})
}

func testAlertMatches(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	ka, kb := mustRule(t, s, alertRule(a, "rul_a")).Key, mustRule(t, s, alertRule(a, "rul_b")).Key
	if ka == 0 || kb == 0 || ka == kb {
		t.Fatalf("rule keys %d and %d: want two distinct, non-zero", ka, kb)
	}
	var rows []stele.EventRow
	var ms []stele.AlertMatch
	for seq := range int64(100) {
		rows = append(rows, eventRow(a.ID, seq))
		if seq%3 == 0 {
			ms = append(ms, stele.AlertMatch{AccountID: a.ID, Rule: kb, Seq: seq, Time: base + seq*1000, Group: 7})
			ms = append(ms, stele.AlertMatch{AccountID: a.ID, Rule: ka, Seq: seq, Time: base + seq*1000})
		}
	}
	if err := appendWithMatches(t, s, a.ID, rows, ms); err != nil {
		t.Fatal(err)
	}
	// A failed append stores neither its events nor its matches.
	bad := []stele.AlertMatch{{AccountID: b.ID, Rule: ka, Seq: 0, Time: base}}
	badRows := []stele.EventRow{eventRow(b.ID, 0), eventRow(b.ID, 0)}
	if err := appendWithMatches(t, s, b.ID, badRows, bad); err == nil {
		t.Fatal("an append of a duplicate seq succeeded")
	}
	heads, err := s.AlertHeads(ctx(t), []int64{a.ID, b.ID})
	if err != nil {
		t.Fatal(err)
	}
	if heads[a.ID] != 100 || heads[b.ID] != 0 || len(heads) != 2 {
		t.Fatalf("AlertHeads = %v, want acme 100 and beta 0", heads)
	}
	if got, _ := s.AlertMatches(ctx(t), b.ID, 0, 100, 1000); len(got) != 0 {
		t.Fatalf("beta has matches %v after its append failed", got)
	}
	got, err := s.AlertMatches(ctx(t), a.ID, 3, 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	m := func(rule, seq, grp int64) stele.AlertMatch {
		return stele.AlertMatch{AccountID: a.ID, Rule: rule, Seq: seq, Time: base + seq*1000, Group: grp}
	}
	want := []stele.AlertMatch{m(kb, 3, 7), m(ka, 3, 0), m(kb, 6, 7), m(ka, 6, 0), m(kb, 9, 7), m(ka, 9, 0)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AlertMatches [3, 10) =\n%v\nwant\n%v", got, want)
	}
	if got, _ := s.AlertMatches(ctx(t), a.ID, 0, 100, 3); seqsOf(got) != "[0 0 3 3 6 6]" {
		t.Fatalf("AlertMatches with limit 3 = %v, want the matches of 3 events", got)
	}
	// Tenancy: beta sees none of acme's.
	if got, _ := s.AlertMatches(ctx(t), b.ID, 0, 1000, 1000); len(got) != 0 {
		t.Fatalf("beta reads %v", got)
	}
	win, err := s.RuleMatches(ctx(t), a.ID, kb, 30, base+20_000)
	if err != nil {
		t.Fatal(err)
	}
	if seqsOf(win) != "[21 24 27]" {
		t.Fatalf("RuleMatches(rul_b, seq < 30, time >= +20ms) = %v, want seqs 21 24 27", seqsOf(win))
	}
	if got, _ := s.RuleMatches(ctx(t), a.ID, ka, 1000, 0); len(got) != 34 {
		t.Fatalf("rul_a has %d matches, want 34", len(got))
	}
	// A deleted rule's key is never given again: its matches, left for
	// the pruning, can never count as another rule's.
	if _, err := s.DeleteAlertRule(ctx(t), a.ID, "rul_b"); err != nil {
		t.Fatal(err)
	}
	if kc := mustRule(t, s, alertRule(a, "rul_c")).Key; kc == ka || kc == kb {
		t.Fatalf("a new rule got key %d again", kc)
	}
}

func seqsOf(ms []stele.AlertMatch) string {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return fmt.Sprint(out)
}

func firing(acct *stele.Account, id, rule string, at time.Time) *stele.AlertFiring {
	return &stele.AlertFiring{ID: id, AccountID: acct.ID, RuleID: rule, RuleName: "Failed logins", Query: "action:user.login_failed",
		Threshold:    &stele.AlertThreshold{Count: 5, Window: 10 * time.Minute, GroupBy: stele.GroupByActor},
		Destinations: "sealed1.1.dests", Count: 6, Group: 42, Seqs: []int64{3, 4, 5, 6, 7, 8}, LastSeq: 8,
		WindowStart: base, WindowEnd: base + 600_000_000, FiredAt: at.UTC().Truncate(stele.TimeUnit)}
}

func delivery(f *stele.AlertFiring, id string, dest int, next time.Time) *stele.AlertDelivery {
	at := f.FiredAt
	return &stele.AlertDelivery{ID: id, AccountID: f.AccountID, FiringID: f.ID, Destination: dest, State: stele.DeliveryPending,
		NextAttempt: next.UTC().Truncate(stele.TimeUnit), CreatedAt: at, UpdatedAt: at}
}

func testAlertRound(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	var rows []stele.EventRow
	var ms []stele.AlertMatch
	for seq := range int64(10) {
		rows = append(rows, eventRow(a.ID, seq))
		ms = append(ms, stele.AlertMatch{AccountID: a.ID, Rule: 1, Seq: seq, Time: base + seq*1000})
	}
	if err := appendWithMatches(t, s, a.ID, rows, ms); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	f1 := firing(a, "alr_1", "rul_a", now.Add(-time.Hour))
	f2 := firing(a, "alr_2", "rul_a", now)
	f2.Threshold, f2.Group, f2.WindowStart, f2.WindowEnd, f2.Seqs = nil, 0, 0, 0, nil
	round := &stele.AlertRound{
		Firings:    []*stele.AlertFiring{f1, f2},
		Deliveries: []*stele.AlertDelivery{delivery(f1, "dlv_1", 0, now), delivery(f1, "dlv_2", 1, now), delivery(f2, "dlv_3", 0, now)},
		Cursors:    map[int64]int64{a.ID: 8, b.ID: 0},
		Prune:      []stele.AlertPrune{{AccountID: a.ID, BeforeSeq: 8, BeforeTime: base + 5000}},
	}
	if err := s.CommitAlertRound(ctx(t), round); err != nil {
		t.Fatal(err)
	}
	cur, err := s.AlertCursors(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cur, map[int64]int64{a.ID: 8, b.ID: 0}) {
		t.Fatalf("AlertCursors = %v", cur)
	}
	// Pruned: seq < 8 and time before +5ms, that is seqs 0..4.
	left, _ := s.AlertMatches(ctx(t), a.ID, 0, 100, 100)
	if seqsOf(left) != "[5 6 7 8 9]" {
		t.Fatalf("matches left after prune: %v, want 5..9", seqsOf(left))
	}
	got, err := s.AlertFiring(ctx(t), a.ID, "alr_1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f1) {
		t.Fatalf("firing read back\n%+v\nwant\n%+v", got, f1)
	}
	if _, err := s.AlertFiring(ctx(t), b.ID, "alr_1"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("beta reads acme's firing: %v", err)
	}
	hist, err := s.AlertFirings(ctx(t), a.ID, "rul_a", now.Add(-2*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].ID != "alr_2" || hist[1].ID != "alr_1" || hist[0].Threshold != nil || hist[0].Seqs != nil {
		t.Fatalf("AlertFirings = %+v, want alr_2 (no threshold) then alr_1", hist)
	}
	if hist, _ := s.AlertFirings(ctx(t), a.ID, "rul_a", now.Add(-time.Minute), 10); len(hist) != 1 {
		t.Fatalf("AlertFirings since a minute ago: %d, want 1", len(hist))
	}
	un, err := s.UnrecordedAlertFirings(ctx(t), 10)
	if err != nil || len(un) != 2 || un[0].ID != "alr_1" {
		t.Fatalf("UnrecordedAlertFirings = %v, %v", un, err)
	}
	if err := s.MarkAlertFiringRecorded(ctx(t), a.ID, "alr_1"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.MarkAlertFiringRecorded(ctx(t), b.ID, "alr_2"), stele.ENOTFOUND)
	if un, _ := s.UnrecordedAlertFirings(ctx(t), 10); len(un) != 1 || un[0].ID != "alr_2" {
		t.Fatalf("after marking alr_1: unrecorded %v", un)
	}

	// A round that fails stores nothing of itself.
	dup := &stele.AlertRound{
		Firings:    []*stele.AlertFiring{firing(a, "alr_3", "rul_a", now), firing(a, "alr_1", "rul_a", now)},
		Deliveries: []*stele.AlertDelivery{delivery(f1, "dlv_9", 0, now)},
		Cursors:    map[int64]int64{a.ID: 10},
		Prune:      []stele.AlertPrune{{AccountID: a.ID, BeforeSeq: 100, BeforeTime: base + 100_000}},
	}
	wantCode(t, s.CommitAlertRound(ctx(t), dup), stele.ECONFLICT)
	if _, err := s.AlertFiring(ctx(t), a.ID, "alr_3"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("a failed round left its firing: %v", err)
	}
	if cur, _ := s.AlertCursors(ctx(t)); cur[a.ID] != 8 {
		t.Fatalf("a failed round moved the cursor to %d", cur[a.ID])
	}
	if left, _ := s.AlertMatches(ctx(t), a.ID, 0, 100, 100); len(left) != 5 {
		t.Fatalf("a failed round pruned matches: %v", seqsOf(left))
	}
	if ds, _ := s.AlertDeliveries(ctx(t), a.ID, f1.ID); len(ds) != 2 {
		t.Fatalf("a failed round left deliveries: %d", len(ds))
	}
}

func testAlertDeliveries(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	fa, fb := firing(a, "alr_a", "rul_a", now), firing(b, "alr_b", "rul_b", now)
	d1, d2, d3 := delivery(fa, "dlv_1", 0, now.Add(-time.Minute)), delivery(fa, "dlv_2", 1, now.Add(time.Hour)), delivery(fb, "dlv_3", 0, now.Add(-2*time.Minute))
	if err := s.CommitAlertRound(ctx(t), &stele.AlertRound{Firings: []*stele.AlertFiring{fa, fb}, Deliveries: []*stele.AlertDelivery{d1, d2, d3}}); err != nil {
		t.Fatal(err)
	}
	next, ok, err := s.NextAlertDelivery(ctx(t))
	if err != nil || !ok || !next.Equal(d3.NextAttempt) {
		t.Fatalf("NextAlertDelivery = %v, %v, %v; want %v", next, ok, err, d3.NextAttempt)
	}
	due, err := s.DueAlertDeliveries(ctx(t), now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].ID != "dlv_3" || due[1].ID != "dlv_1" {
		t.Fatalf("DueAlertDeliveries = %v, want dlv_3, dlv_1 (every account, soonest first)", due)
	}
	if !reflect.DeepEqual(due[1], d1) {
		t.Fatalf("delivery read back\n%+v\nwant\n%+v", due[1], d1)
	}
	d1.State, d1.Attempts, d1.LastError = stele.DeliveryDelivered, 2, ""
	if err := s.UpdateAlertDelivery(ctx(t), d1); err != nil {
		t.Fatal(err)
	}
	d3.Attempts, d3.NextAttempt, d3.LastError, d3.Pending = 1, now.Add(30*time.Second), "email delivery failed (retryable): 451", []int{0, 2}
	if err := s.UpdateAlertDelivery(ctx(t), d3); err != nil {
		t.Fatal(err)
	}
	wrong := *d2
	wrong.AccountID = b.ID
	wantCode(t, s.UpdateAlertDelivery(ctx(t), &wrong), stele.ENOTFOUND)
	if due, _ := s.DueAlertDeliveries(ctx(t), now, 10); len(due) != 0 {
		t.Fatalf("due after updates: %v", due)
	}
	list, err := s.AlertDeliveries(ctx(t), a.ID, "alr_a")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "dlv_1" || list[0].State != stele.DeliveryDelivered || list[0].Attempts != 2 || list[1].ID != "dlv_2" {
		t.Fatalf("AlertDeliveries = %+v", list)
	}
	if got, _ := s.AlertDeliveries(ctx(t), b.ID, "alr_b"); len(got) != 1 || got[0].LastError != d3.LastError || !got[0].NextAttempt.Equal(d3.NextAttempt) || fmt.Sprint(got[0].Pending) != "[0 2]" {
		t.Fatalf("beta's delivery = %+v", got)
	}
	if got, _ := s.AlertDeliveries(ctx(t), b.ID, "alr_a"); len(got) != 0 {
		t.Fatalf("beta lists acme's deliveries: %v", got)
	}
	d2.State = stele.DeliveryFailed
	if err := s.UpdateAlertDelivery(ctx(t), d2); err != nil {
		t.Fatal(err)
	}
	d3.State = stele.DeliveryDelivered
	if err := s.UpdateAlertDelivery(ctx(t), d3); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.NextAlertDelivery(ctx(t)); ok {
		t.Fatal("NextAlertDelivery found one with none pending")
	}
}

func testDeleteAccountAlerts(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	now := time.Now()
	for _, acct := range []*stele.Account{a, b} {
		mustRule(t, s, alertRule(acct, "rul_"+acct.Name))
		if err := appendWithMatches(t, s, acct.ID, []stele.EventRow{eventRow(acct.ID, 0)},
			[]stele.AlertMatch{{AccountID: acct.ID, Rule: 1, Seq: 0, Time: base}}); err != nil {
			t.Fatal(err)
		}
		f := firing(acct, "alr_"+acct.Name, "rul_"+acct.Name, now)
		if err := s.CommitAlertRound(ctx(t), &stele.AlertRound{Firings: []*stele.AlertFiring{f},
			Deliveries: []*stele.AlertDelivery{delivery(f, "dlv_"+acct.Name, 0, now)}, Cursors: map[int64]int64{acct.ID: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeleteAccountEvents(ctx(t), a.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.AlertRules(ctx(t), a.ID); len(list) != 0 {
		t.Fatal("acme's rules outlived it")
	}
	if ms, _ := s.AlertMatches(ctx(t), a.ID, 0, 10, 10); len(ms) != 0 {
		t.Fatal("acme's matches outlived it")
	}
	if _, err := s.AlertFiring(ctx(t), a.ID, "alr_acme"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatal("acme's firing outlived it")
	}
	if ds, _ := s.AlertDeliveries(ctx(t), a.ID, "alr_acme"); len(ds) != 0 {
		t.Fatal("acme's deliveries outlived it")
	}
	if cur, _ := s.AlertCursors(ctx(t)); cur[a.ID] != 0 || cur[b.ID] != 1 {
		t.Fatalf("cursors after acme's deletion: %v", cur)
	}
	if list, _ := s.AlertRules(ctx(t), b.ID); len(list) != 1 {
		t.Fatal("beta's rules went too")
	}
	if due, _ := s.DueAlertDeliveries(ctx(t), now.Add(time.Minute), 10); len(due) != 1 || due[0].AccountID != b.ID {
		t.Fatalf("due after acme's deletion: %v", due)
	}
}

// testPruneAlertHistory: a firing before the cutoff goes, with its
// deliveries, once its alert.fired is recorded and no delivery of it is
// pending; a newer one, one not yet recorded, one with a pending delivery
// and another account's all stay.
func testPruneAlertHistory(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	cutoff := now.Add(-24 * time.Hour)
	old, oldPending, oldUnrecorded := firing(a, "alr_old", "rul_a", cutoff.Add(-time.Hour)), firing(a, "alr_pend", "rul_a", cutoff.Add(-time.Hour)), firing(a, "alr_unrec", "rul_a", cutoff.Add(-time.Hour))
	recent, other := firing(a, "alr_new", "rul_a", cutoff.Add(time.Hour)), firing(b, "alr_b", "rul_b", cutoff.Add(-time.Hour))
	done, failed, pending := delivery(old, "dlv_done", 0, now), delivery(old, "dlv_failed", 1, now), delivery(oldPending, "dlv_pend", 0, now)
	sent := delivery(oldPending, "dlv_sent", 1, now)
	done.State, failed.State, sent.State = stele.DeliveryDelivered, stele.DeliveryFailed, stele.DeliveryDelivered
	round := &stele.AlertRound{Firings: []*stele.AlertFiring{old, oldPending, oldUnrecorded, recent, other},
		Deliveries: []*stele.AlertDelivery{done, failed, pending, sent, delivery(other, "dlv_b", 0, now)}}
	if err := s.CommitAlertRound(ctx(t), round); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*stele.AlertFiring{old, oldPending, recent, other} {
		if err := s.MarkAlertFiringRecorded(ctx(t), f.AccountID, f.ID); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAlertHistory(ctx(t), a.ID, cutoff)
	if err != nil || n != 1 {
		t.Fatalf("PruneAlertHistory = %d, %v; want the one old firing recorded and delivered", n, err)
	}
	wantCode(t, func() error { _, err := s.AlertFiring(ctx(t), a.ID, "alr_old"); return err }(), stele.ENOTFOUND)
	if ds, _ := s.AlertDeliveries(ctx(t), a.ID, "alr_old"); len(ds) != 0 {
		t.Fatalf("the pruned firing's deliveries stayed: %v", ds)
	}
	for _, f := range []*stele.AlertFiring{oldPending, oldUnrecorded, recent, other} {
		if _, err := s.AlertFiring(ctx(t), f.AccountID, f.ID); err != nil {
			t.Fatalf("firing %s: %v", f.ID, err)
		}
	}
	if ds, _ := s.AlertDeliveries(ctx(t), a.ID, "alr_pend"); len(ds) != 2 {
		t.Fatalf("a firing with a pending delivery kept %d deliveries, want both", len(ds))
	}
	if ds, _ := s.AlertDeliveries(ctx(t), b.ID, "alr_b"); len(ds) != 1 {
		t.Fatalf("beta's delivery: %v", ds)
	}
	// Once the last delivery is done, the next pass takes it.
	pending.State = stele.DeliveryDelivered
	if err := s.UpdateAlertDelivery(ctx(t), pending); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneAlertHistory(ctx(t), a.ID, cutoff); err != nil || n != 1 {
		t.Fatalf("second PruneAlertHistory = %d, %v; want the firing whose delivery finished", n, err)
	}
}
