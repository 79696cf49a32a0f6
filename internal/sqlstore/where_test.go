package sqlstore

import (
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// writeName writes a filter as its field's name, NOT before it when
// negated: enough to read the shape WriteGroup gives a group.
func writeName(sql *strings.Builder) func(stele.RowFilter) error {
	return func(f stele.RowFilter) error {
		if f.Negate {
			sql.WriteString("NOT ")
		}
		sql.WriteString(string(f.Field))
		return nil
	}
}

func TestWriteGroupIsAnORofANDsNegatedByDeMorgan(t *testing.T) {
	action := stele.RowFilter{Field: stele.FieldAction}
	actor := stele.RowFilter{Field: stele.FieldActor}
	ip := stele.RowFilter{Field: stele.FieldIP, Negate: true}
	bools := Bools{True: "T", False: "F"}
	for _, tc := range []struct {
		name string
		f    stele.RowFilter
		want string
	}{
		{"empty", stele.RowFilter{Field: stele.FieldGroup}, "F"},
		{"empty negated", stele.RowFilter{Field: stele.FieldGroup, Negate: true}, "T"},
		{"or of ands", stele.RowFilter{Field: stele.FieldGroup, Any: [][]stele.RowFilter{{action, actor}, {ip}}},
			"((action AND actor) OR (NOT ip))"},
		{"negated", stele.RowFilter{Field: stele.FieldGroup, Negate: true, Any: [][]stele.RowFilter{{action, actor}, {ip}}},
			"((NOT action OR NOT actor) AND (ip))"},
		{"an empty alternative", stele.RowFilter{Field: stele.FieldGroup, Any: [][]stele.RowFilter{{}, {action}}},
			"((T) OR (action))"},
	} {
		var sql strings.Builder
		if err := WriteGroup(&sql, tc.f, bools, writeName(&sql)); err != nil {
			t.Fatal(err)
		}
		if sql.String() != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, sql.String(), tc.want)
		}
	}
}

func TestBlindConditionKeepsNullColumnsWhenNegated(t *testing.T) {
	term := func(negate bool) func(string) string {
		return func(c string) string {
			if negate {
				return c + " <> 7"
			}
			return c + " = 7"
		}
	}
	cols := []string{"a", "b"}
	if got, want := BlindCondition(cols, false, term(false)), "(a = 7 OR b = 7)"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
	if got, want := BlindCondition(cols, true, term(true)), "((a IS NULL OR a <> 7) AND (b IS NULL OR b <> 7))"; got != want {
		t.Errorf("negated: %s, want %s", got, want)
	}
}

func TestWriteFiltersLeavesOutTextAndTheDriver(t *testing.T) {
	q := stele.RowQuery{Limit: 10, Filters: []stele.RowFilter{
		{Field: stele.FieldText, Values: []string{"x"}},
		{Field: stele.FieldAction, Values: []string{"a.b", "c.d"}}, // drives
		{Field: stele.FieldOutcome, Values: []string{"failure"}},
	}}
	var sql strings.Builder
	arms, err := WriteFilters(&sql, q, writeName(&sql))
	if err != nil || len(arms) != 2 || sql.String() != " AND outcome" {
		t.Fatalf("%q, %d arms, %v", sql.String(), len(arms), err)
	}
	q.Limit = 0 // no limit, no driver
	sql.Reset()
	if arms, err = WriteFilters(&sql, q, writeName(&sql)); err != nil || arms != nil || sql.String() != " AND action AND outcome" {
		t.Fatalf("without a limit: %q, %d arms, %v", sql.String(), len(arms), err)
	}
	if got := (Bools{True: "1", False: "0"}).AnyOf(nil, true); got != "NOT 0" {
		t.Errorf("AnyOf of no terms, negated: %s", got)
	}
}
