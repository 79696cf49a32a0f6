package search_test

import (
	"encoding/json"
	"net/url"

	"bytes"
	"context"
	"fmt"
	"github.com/jackc/pgx/v5"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/core"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite"
)

// benchStore is what the benchmark needs of a store.
type benchStore interface {
	stele.AccountStore
	stele.KeyStore
	stele.EventStore
	Size(ctx context.Context) (int64, error)
}

// openBenchStore opens the store the benchmark runs on: SQLite at path,
// or, with STELE_BENCH_DB=postgres, a PostgreSQL database made afresh on
// the server of STELE_TEST_POSTGRES_URL (and left there for inspection;
// its name is logged). The same events are ingested either way, so the
// two stores' figures compare.
func openBenchStore(ctx context.Context, path string) (benchStore, error) {
	if os.Getenv("STELE_BENCH_DB") != "postgres" {
		return sqlite.Open(ctx, path)
	}
	server := os.Getenv("STELE_TEST_POSTGRES_URL")
	if server == "" {
		return nil, fmt.Errorf("STELE_BENCH_DB=postgres needs STELE_TEST_POSTGRES_URL")
	}
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("stele_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	fmt.Fprintln(os.Stderr, "benchmark database:", name)
	return postgres.Open(ctx, u.String())
}

// scaleStore is a store of STELE_BENCH_EVENTS demo events (default 100,000)
// in one account, built once per test binary through the real ingest path.
type scaleStore struct {
	db      benchStore
	search  *search.Service
	account *stele.Account
	actors  []string
	n       int
	bytes   int64
	json    int64 // the events' JSON as producers send it, in all
}

// producerForm is an event as a producer sends it: the fields Stele
// assigns shadowed, and left out as nil.
type producerForm struct {
	stele.Event
	ID         *int `json:"id,omitempty"`
	Seq        *int `json:"seq,omitempty"`
	ReceivedAt *int `json:"received_at,omitempty"`
}

// scaleDir is the temporary directory of the SQLite scale store (hundreds
// of megabytes at a million events), removed when the tests end.
var scaleDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if scaleDir != "" {
		os.RemoveAll(scaleDir)
	}
	os.Exit(code)
}

var buildScale = sync.OnceValues(func() (*scaleStore, error) {
	n := 100_000
	if v := os.Getenv("STELE_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return nil, err
		}
	}
	noUserAgent := os.Getenv("STELE_BENCH_NO_USER_AGENT") != ""
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stele-scale")
	if err != nil {
		return nil, err
	}
	scaleDir = dir
	db, err := openBenchStore(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		return nil, err
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{3}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := core.Start(db, master, logger, ingest.WriterConfig{})
	defer c.Stop() // the store is built once; searching needs no writer
	svc := c.Ingest
	acct := &stele.Account{Name: "acme", Type: "business"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		return nil, err
	}
	s := &scaleStore{db: db, search: c.Search, account: acct, n: n}
	end := time.Now()
	gen := demo.New(1, end.Add(-30*24*time.Hour), end)
	seen := map[string]bool{}
	step := 30 * 24 * time.Hour / time.Duration(n)
	at := end.Add(-30 * 24 * time.Hour)
	batch := make([]stele.Event, 0, 1000)
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	sem := make(chan struct{}, 8)
	flush := func() {
		events := slices.Clone(batch)
		batch = batch[:0]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := svc.Record(ctx, events...); err != nil {
				errc <- err
			}
		}()
	}
	for range n {
		e := gen.Next("acme", at)
		if noUserAgent {
			e.UserAgent = "" // events ≈ 80 bytes smaller, ≈ 500 in all
		}
		at = at.Add(step)
		e.Account = "acme"
		if j, err := json.Marshal(producerForm{Event: e}); err == nil {
			s.json += int64(len(j))
		}
		if e.Actor != nil && e.Actor.ID != "" && !seen[e.Actor.ID] && len(s.actors) < 50 {
			seen[e.Actor.ID] = true
			s.actors = append(s.actors, e.Actor.ID)
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	if pg, ok := db.(*postgres.DB); ok {
		if err := pg.Analyze(ctx); err != nil {
			return nil, err
		}
	}
	s.bytes, _ = db.Size(ctx)
	return s, nil
})

func scale(b *testing.B) *scaleStore {
	b.Helper()
	s, err := buildScale()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSearchAtScale pages through the store as the console and API do,
// and reports the p99 of a page's latency next to the mean.
func BenchmarkSearchAtScale(b *testing.B) {
	s := scale(b)
	now := time.Now()
	queries := []struct{ name, q string }{
		{"newest", ""},
		{"actor", "actor:%s"},
		{"action", "action:user.login_failed"},
		{"action_prefix", "action:finding.*"},
		{"category", "category:configuration"},
		{"text", "critical"},
	}
	for _, qq := range queries {
		b.Run(qq.name, func(b *testing.B) {
			var lat []time.Duration
			i := 0
			run := func() (*search.Page, time.Duration, string) {
				text := qq.q
				if qq.name == "actor" {
					text = fmt.Sprintf(qq.q, s.actors[i%len(s.actors)])
				}
				i++
				q, err := query.Parse(text, now)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				p, err := s.search.Search(context.Background(), s.account, q, "", 50)
				if err != nil {
					b.Fatal(err)
				}
				return p, time.Since(t0), text
			}
			// A serving store has warm caches: a SQLite reader its prepared
			// statements, a PostgreSQL connection its plans. Measure that.
			for range 20 {
				run()
			}
			for b.Loop() {
				p, d, text := run()
				lat = append(lat, d)
				if len(p.Events) == 0 && qq.name != "text" {
					b.Fatalf("%q found nothing", text)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(s.bytes)/float64(s.n), "db-bytes/event")
			b.ReportMetric(float64(s.json)/float64(s.n), "json-bytes/event")
		})
	}
}
