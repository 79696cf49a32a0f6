package sqlstore

import (
	"testing"

	"github.com/stele-audit/stele"
)

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		p, want string
		ok      bool
	}{
		{"user.", "user/", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"", "", false},
	} {
		if got, ok := PrefixEnd(tc.p); got != tc.want || ok != tc.ok {
			t.Errorf("PrefixEnd(%q) = %q, %v; want %q, %v", tc.p, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPickDriverTakesFirstPositiveMultiValueFilter(t *testing.T) {
	filters := []stele.RowFilter{
		{Field: stele.FieldAction, Values: []string{"a.b", "c.d"}, Negate: true},
		{Field: stele.FieldAction, Values: []string{"user.login"}},
		{Field: stele.FieldActor, Tokens: []int64{7}},
		{Field: stele.FieldTarget, Tokens: []int64{1, 2}},
	}
	i, arms := PickDriver(filters)
	// The actor's one token spans two columns: two branches.
	if i != 2 || len(arms) != 2 || arms[0] != (Arm{"actor_tok", int64(7)}) || arms[1] != (Arm{"actor_email_tok", int64(7)}) {
		t.Fatalf("PickDriver = %d, %v", i, arms)
	}
	if i, _ := PickDriver(filters[:2]); i != -1 {
		t.Fatalf("no multi-value filter: %d", i)
	}
}

// A group drives when each alternative has an indexed filter, with the
// narrowest filter of each; one alternative without one, or a negated
// group, leaves the rows to other filters.
func TestPickDriverTakesAGroupWhoseAlternativesAreIndexed(t *testing.T) {
	action := stele.RowFilter{Field: stele.FieldAction, Values: []string{"user.login"}}
	target := stele.RowFilter{Field: stele.FieldTarget, Tokens: []int64{5}}
	actor := stele.RowFilter{Field: stele.FieldActor, Tokens: []int64{7}}
	outcome := stele.RowFilter{Field: stele.FieldOutcome, Values: []string{"failure"}}
	group := stele.RowFilter{Field: stele.FieldGroup, Any: [][]stele.RowFilter{{action}, {actor, target, outcome}}}
	i, arms := PickDriver([]stele.RowFilter{outcome, group})
	want := []Arm{{"action", "user.login"}, {"target_tok", int64(5)}}
	if i != 1 || len(arms) != 2 || arms[0] != want[0] || arms[1] != want[1] || !Keep(group) {
		t.Fatalf("PickDriver = %d, %v; want 1, %v", i, arms, want)
	}
	unindexed := stele.RowFilter{Field: stele.FieldGroup, Any: [][]stele.RowFilter{{action}, {outcome}}}
	negated := group
	negated.Negate = true
	for _, f := range []stele.RowFilter{unindexed, negated} {
		if i, _ := PickDriver([]stele.RowFilter{f}); i != -1 {
			t.Errorf("PickDriver(%+v) = %d, want -1", f, i)
		}
	}
}
