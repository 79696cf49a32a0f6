package demo_test

import (
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/search"
)

// TestDocumentedQueriesFindDemoEvents runs every query the docs show
// (query.Examples) against a store filled as `serve --demo` fills it, 30
// days of activity, and against the activity of other seeds (serve picks
// one at random): each finds events in acme, the account of the demo key.
func TestDocumentedQueriesFindDemoEvents(t *testing.T) {
	ctx := t.Context()
	db, path := openStore(t)
	end := time.Now()
	gen := demo.New(end.UnixNano(), end.AddDate(0, 0, -30), end)
	if _, err := demo.Seed(ctx, db, path.Ingest, gen, nil); err != nil {
		t.Fatal(err)
	}
	acme, err := db.AccountByName(ctx, demo.KeyAccount)
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range query.Examples {
		q, err := query.Parse(ex.Query, time.Now())
		if err != nil {
			t.Fatalf("%q: %v", ex.Query, err)
		}
		p, err := path.Search.Search(ctx, acme, q, "", 1)
		if err != nil {
			t.Fatalf("%q: %v", ex.Query, err)
		}
		if len(p.Events) == 0 {
			t.Errorf("%q (%s) finds nothing in the demo data", ex.Query, ex.Finds)
		}
	}
	for _, seed := range []int64{1, 2} {
		gen := demo.New(seed, end.AddDate(0, 0, -30), end)
		found := make([]bool, len(query.Examples))
		qs := make([]stele.Query, len(query.Examples))
		for i, ex := range query.Examples {
			qs[i], _ = query.Parse(ex.Query, end)
		}
		err := gen.Events(demo.KeyAccount, func(e stele.Event) error {
			for i := range qs {
				found[i] = found[i] || search.Matches(&e, qs[i])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, ok := range found {
			if !ok {
				t.Errorf("seed %d: %q finds nothing", seed, query.Examples[i].Query)
			}
		}
	}
}
