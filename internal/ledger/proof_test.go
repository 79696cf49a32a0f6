package ledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele"
	"golang.org/x/mod/sumdb/tlog"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// memTree is a HashReader over a tree built in memory with Append, storing
// exactly what the store stores: leaf hashes and nodes at StoredLevel and up.
type memTree struct {
	leaves []Hash
	nodes  map[[2]int64]Hash
	head   stele.Head
	reads  int
}

func newMemTree() *memTree { return &memTree{nodes: map[[2]int64]Hash{}} }

func (m *memTree) add(leaf Hash) {
	m.leaves = append(m.leaves, leaf)
	m.head = Append(m.head, leaf, func(n stele.TreeNode) { m.nodes[[2]int64{int64(n.Level), n.Index}] = n.Hash })
}

func (m *memTree) LeafHashes(_ context.Context, from, to int64) ([]Hash, error) {
	m.reads += int(to - from)
	to = min(to, int64(len(m.leaves)))
	if from >= to {
		return nil, nil
	}
	return m.leaves[from:to], nil
}

func (m *memTree) Nodes(_ context.Context, level int, from, to int64) ([]Hash, error) {
	m.reads++
	var out []Hash
	for i := from; i < to; i++ {
		if h, ok := m.nodes[[2]int64{int64(level), i}]; ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// buildBoth builds the same tree with Append and with tlog's stored hashes.
func buildBoth(t *testing.T, n int) (*memTree, tlogReader) {
	t.Helper()
	m := newMemTree()
	var stored tlogReader
	for i := range n {
		data := []byte(fmt.Sprintf("event %d", i))
		hs, err := tlog.StoredHashes(int64(i), data, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		m.add(LeafHash(data))
	}
	return m, stored
}

func TestProofsMatchTlog(t *testing.T) {
	ctx := context.Background()
	const n = 300
	m, stored := buildBoth(t, n)
	sizes := []int64{1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 299, 300}
	for _, size := range sizes {
		root, err := TreeRoot(ctx, m, size)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tlog.TreeHash(size, stored)
		if err != nil {
			t.Fatal(err)
		}
		if root != Hash(want) {
			t.Fatalf("root of size %d differs from tlog", size)
		}
		for seq := int64(0); seq < size; seq += max(1, size/13) {
			p, err := InclusionProof(ctx, m, seq, size)
			if err != nil {
				t.Fatal(err)
			}
			tp, err := tlog.ProveRecord(size, seq, stored)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != len(tp) {
				t.Fatalf("inclusion %d in %d: %d hashes, tlog %d", seq, size, len(p), len(tp))
			}
			for i := range p {
				if p[i] != Hash(tp[i]) {
					t.Fatalf("inclusion %d in %d: hash %d differs from tlog", seq, size, i)
				}
			}
			if err := VerifyInclusion(m.leaves[seq], seq, size, p, root); err != nil {
				t.Fatalf("inclusion %d in %d: %v", seq, size, err)
			}
			if err := tlog.CheckRecord(tp, size, tlog.Hash(root), seq, tlog.Hash(m.leaves[seq])); err != nil {
				t.Fatalf("tlog rejects inclusion %d in %d: %v", seq, size, err)
			}
		}
		for _, from := range sizes {
			if from > size {
				continue
			}
			p, err := ConsistencyProof(ctx, m, from, size)
			if err != nil {
				t.Fatal(err)
			}
			fromRoot, _ := TreeRoot(ctx, m, from)
			if err := VerifyConsistency(from, size, fromRoot, root, p); err != nil {
				t.Fatalf("consistency %d→%d: %v", from, size, err)
			}
			tp, err := tlog.ProveTree(size, from, stored)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(tp, size, tlog.Hash(root), from, tlog.Hash(fromRoot)); err != nil {
				t.Fatalf("tlog rejects consistency %d→%d: %v", from, size, err)
			}
			if from != size && len(p) != len(tp) {
				t.Fatalf("consistency %d→%d: %d hashes, tlog %d", from, size, len(p), len(tp))
			}
			for i := range p {
				if from != size && p[i] != Hash(tp[i]) {
					t.Fatalf("consistency %d→%d: hash %d differs from tlog", from, size, i)
				}
			}
		}
	}
}

func TestProofsRejectTampering(t *testing.T) {
	ctx := context.Background()
	m, _ := buildBoth(t, 40)
	root, _ := TreeRoot(ctx, m, 40)
	p, _ := InclusionProof(ctx, m, 17, 40)
	if err := VerifyInclusion(m.leaves[18], 17, 40, p, root); !errors.Is(err, ErrProof) {
		t.Fatalf("wrong leaf accepted: %v", err)
	}
	if err := VerifyInclusion(m.leaves[17], 17, 40, p[:len(p)-1], root); !errors.Is(err, ErrProof) {
		t.Fatalf("short proof accepted: %v", err)
	}
	if err := VerifyInclusion(m.leaves[17], 17, 20, p, root); !errors.Is(err, ErrProof) {
		t.Fatalf("wrong size accepted: %v", err)
	}
	r20, _ := TreeRoot(ctx, m, 20)
	cp, _ := ConsistencyProof(ctx, m, 20, 40)
	bad := r20
	bad[0] ^= 1
	if err := VerifyConsistency(20, 40, bad, root, cp); !errors.Is(err, ErrProof) {
		t.Fatalf("forked old root accepted: %v", err)
	}
	cp[1][3] ^= 1
	if err := VerifyConsistency(20, 40, r20, root, cp); !errors.Is(err, ErrProof) {
		t.Fatalf("altered proof accepted: %v", err)
	}
}

func TestProofReadsAreLogarithmic(t *testing.T) {
	ctx := context.Background()
	m, _ := buildBoth(t, 5000)
	m.reads = 0
	if _, err := InclusionProof(ctx, m, 1234, 4999); err != nil {
		t.Fatal(err)
	}
	// ≤ log2(n) subtrees, each one node read or at most 16 leaf reads.
	if m.reads > 13*16 {
		t.Fatalf("inclusion proof read %d hashes", m.reads)
	}
}

func TestFrontierAtMatchesAppend(t *testing.T) {
	ctx := context.Background()
	m := newMemTree()
	for i := range 200 {
		m.add(LeafHash([]byte{byte(i)}))
		f, err := FrontierAt(ctx, m, int64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(f) != fmt.Sprint(m.head.Frontier) {
			t.Fatalf("frontier at %d differs from Append's", i+1)
		}
	}
}

// vectors is the golden file of RFC 6962 test vectors: the leaves and roots
// of the RFC 6962 reference trees (as used by Certificate Transparency's
// implementations), with inclusion and consistency proofs computed by
// golang.org/x/mod/sumdb/tlog, an independent implementation.
type vectors struct {
	Leaves      []string            `json:"leaves"`
	Roots       []string            `json:"roots"`
	Inclusion   []inclusionVector   `json:"inclusion"`
	Consistency []consistencyVector `json:"consistency"`
}

type inclusionVector struct {
	Seq   int64    `json:"seq"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
}

type consistencyVector struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof []string `json:"proof"`
}

func hexes(hs []Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

func TestRFC6962Vectors(t *testing.T) {
	ctx := context.Background()
	m := newMemTree()
	var stored tlogReader
	for i, l := range rfc6962Leaves {
		data, _ := hex.DecodeString(l)
		hs, _ := tlog.StoredHashes(int64(i), data, stored)
		stored = append(stored, hs...)
		m.add(LeafHash(data))
	}
	golden := filepath.Join("testdata", "rfc6962_vectors.json")
	if *update {
		v := vectors{Leaves: rfc6962Leaves, Roots: rfc6962Roots}
		for size := int64(1); size <= 8; size++ {
			for seq := int64(0); seq < size; seq++ {
				tp, err := tlog.ProveRecord(size, seq, stored)
				if err != nil {
					t.Fatal(err)
				}
				hs := make([]Hash, len(tp))
				for i := range tp {
					hs[i] = Hash(tp[i])
				}
				v.Inclusion = append(v.Inclusion, inclusionVector{seq, size, hexes(hs)})
			}
			for from := int64(1); from < size; from++ {
				tp, err := tlog.ProveTree(size, from, stored)
				if err != nil {
					t.Fatal(err)
				}
				hs := make([]Hash, len(tp))
				for i := range tp {
					hs[i] = Hash(tp[i])
				}
				v.Consistency = append(v.Consistency, consistencyVector{from, size, hexes(hs)})
			}
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for i, want := range v.Roots {
		root, _ := TreeRoot(ctx, m, int64(i+1))
		if hex.EncodeToString(root[:]) != want || want != rfc6962Roots[i] {
			t.Errorf("root %d = %x, want %s", i+1, root, want)
		}
	}
	for _, iv := range v.Inclusion {
		p, err := InclusionProof(ctx, m, iv.Seq, iv.Size)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(hexes(p)) != fmt.Sprint(iv.Proof) {
			t.Errorf("inclusion %d in %d = %v, want %v", iv.Seq, iv.Size, hexes(p), iv.Proof)
		}
	}
	for _, cv := range v.Consistency {
		p, err := ConsistencyProof(ctx, m, cv.From, cv.To)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(hexes(p)) != fmt.Sprint(cv.Proof) {
			t.Errorf("consistency %d→%d = %v, want %v", cv.From, cv.To, hexes(p), cv.Proof)
		}
	}
	if len(v.Inclusion) != 36 || len(v.Consistency) != 28 {
		t.Fatalf("golden file has %d inclusion and %d consistency vectors", len(v.Inclusion), len(v.Consistency))
	}
}

func BenchmarkInclusionProofMem(b *testing.B) {
	ctx := context.Background()
	m := newMemTree()
	for i := range 1 << 20 {
		m.add(LeafHash([]byte{byte(i), byte(i >> 8), byte(i >> 16)}))
	}
	for b.Loop() {
		if _, err := InclusionProof(ctx, m, 123457, 1<<20-3); err != nil {
			b.Fatal(err)
		}
	}
}
