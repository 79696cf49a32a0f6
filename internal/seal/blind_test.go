package seal

import (
	"slices"
	"testing"

	"github.com/stele-audit/stele"
)

// fakeTokens is a deterministic Tokenizer with two key versions.
type fakeTokens struct{}

func (fakeTokens) Token(f stele.Field, v string) int64 { return fakeHash(1, f, v) }
func (fakeTokens) Tokens(f stele.Field, v string) []int64 {
	return []int64{fakeHash(1, f, v), fakeHash(2, f, v)}
}

func fakeHash(version int64, f stele.Field, v string) int64 {
	h := version * 1000003
	for _, c := range string(f) + "\x00" + v {
		h = h*31 + int64(c)
	}
	return h
}

func TestQueryTokensFindEventTokens(t *testing.T) {
	e := &stele.Event{
		Actor:  &stele.Ref{ID: "u_1", Email: "Ada@Acme.io"},
		Target: &stele.Ref{ID: "u_2"},
		Source: &stele.Ref{ID: "aws-1"},
		IP:     "::ffff:203.0.113.7",
	}
	row := EventTokens(fakeTokens{}, e)
	cases := []struct {
		field stele.Field
		value string
		want  int64
	}{
		{stele.FieldActor, "u_1", row.Actor},
		{stele.FieldActor, "ada@acme.io", row.ActorEmail},
		{stele.FieldActor, "ADA@ACME.IO", row.ActorEmail},
		{stele.FieldTarget, "u_2", row.Target},
		{stele.FieldSource, "aws-1", row.Source},
		{stele.FieldIP, "203.0.113.7", row.IP},
	}
	for _, c := range cases {
		if !slices.Contains(QueryTokens(fakeTokens{}, c.field, c.value), c.want) {
			t.Errorf("%s:%s does not find the event's token", c.field, c.value)
		}
	}
	if slices.Contains(QueryTokens(fakeTokens{}, stele.FieldTarget, "u_1"), row.Actor) {
		t.Error("a target query matches an actor token")
	}
}

func TestAbsentFieldsHaveNoToken(t *testing.T) {
	if row := EventTokens(fakeTokens{}, &stele.Event{}); row != (RowTokens{}) {
		t.Fatalf("tokens for an empty event: %+v", row)
	}
	if IdempotencyToken(fakeTokens{}, "") != 0 {
		t.Fatal("empty idempotency key has a token")
	}
}
