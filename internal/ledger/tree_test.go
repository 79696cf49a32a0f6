package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stele-audit/stele"
	"golang.org/x/mod/sumdb/tlog"
)

// rfc6962Leaves are the leaves of the RFC 6962 test vectors (as used by
// Certificate Transparency's reference implementations).
var rfc6962Leaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}

// rfc6962Roots[i] is the root of the tree of the first i+1 leaves.
var rfc6962Roots = []string{
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func TestAppendMatchesRFC6962Vectors(t *testing.T) {
	if got := hex.EncodeToString(EmptyRoot[:]); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root = %s", got)
	}
	head := stele.Head{AccountID: 1}
	for i, l := range rfc6962Leaves {
		data, _ := hex.DecodeString(l)
		head = Append(head, LeafHash(data), nil)
		root, err := Root(head)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(root[:]); got != rfc6962Roots[i] {
			t.Errorf("root after %d leaves = %s, want %s", i+1, got, rfc6962Roots[i])
		}
	}
}

// tlogReader serves tlog's stored hashes from a slice.
type tlogReader []tlog.Hash

func (r tlogReader) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = r[x]
	}
	return out, nil
}

// TestAppendMatchesTlog cross-checks roots and the stored interior nodes with
// golang.org/x/mod/sumdb/tlog, an independent implementation.
func TestAppendMatchesTlog(t *testing.T) {
	var stored tlogReader
	head := stele.Head{AccountID: 1}
	nodes := map[[2]int64]Hash{}
	for n := int64(0); n < 1100; n++ {
		data := []byte(fmt.Sprintf("event %d", n))
		hashes, err := tlog.StoredHashes(n, data, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hashes...)
		head = Append(head, LeafHash(data), func(nd stele.TreeNode) { nodes[[2]int64{int64(nd.Level), nd.Index}] = nd.Hash })
		want, err := tlog.TreeHash(n+1, stored)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := Root(head); got != Hash(want) {
			t.Fatalf("root at size %d differs from tlog", n+1)
		}
	}
	if len(nodes) == 0 {
		t.Fatal("no interior nodes emitted")
	}
	for k, h := range nodes {
		level, idx := int(k[0]), k[1]
		if level < StoredLevel {
			t.Fatalf("emitted node below StoredLevel: %v", k)
		}
		want := stored[tlog.StoredHashIndex(level, idx)]
		if h != Hash(want) {
			t.Errorf("node level %d index %d differs from tlog", level, idx)
		}
	}
	// Every complete subtree at StoredLevel and above was emitted exactly once.
	for level := StoredLevel; 1<<level <= 1100; level++ {
		for idx := int64(0); (idx+1)<<level <= 1100; idx++ {
			if _, ok := nodes[[2]int64{int64(level), idx}]; !ok {
				t.Errorf("missing node level %d index %d", level, idx)
			}
		}
	}
}

func TestRootRejectsInconsistentHead(t *testing.T) {
	if _, err := Root(stele.Head{Size: 3, Frontier: []Hash{sha256.Sum256(nil)}}); err == nil {
		t.Fatal("accepted a frontier of the wrong length")
	}
}

func BenchmarkAppend(b *testing.B) {
	head := stele.Head{AccountID: 1}
	leaf := LeafHash([]byte("x"))
	for b.Loop() {
		head = Append(head, leaf, func(stele.TreeNode) {})
	}
}
