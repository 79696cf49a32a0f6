package audit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// eventBuilders are the directories (or files) outside this package that
// may choose an event's action: what they build is not Stele's record of
// its own actions.
var eventBuilders = map[string]string{
	"internal/audit":       "the recorder itself",
	"internal/demo":        "invents a platform's activity for demo accounts",
	"internal/loadgen":     "invents a producer's events to measure a server",
	"internal/hostiletest": "events a test stores to attack the console and the API",
	"internal/goldentest":  "the ordinary event the export formats' golden files are written from",
	"internal/storetest":   "the stores' contract suite and its fixtures",
	// The producers' side: a platform's own activity, never Stele's.
	"client":            "helpers for a platform's events and its API latency",
	"examples/platform": "a platform recording its activity",
	// The collector's events are measurements sampled each minute, the
	// same every minute whatever anyone did: data, not an actor's action.
	"internal/metrics": "per-minute measurements: system.api_latency, system.resource_usage",
}

// TestNoSelfAuditEventIsBuiltByHand: an event whose action is chosen in
// the code (a string, or a name holding one), rather than copied from
// another event or a request, is one of Stele's own records, and only
// Recorder builds those, so that one action reads the same from the CLI,
// the console and the API. Test files are not read.
func TestNoSelfAuditEventIsBuiltByHand(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	own := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, at := range chosenActions(f) {
			if dir == "internal/audit" {
				own++
			}
			if eventBuilders[dir] == "" && eventBuilders[filepath.ToSlash(rel)] == "" {
				t.Errorf("%s: a stele.Event with its action chosen here; record it through an audit.Recorder method", fset.Position(at))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if own < 25 {
		t.Fatalf("found %d events built in internal/audit: the test no longer sees them", own)
	}
}

// chosenActions returns where f builds a stele.Event whose Action is a
// string or a plain name, or assigns one to an Action field.
func chosenActions(f *ast.File) []token.Pos {
	stele := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "github.com/stele-audit/stele" {
			stele = "stele"
			if imp.Name != nil {
				stele = imp.Name.Name
			}
		}
	}
	isEvent := func(typ ast.Expr) bool {
		switch t := typ.(type) {
		case *ast.SelectorExpr:
			x, ok := t.X.(*ast.Ident)
			return ok && x.Name == stele && t.Sel.Name == "Event"
		case *ast.Ident:
			return f.Name.Name == "stele" && t.Name == "Event"
		}
		return false
	}
	chosen := func(v ast.Expr) bool {
		switch v := v.(type) {
		case *ast.BasicLit:
			return v.Kind == token.STRING
		case *ast.Ident:
			return true
		}
		return false
	}
	var out []token.Pos
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if !isEvent(n.Type) {
				return true
			}
			for _, el := range n.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Action" && chosen(kv.Value) {
						out = append(out, n.Pos())
					}
				}
			}
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				if sel, ok := lhs.(*ast.SelectorExpr); ok && sel.Sel.Name == "Action" && i < len(n.Rhs) {
					if lit, ok := n.Rhs[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						out = append(out, n.Pos())
					}
				}
			}
		}
		return true
	})
	return out
}
