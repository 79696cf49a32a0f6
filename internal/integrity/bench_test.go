package integrity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
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
		_ = seal.EventTokens(keys, e)
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
	bigOnce sync.Once
	bigDir  string
	bigKey  *ledger.SigningKey
	bigN    int
)

// bigStore returns a stopped store of STELE_BENCH_EVENTS events (default
// 200,000) in account acme, built once through the real ingest path, with a
// checkpoint signed every 100,000 events and at the end. With
// STELE_BENCH_DIR set the store is kept there and reused by later runs (and
// by other benchmarks) when it holds the same number of events.
func bigStore(b *testing.B) (string, *ledger.SigningKey) {
	bigOnce.Do(func() {
		bigN = 200_000
		if v := os.Getenv("STELE_BENCH_EVENTS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				b.Fatalf("STELE_BENCH_EVENTS=%q: want a positive number", v)
			}
			bigN = n
		}
		dir := os.Getenv("STELE_BENCH_DIR")
		if dir != "" {
			dir = filepath.Join(dir, fmt.Sprintf("verify-%d", bigN))
			if skey, err := os.ReadFile(filepath.Join(dir, "signing.key")); err == nil {
				if bigKey, err = ledger.ParseSigningKey(string(skey)); err != nil {
					b.Fatal(err)
				}
				bigDir = dir
				return
			}
			if err := os.RemoveAll(dir); err != nil {
				b.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				b.Fatal(err)
			}
		} else {
			var err error
			if dir, err = mkdirTemp(); err != nil {
				b.Fatal(err)
			}
		}
		key, skey, err := ledger.NewSigningKey("bench.example")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		s := openStack(b, filepath.Join(dir, "stele.db"), key)
		if err := s.db.CreateAccount(context.Background(), &stele.Account{Name: "acme", Type: "team"}); err != nil {
			b.Fatal(err)
		}
		const round, batch, writers = 100_000, 1000, 4
		for lo := 0; lo < bigN; lo += round {
			hi := min(lo+round, bigN)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := lo + w*batch; i < hi; i += writers * batch {
						s.record(b, "acme", min(batch, hi-i), i)
					}
				}()
			}
			wg.Wait()
			if _, err := s.cp.SignAll(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		s.stop()
		// The key file last: its presence marks a complete store.
		if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(skey), 0o600); err != nil {
			b.Fatal(err)
		}
		b.Logf("built a store of %d events in %s in %v", bigN, dir, time.Since(start).Round(time.Second))
		bigDir, bigKey = dir, key
	})
	if bigDir == "" {
		b.Fatal("the benchmark store could not be built")
	}
	return bigDir, bigKey
}

// BenchmarkVerifyStore is `stele verify --data` on the benchmark store,
// with GOMAXPROCS workers (what the command uses) and with more.
func BenchmarkVerifyStore(b *testing.B) {
	dir, key := bigStore(b)
	s := openStack(b, filepath.Join(dir, "stele.db"), key)
	defer s.stop()
	for _, workers := range []int{0, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			v := &integrity.StoreVerifier{Accounts: s.db, Events: s.db, Store: s.db, Keys: s.keys, Verifier: key.Verifier, Workers: workers}
			var events int64
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				rep, err := v.Verify(context.Background())
				if err != nil || !rep.OK() {
					b.Fatalf("%v %v", err, rep)
				}
				events += rep.Events
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
			// The process's CPU time too: on a shared machine the wall
			// clock says as much about the other processes as about this.
			b.ReportMetric(float64(events)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
		})
	}
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

// tempDirs are the benchmark stores made without STELE_BENCH_DIR, removed
// when the tests end (TestMain).
var tempDirs []string

func mkdirTemp() (string, error) {
	dir, err := os.MkdirTemp("", "stele-bench-")
	if err == nil {
		tempDirs = append(tempDirs, dir)
	}
	return dir, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range tempDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// BenchmarkInclusionProofHTTP is GET /v1/proofs/inclusion through a real
// listener on the benchmark store, for random seqs against the latest
// checkpoint, one request at a time; it reports the latency percentiles.
func BenchmarkInclusionProofHTTP(b *testing.B) {
	dir, key := bigStore(b)
	s := openStack(b, filepath.Join(dir, "stele.db"), key)
	defer s.stop()
	ctx := context.Background()
	acct, err := s.db.AccountByName(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	_, token, err := apikey.Issue(ctx, s.db, acct, []stele.Scope{stele.ScopeEventsRead}, false, "bench", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	srv := &api.Server{Ingest: s.ingest, Search: search.New(s.db, s.keys), Accounts: s.db, APIKeys: s.db,
		Logger: testLogger, Ready: s.db.Ping, Checkpoints: s.cp}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	cp, err := s.db.LatestCheckpoint(ctx, acct.ID)
	if err != nil {
		b.Fatal(err)
	}
	client := ts.Client()
	get := func(seq int64) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/proofs/inclusion?seq=%d", ts.URL, seq), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var p struct {
			Size  int64    `json:"size"`
			Proof []string `json:"proof"`
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || p.Size != cp.Size || len(p.Proof) == 0 {
			b.Fatalf("GET inclusion of %d: %d %v %+v", seq, resp.StatusCode, err, p)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 { // warm the connection and the statement cache
		get(rng.Int64N(cp.Size))
	}
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		get(rng.Int64N(cp.Size))
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
