package integrity_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/blind"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
)

func sampleEvent(seq int64) *stele.Event {
	return &stele.Event{ID: stele.EventID(2, seq), Seq: seq, Account: "acme", Time: time.Now().UTC().Truncate(time.Microsecond),
		ReceivedAt: time.Now().UTC().Truncate(time.Microsecond), Action: "user.role_changed", Category: "user_management", Outcome: "success",
		Actor:  &stele.Ref{Type: "user", ID: "u_123", Name: "Ada Lovelace", Email: "ada@acme.io"},
		Target: &stele.Ref{Type: "user", ID: "u_456", Name: "Bob"}, IP: "203.0.113.7",
		UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15", RequestID: "req_8a7d6f",
		Description: "Ada changed Bob's role from viewer to admin", Metadata: map[string]any{"role_before": "viewer", "role_after": "admin"}}
}

// BenchmarkLeafAndAppend is the integrity cost of one event on the ingest
// path: its canonical encoding, leaf hash and Merkle append.
func BenchmarkLeafAndAppend(b *testing.B) {
	e := sampleEvent(0)
	head := stele.Head{AccountID: 2}
	var buf []byte
	var nodes []stele.TreeNode
	for b.Loop() {
		e.Seq = head.Size
		buf = record.AppendCanonical(buf[:0], e)
		nodes = nodes[:0]
		head = ledger.Append(head, ledger.LeafHash(buf), func(n stele.TreeNode) { nodes = append(nodes, n) })
	}
}

// BenchmarkSealWithoutIntegrity is the rest of the per-event preparation the
// writer does (payload encoding, blind tokens, sealing), for comparison.
func BenchmarkSealWithoutIntegrity(b *testing.B) {
	s := openStack(b, filepath.Join(b.TempDir(), "stele.db"), mustNewKey(b))
	defer s.stop()
	ctx := context.Background()
	acct := &stele.Account{Name: "acme", Type: "team"}
	if err := s.db.CreateAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	keys, err := s.keys.Account(ctx, acct.ID)
	if err != nil {
		b.Fatal(err)
	}
	e := sampleEvent(0)
	var plain, ad, out []byte
	row := stele.EventRow{AccountID: acct.ID, Action: e.Action, Category: e.Category, Outcome: e.Outcome}
	var seq int64
	for b.Loop() {
		plain = record.AppendPayload(plain[:0], e)
		_ = blind.EventTokens(keys, e)
		row.Seq = seq
		ad = record.AppendAD(ad[:0], &row)
		_, out = keys.Seal(out[:0], seq, plain, ad)
		seq++
	}
}

func mustNewKey(tb testing.TB) *ledger.SigningKey {
	k, _, err := ledger.NewSigningKey("bench.example")
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var (
	bigOnce  sync.Once
	bigDir   string
	bigKey   *ledger.SigningKey
	bigCount = 200_000
)

// bigStore builds, once per run, a store with bigCount events in acme.
func bigStore(b *testing.B) (string, *ledger.SigningKey) {
	bigOnce.Do(func() {
		bigKey = mustNewKey(b)
		dir, err := mkdirTemp()
		if err != nil {
			b.Fatal(err)
		}
		bigDir = dir
		s := openStack(b, filepath.Join(dir, "stele.db"), bigKey)
		if err := s.db.CreateAccount(context.Background(), &stele.Account{Name: "acme", Type: "team"}); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w * 1000; i < bigCount; i += 4000 {
					s.record(b, "acme", 1000, i)
				}
			}()
		}
		wg.Wait()
		if _, err := s.cp.SignAll(context.Background()); err != nil {
			b.Fatal(err)
		}
		s.stop()
	})
	return bigDir, bigKey
}

func BenchmarkVerifyStore(b *testing.B) {
	dir, key := bigStore(b)
	s := openStack(b, filepath.Join(dir, "stele.db"), key)
	defer s.stop()
	v := &integrity.StoreVerifier{Accounts: s.db, Events: s.db, Store: s.db, Keys: s.keys, Verifier: key.Verifier, Workers: 2}
	var events int64
	start := time.Now()
	for b.Loop() {
		rep, err := v.Verify(context.Background())
		if err != nil || !rep.OK() {
			b.Fatalf("%v %v", err, rep)
		}
		events += rep.Events
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}

func BenchmarkProveInclusion(b *testing.B) {
	dir, key := bigStore(b)
	s := openStack(b, filepath.Join(dir, "stele.db"), key)
	defer s.stop()
	acct, _ := s.db.AccountByName(context.Background(), "acme")
	head, _ := s.db.CurrentHead(context.Background(), acct.ID)
	var seq int64 = 12345
	for b.Loop() {
		if _, err := integrity.ProveInclusion(context.Background(), s.db, acct.ID, seq%head.Size, head.Size); err != nil {
			b.Fatal(err)
		}
		seq += 7919
	}
}

func mkdirTemp() (string, error) {
	return os.MkdirTemp("", "stele-bench-")
}
