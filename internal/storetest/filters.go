package storetest

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// filterRows is the data set of the filter tests: every kind of value,
// absent (zero) tokens included, and times with ties.
func filterRows(account int64) []stele.EventRow {
	actions := []string{"user.login", "user.logout", "user.login_failed", "api_key.created", "finding.generated", "user", "users.x"}
	cats := []string{stele.CategoryAuthentication, stele.CategoryAuthentication, stele.CategoryAuthentication,
		stele.CategoryUserManagement, stele.CategorySourceActivity, stele.CategorySystem, stele.CategoryAudit}
	actors := []string{"alice", "bob", "", "carol"}
	var rows []stele.EventRow
	for seq := range int64(42) {
		r := eventRow(account, seq)
		r.Time = base + (seq*5%17)*1000
		i := int(seq) % len(actions)
		r.Action, r.Category = actions[i], cats[i]
		r.Outcome = stele.Outcomes[int(seq)%len(stele.Outcomes)]
		r.ActorTok, r.ActorEmailTok, r.TargetTok, r.SourceTok, r.IPTok = 0, 0, 0, 0, 0
		if a := actors[int(seq)%len(actors)]; a != "" {
			r.ActorTok = tok("id:" + a)
			if seq%3 != 0 {
				r.ActorEmailTok = tok("email:" + a)
			}
		} else if seq%2 == 0 {
			r.ActorEmailTok = tok("email:alice") // an actor known only by email
		}
		if seq%5 != 0 {
			r.TargetTok = tok("target" + string(rune('a'+seq%3)))
		}
		if seq%4 == 1 {
			r.SourceTok = tok("github")
		}
		if seq%6 != 2 {
			r.IPTok = tok("ip" + string(rune('0'+seq%2)))
		}
		rows = append(rows, r)
	}
	return rows
}

// matches is the reference meaning of a filter.
func matches(r *stele.EventRow, f stele.RowFilter) bool {
	var m bool
	clear := func(v string) bool {
		return slices.Contains(f.Values, v) || slices.ContainsFunc(f.Prefixes, func(p string) bool { return strings.HasPrefix(v, p) })
	}
	has := func(t int64) bool { return t != 0 && slices.Contains(f.Tokens, t) }
	switch f.Field {
	case stele.FieldAction:
		m = clear(r.Action)
	case stele.FieldCategory:
		m = clear(r.Category)
	case stele.FieldOutcome:
		m = clear(r.Outcome)
	case stele.FieldActor:
		m = has(r.ActorTok) || has(r.ActorEmailTok)
	case stele.FieldTarget:
		m = has(r.TargetTok)
	case stele.FieldSource:
		m = has(r.SourceTok)
	case stele.FieldIP:
		m = has(r.IPTok)
	case stele.FieldText:
		return true // not a store's concern
	case stele.FieldGroup:
		m = slices.ContainsFunc(f.Any, func(c []stele.RowFilter) bool {
			for _, u := range c {
				if !matches(r, u) {
					return false
				}
			}
			return true
		})
	}
	return m != f.Negate
}

