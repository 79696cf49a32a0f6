package demo_test

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/search"
)

// TestDocumentedQueriesFindDemoEvents runs every query the docs show
// (query.Examples, and every query of the README's commands and of the
// examples tables of the README and docs/CONSOLE.md) against a store
// filled as `serve --demo` fills it, 30 days of activity, and the examples
// against the activity of other seeds (serve picks one at random): each
// finds events in acme, the account of the demo key.
func TestDocumentedQueriesFindDemoEvents(t *testing.T) {
	ctx := t.Context()
	documented := documentedQueries(t)
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
	for _, text := range documented {
		q, err := query.Parse(text, time.Now())
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		p, err := path.Search.Search(ctx, acme, q, "", 1)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if len(p.Events) == 0 {
			t.Errorf("%q finds nothing in the demo data", text)
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

var (
	commandQuery = regexp.MustCompile(`\./stele (?:query|export)[^'\n]*'([^'\n]*)'`)
	curlQuery    = regexp.MustCompile(`(?m)^.*curl .*[?&]q=([^&'"\s]+)`)
	// The rows of an examples table: the lines after its header, up to a
	// blank line.
	examplesTable = regexp.MustCompile("(?m)^\\| query \\| finds \\|\n\\|---\\|---\\|\n((?:\\|.*\n)+)")
	tableQuery    = regexp.MustCompile("(?m)^\\| `(.+)` \\|")
)

// documentedQueries returns the queries of the README's commands and of
// the examples tables of the README and docs/CONSOLE.md, and checks that
// both tables show every one of query.Examples.
func documentedQueries(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, doc := range []string{"../../README.md", "../../docs/CONSOLE.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		var table []string
		rows := examplesTable.FindSubmatch(b)
		if rows == nil {
			t.Fatalf("%s has no examples table (| query | finds |)", doc)
		}
		for _, m := range tableQuery.FindAllStringSubmatch(string(rows[1]), -1) {
			table = append(table, strings.ReplaceAll(m[1], `\|`, "|"))
		}
		for _, ex := range query.Examples {
			if !slices.Contains(table, ex.Query) {
				t.Errorf("%s does not show the example %q in its table", doc, ex.Query)
			}
		}
		out = append(out, table...)
		for _, m := range commandQuery.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
		for _, m := range curlQuery.FindAllStringSubmatch(string(b), -1) {
			q, err := url.QueryUnescape(m[1])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, q)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) < len(query.Examples)+3 {
		t.Fatalf("found only %d documented queries: %q", len(out), out)
	}
	return out
}
