package recovery

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// boundedRecursion are the functions allowed to call themselves: their
// depth is bounded by something other than the data they are given.
var boundedRecursion = map[string]string{
	"internal/ledger.RangeHash":      "halves a range of at most 2^63 leaves: 63 levels at most",
	"internal/ledger.path":           "halves a tree of at most 2^63 leaves: 63 levels at most",
	"internal/ledger.subproof":       "halves a tree of at most 2^63 leaves: 63 levels at most",
	"internal/ledger.LoadSigningKey": "calls itself once, when another process created the key first",
	"internal/ingest.value":          "walks a body json.Valid accepted: at most 10,000 levels, encoding/json's nesting limit",
	"internal/smtptest.readPart":     "a test helper reading the mail Stele's own tests send: multipart one level deep",
	"internal/alert.requiredActions": "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/query.checkValues":     "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/search.appendTerms":    "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/search.matchTerm":      "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/search.filterOf":       "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/sqlite.rollupOnly":     "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/sqlite.keepRollup":     "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/sqlstore.armsOf":       "walks a parsed query's groups: they nest at most query.MaxDepth (4) deep, which query.Parse enforces on every query Stele reads (rules and streams are stored as text and parsed again)",
	"internal/storetest.matches":     "a test helper walking the contract suite's own queries",
}

// TestNothingRecursesOnData: a stack overflow is fatal, beyond any
// recover, and recursion on stored or user data (comma on math.MinInt64,
// once) lets one event take the process down. No function of the module
// calls itself, but those whose depth something else bounds. (Mutual
// recursion is not looked for.)
func TestNothingRecursesOnData(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	funcs := 0
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
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			funcs++
			name := rel + "." + fd.Name.Name
			if self := selfCall(fd); self.IsValid() && boundedRecursion[name] == "" {
				t.Errorf("%s: %s calls itself; loop instead, or bound it and say how in boundedRecursion", fset.Position(self), name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if funcs < 500 {
		t.Fatalf("only %d functions read from %s", funcs, root)
	}
}

// selfCall returns where fd calls itself, directly: a function by its name,
// a method through its own receiver. A call in a go statement starts on a
// stack of its own and is no recursion.
func selfCall(fd *ast.FuncDecl) token.Pos {
	recv := ""
	if fd.Recv != nil && len(fd.Recv.List) == 1 && len(fd.Recv.List[0].Names) == 1 {
		recv = fd.Recv.List[0].Names[0].Name
	}
	var at token.Pos
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if _, ok := n.(*ast.GoStmt); ok {
			return false
		}
		c, ok := n.(*ast.CallExpr)
		if !ok || at.IsValid() {
			return !at.IsValid()
		}
		switch fn := c.Fun.(type) {
		case *ast.Ident:
			if fd.Recv == nil && fn.Name == fd.Name.Name {
				at = c.Pos()
			}
		case *ast.SelectorExpr:
			if x, ok := fn.X.(*ast.Ident); ok && recv != "" && x.Name == recv && fn.Sel.Name == fd.Name.Name {
				at = c.Pos()
			}
		}
		return true
	})
	return at
}