func testRowsFilters(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	rows := filterRows(a.ID)
	appendRows(t, s, a.ID, rows, nil)
	alice := []int64{tok("id:alice"), tok("email:alice")}
	cases := []struct {
		name          string
		filters       []stele.RowFilter
		after, before int64
	}{
		{name: "action value", filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.logout"}}}},
		{name: "action values", filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.logout", "api_key.created", "no.such"}}}},
		{name: "action prefix", filters: []stele.RowFilter{{Field: stele.FieldAction, Prefixes: []string{"user."}}}},
		{name: "action prefix without dot", filters: []stele.RowFilter{{Field: stele.FieldAction, Prefixes: []string{"user"}}}},
		{name: "action prefix or value", filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"finding.generated"}, Prefixes: []string{"api_key.", "user.login"}}}},
		{name: "action negated prefix", filters: []stele.RowFilter{{Field: stele.FieldAction, Prefixes: []string{"user."}, Negate: true}}},
		{name: "action empty prefix", filters: []stele.RowFilter{{Field: stele.FieldAction, Prefixes: []string{""}}}},
		{name: "action nothing", filters: []stele.RowFilter{{Field: stele.FieldAction}}},
		{name: "action negated nothing", filters: []stele.RowFilter{{Field: stele.FieldAction, Negate: true}}},
		{name: "category", filters: []stele.RowFilter{{Field: stele.FieldCategory, Values: []string{stele.CategoryAuthentication}}}},
		{name: "categories", filters: []stele.RowFilter{{Field: stele.FieldCategory, Values: []string{stele.CategoryAudit, stele.CategorySystem}}}},
		{name: "category prefix", filters: []stele.RowFilter{{Field: stele.FieldCategory, Prefixes: []string{"s"}}}},
		{name: "category negated", filters: []stele.RowFilter{{Field: stele.FieldCategory, Values: []string{stele.CategoryAuthentication}, Negate: true}}},
		{name: "category unknown", filters: []stele.RowFilter{{Field: stele.FieldCategory, Values: []string{"gossip"}}}},
		{name: "outcome", filters: []stele.RowFilter{{Field: stele.FieldOutcome, Values: []string{stele.OutcomeFailure}}}},
		{name: "outcome unknown code 0", filters: []stele.RowFilter{{Field: stele.FieldOutcome, Values: []string{stele.OutcomeUnknown}}}},
		{name: "outcome negated", filters: []stele.RowFilter{{Field: stele.FieldOutcome, Values: []string{stele.OutcomeSuccess}, Negate: true}}},
		{name: "actor by id or email", filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: alice}}},
		{name: "actor by email only", filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{tok("email:bob")}}}},
		{name: "actor negated keeps absent actors", filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: alice, Negate: true}}},
		{name: "actor no tokens", filters: []stele.RowFilter{{Field: stele.FieldActor}}},
		{name: "actor negated no tokens", filters: []stele.RowFilter{{Field: stele.FieldActor, Negate: true}}},
		{name: "target", filters: []stele.RowFilter{{Field: stele.FieldTarget, Tokens: []int64{tok("targeta"), tok("targetc")}}}},
		{name: "target negated keeps absent targets", filters: []stele.RowFilter{{Field: stele.FieldTarget, Tokens: []int64{tok("targeta")}, Negate: true}}},
		{name: "source", filters: []stele.RowFilter{{Field: stele.FieldSource, Tokens: []int64{tok("github")}}}},
		{name: "source negated", filters: []stele.RowFilter{{Field: stele.FieldSource, Tokens: []int64{tok("github")}, Negate: true}}},
		{name: "ip", filters: []stele.RowFilter{{Field: stele.FieldIP, Tokens: []int64{tok("ip1")}}}},
		{name: "ip negated", filters: []stele.RowFilter{{Field: stele.FieldIP, Tokens: []int64{tok("ip1")}, Negate: true}}},
		{name: "text ignored", filters: []stele.RowFilter{{Field: stele.FieldText, Values: []string{"anything"}}}},
		// Groups: ORs of ANDs, from the query's OR and parentheses.
		{name: "group of fields", filters: []stele.RowFilter{anyOf(
			[]stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.logout"}}},
			[]stele.RowFilter{{Field: stele.FieldActor, Tokens: alice}})}},
		{name: "group of conjunctions", filters: []stele.RowFilter{anyOf(
			[]stele.RowFilter{{Field: stele.FieldAction, Prefixes: []string{"user."}}, {Field: stele.FieldOutcome, Values: []string{stele.OutcomeFailure}}},
			[]stele.RowFilter{{Field: stele.FieldCategory, Values: []string{stele.CategoryAudit}}})}},
		{name: "group driving with other filters", filters: []stele.RowFilter{
			{Field: stele.FieldCategory, Values: []string{stele.CategoryAuthentication}},
			anyOf([]stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.logout"}}},
				[]stele.RowFilter{{Field: stele.FieldTarget, Tokens: []int64{tok("targetb")}}, {Field: stele.FieldIP, Tokens: []int64{tok("ip0")}}})}},
		{name: "group with a prefix does not drive", filters: []stele.RowFilter{anyOf(
			[]stele.RowFilter{{Field: stele.FieldAction, Prefixes: []string{"api_key."}}},
			[]stele.RowFilter{{Field: stele.FieldSource, Tokens: []int64{tok("github")}}})}},
		{name: "group with a negated member", filters: []stele.RowFilter{anyOf(
			[]stele.RowFilter{{Field: stele.FieldActor, Tokens: alice, Negate: true}},
			[]stele.RowFilter{{Field: stele.FieldAction, Values: []string{"api_key.created"}}})}},
		{name: "negated group keeps absent fields", filters: []stele.RowFilter{negated(anyOf(
			[]stele.RowFilter{{Field: stele.FieldActor, Tokens: alice}},
			[]stele.RowFilter{{Field: stele.FieldSource, Tokens: []int64{tok("github")}}}))}},
		{name: "negated conjunction", filters: []stele.RowFilter{negated(anyOf(
			[]stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.login"}}, {Field: stele.FieldIP, Tokens: []int64{tok("ip1")}}}))}},
		{name: "nested groups", filters: []stele.RowFilter{anyOf(
			[]stele.RowFilter{anyOf(
				[]stele.RowFilter{{Field: stele.FieldTarget, Tokens: []int64{tok("targeta")}}},
				[]stele.RowFilter{negated(anyOf([]stele.RowFilter{{Field: stele.FieldTarget, Tokens: []int64{tok("targetc")}}}))}),
				{Field: stele.FieldOutcome, Values: []string{stele.OutcomeSuccess}}},
			[]stele.RowFilter{{Field: stele.FieldIP, Tokens: []int64{tok("ip0")}}})}},
		{name: "group of counted columns", filters: []stele.RowFilter{anyOf(
			[]stele.RowFilter{{Field: stele.FieldCategory, Values: []string{stele.CategoryAudit}}},
			[]stele.RowFilter{{Field: stele.FieldOutcome, Values: []string{stele.OutcomeFailure}}, {Field: stele.FieldAction, Prefixes: []string{"user"}, Negate: true}})}},
		{name: "group of nothing", filters: []stele.RowFilter{{Field: stele.FieldGroup}}},
		{name: "negated group of nothing", filters: []stele.RowFilter{{Field: stele.FieldGroup, Negate: true}}},
		{name: "after", after: base + 8000},
		{name: "before", before: base + 8000},
		{name: "after and before", after: base + 3000, before: base + 12000},
		{name: "all kinds together", after: base + 1000, before: base + 15000, filters: []stele.RowFilter{
			{Field: stele.FieldAction, Prefixes: []string{"user"}},
			{Field: stele.FieldCategory, Values: []string{stele.CategoryAudit}, Negate: true},
			{Field: stele.FieldOutcome, Values: []string{stele.OutcomeSuccess, stele.OutcomeFailure}},
			{Field: stele.FieldActor, Tokens: []int64{tok("id:carol")}, Negate: true},
			{Field: stele.FieldIP, Tokens: []int64{tok("ip0"), tok("ip1")}},
		}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			var want []stele.EventRow
			for i := range rows {
				r := &rows[i]
				ok := (tc.after == 0 || r.Time >= tc.after) && (tc.before == 0 || r.Time < tc.before)
				for _, f := range tc.filters {
					ok = ok && matches(r, f)
				}
				if ok {
					want = append(want, *r)
				}
			}
			got, err := s.Rows(ctx(t), stele.RowQuery{AccountID: a.ID, Filters: tc.filters, After: tc.after, Before: tc.before, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if w := seqs(newestFirst(want)); !slices.Equal(seqs(got), w) {
				t.Fatalf("Rows = %v\nwant   %v", seqs(got), w)
			}
			q := stele.RowQuery{AccountID: a.ID, Filters: tc.filters, After: tc.after, Before: tc.before}
			sameAsRows(t, s, q, got)
			sameCounts(t, s, q, got)
			if len(got) > 2 { // from a cursor in the middle
				mid := got[len(got)/2]
				q.HasBelow, q.BelowTime, q.BelowSeq = true, mid.Time, mid.Seq
				sameAsRows(t, s, q, got[len(got)/2+1:])
			}
		})
	}
}

func anyOf(alts ...[]stele.RowFilter) stele.RowFilter {
	return stele.RowFilter{Field: stele.FieldGroup, Any: alts}
}

func negated(f stele.RowFilter) stele.RowFilter {
	f.Negate = !f.Negate
	return f
}

// sameCounts checks that CountByBucket counts, by category, the rows that
// Rows returned for q.
func sameCounts(t *testing.T, s stele.Store, q stele.RowQuery, want []stele.EventRow) {
	t.Helper()
	wantBy := map[string]int64{}
	for _, r := range want {
		wantBy[r.Category]++
	}
	for _, bucket := range []int64{int64(time.Hour / time.Microsecond), 1000} {
		counts, err := s.CountByBucket(ctx(t), q, bucket)
		if err != nil {
			t.Fatal(err)
		}
		gotBy := map[string]int64{}
		for _, c := range counts {
			gotBy[c.Category] += c.Count
		}
		if !maps.Equal(gotBy, wantBy) {
			t.Fatalf("CountByBucket(%d) by category = %v\nRows                   = %v", bucket, gotBy, wantBy)
		}
	}
}

// sameAsRows checks that ScanQuery streams exactly the rows that Rows
// returned for q: the same rows, in the same order, with the same columns a
// reader of events needs.
func sameAsRows(t *testing.T, s stele.Store, q stele.RowQuery, want []stele.EventRow) {
	t.Helper()
	q.Limit = 1 // ignored by ScanQuery
	var got []stele.EventRow
	err := s.ScanQuery(ctx(t), q, func(r *stele.EventRow) error {
		c := *r
		c.Payload = slices.Clone(r.Payload) // r may be reused
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(got), seqs(want)) {
		t.Fatalf("ScanQuery = %v\nRows      = %v", seqs(got), seqs(want))
	}
	for i := range got {
		g, w := &got[i], &want[i]
		if g.AccountID != w.AccountID || g.Time != w.Time || g.ReceivedAt != w.ReceivedAt || g.Action != w.Action ||
			g.Category != w.Category || g.Outcome != w.Outcome || g.KeyVersion != w.KeyVersion || !slices.Equal(g.Payload, w.Payload) {
			t.Fatalf("ScanQuery's row of seq %d = %+v\nRows' = %+v", g.Seq, g, w)
		}
	}
}

func testActions(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	rows := filterRows(a.ID) // user.login, user.logout, user.login_failed, api_key.created, finding.generated, user, users.x
	// ÿ is C3 BF: the bytes just past the prefix "zÿ" are no valid UTF-8.
	for i, action := range []string{"zé.créé", "zÿ", "zÿÿ"} {
		r := eventRow(a.ID, int64(len(rows)+i))
		r.Action = action
		rows = append(rows, r)
	}
	appendRows(t, s, a.ID, rows, nil)
	other := mustAccount(t, s, "globex")
	r := eventRow(other.ID, 0)
	r.Action = "user.secret"
	appendRows(t, s, other.ID, []stele.EventRow{r}, nil)
	for _, tc := range []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"user.", 10, []string{"user.login", "user.login_failed", "user.logout"}},
		{"user", 10, []string{"user", "user.login", "user.login_failed", "user.logout", "users.x"}},
		{"user", 2, []string{"user", "user.login"}},
		{"user.login", 10, []string{"user.login", "user.login_failed"}},
		{"", 3, []string{"api_key.created", "finding.generated", "user"}},
		{"zé", 10, []string{"zé.créé"}},
		{"zÿ", 10, []string{"zÿ", "zÿÿ"}},
		{"finding.", 0, nil},
		{"nothing.", 10, nil},
		{"user.secret", 10, nil}, // another account's
	} {
		got, err := s.Actions(ctx(t), a.ID, tc.prefix, tc.limit)
		if err != nil {
			t.Fatalf("Actions(%q, %d): %v", tc.prefix, tc.limit, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Actions(%q, %d) = %q, want %q", tc.prefix, tc.limit, got, tc.want)
		}
	}
}
