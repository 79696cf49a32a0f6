package search_test

import (
	"encoding/json"
	"net/url"

	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite"
)

// openBenchStore opens the store the benchmark runs on: SQLite at path,
// or, with STELE_BENCH_DB=postgres, a PostgreSQL database made afresh on
// the server of STELE_TEST_POSTGRES_URL (and left there for inspection;
// its name is logged). The same events are ingested either way, so the
// two stores' figures compare.
func openBenchStore(ctx context.Context, path string) (stele.Store, error) {
	if os.Getenv("STELE_BENCH_DB") != "postgres" {
		return sqlite.Open(ctx, path)
	}
	server := os.Getenv("STELE_TEST_POSTGRES_URL")
	if server == "" {
		return nil, fmt.Errorf("STELE_BENCH_DB=postgres needs STELE_TEST_POSTGRES_URL")
	}
	return freshPostgres(ctx, server)
}

// freshPostgres opens a database made afresh on server.
func freshPostgres(ctx context.Context, server string) (*postgres.DB, error) {
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
	db      stele.Store
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
	for _, dir := range []string{scaleDir, pairDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// benchEvents is STELE_BENCH_EVENTS, 100,000 by default.
func benchEvents() (int, error) {
	if v := os.Getenv("STELE_BENCH_EVENTS"); v != "" {
		return strconv.Atoi(v)
	}
	return 100_000, nil
}

var buildScale = sync.OnceValues(func() (*scaleStore, error) {
	n, err := benchEvents()
	if err != nil {
		return nil, err
	}
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
	return fill(ctx, db, filepath.Join(dir, "keys.db"), n, time.Now())
})

// fill ingests n demo events, over the 30 days before end, into one account
// of db through the real ingest path. The same n and end give the same
// events.
func fill(ctx context.Context, db stele.Store, keysPath string, n int, end time.Time) (*scaleStore, error) {
	noUserAgent := os.Getenv("STELE_BENCH_NO_USER_AGENT") != ""
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{3}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := sqlite.OpenKeys(ctx, keysPath) // open while the benchmarks search
	if err != nil {
		return nil, err
	}
	c := datapath.Start(db, keys, master, logger, ingest.WriterConfig{})
	defer c.Stop() // the store is built once; searching needs no writer
	svc := c.Ingest
	acct := &stele.Account{Name: "acme", Type: "business"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		return nil, err
	}
	s := &scaleStore{db: db, search: c.Search, account: acct, n: n}
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
}

func scale(b *testing.B) *scaleStore {
	b.Helper()
	s, err := buildScale()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchQueries are the searches the scale benchmarks time; a %s is one of
// the store's actors, a different one each time.
var benchQueries = []struct{ name, q string }{
	{"newest", ""},
	{"actor", "actor:%s"},
	{"action", "action:user.login_failed"},
	{"action_or", "action:user.login_failed OR action:user.mfa_failed"}, // one term of two values: a union of index scans
	{"action_or_actor", "action:user.login_failed OR actor:%s"},         // a group: a union over the action and actor indexes
	{"or_of_conjunctions", "(action:user.login_failed outcome:failure) OR (category:configuration -outcome:failure)"},
	{"action_prefix", "action:finding.*"},
	{"rare_prefix", "action:retention.*"}, // a handful of events in a million
	{"category", "category:configuration"},
	{"text", "critical"},
}

// searchOnce runs the i-th search of kind (name, q) on s, as the console
// and API do (a page of 50, newest first, decrypted), and returns how long
// it took.
func searchOnce(b *testing.B, s *scaleStore, name, q string, i int, now time.Time) time.Duration {
	if strings.Contains(q, "%s") {
		q = fmt.Sprintf(q, s.actors[i%len(s.actors)])
	}
	parsed, err := query.Parse(q, now)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	p, err := s.search.Search(context.Background(), s.account, parsed, "", 50)
	d := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	if len(p.Events) == 0 && name != "text" {
		b.Fatalf("%q found nothing", q)
	}
	return d
}

// p99 sorts lat and returns its 99th percentile in milliseconds.
func p99(lat []time.Duration) float64 {
	slices.Sort(lat)
	return float64(lat[len(lat)*99/100].Microseconds()) / 1000
}

// BenchmarkSearchAtScale pages through the store as the console and API do,
// and reports the p99 of a page's latency next to the mean.
func BenchmarkSearchAtScale(b *testing.B) {
	s := scale(b)
	now := time.Now()
	for _, qq := range benchQueries {
		b.Run(qq.name, func(b *testing.B) {
			// A serving store has warm caches: a SQLite reader its prepared
			// statements, a PostgreSQL connection its plans. Measure that.
			for i := range 20 {
				searchOnce(b, s, qq.name, qq.q, i, now)
			}
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				lat = append(lat, searchOnce(b, s, qq.name, qq.q, i, now))
			}
			b.ReportMetric(p99(lat), "p99-ms")
			b.ReportMetric(float64(s.bytes)/float64(s.n), "db-bytes/event")
			b.ReportMetric(float64(s.json)/float64(s.n), "json-bytes/event")
		})
	}
}

// pairDir is the temporary directory of the SQLite store of the pair.
var pairDir string

// buildPair builds the same STELE_BENCH_EVENTS events into a SQLite store
// and a fresh PostgreSQL database on STELE_TEST_POSTGRES_URL's server.
var buildPair = sync.OnceValues(func() ([2]*scaleStore, error) {
	var pair [2]*scaleStore
	n, err := benchEvents()
	if err != nil {
		return pair, err
	}
	server := os.Getenv("STELE_TEST_POSTGRES_URL")
	if server == "" {
		return pair, errNoPostgres
	}
	ctx := context.Background()
	if pairDir, err = os.MkdirTemp("", "stele-pair"); err != nil {
		return pair, err
	}
	lite, err := sqlite.Open(ctx, filepath.Join(pairDir, "stele.db"))
	if err != nil {
		return pair, err
	}
	pg, err := freshPostgres(ctx, server)
	if err != nil {
		return pair, err
	}
	end := time.Now()
	if pair[0], err = fill(ctx, lite, filepath.Join(pairDir, "keys.db"), n, end); err != nil {
		return pair, err
	}
	pair[1], err = fill(ctx, pg, filepath.Join(pairDir, "pg-keys.db"), n, end)
	return pair, err
})

var errNoPostgres = fmt.Errorf("STELE_TEST_POSTGRES_URL is not set")

// BenchmarkSearchPostgresAgainstSQLite runs each search on a SQLite store
// and on a PostgreSQL store of the same events in turn, query by query, so
// that both see the same moments of a shared machine, and reports both
// p99s and their ratio (issue 4: PostgreSQL's within 1.5× of SQLite's).
func BenchmarkSearchPostgresAgainstSQLite(b *testing.B) {
	pair, err := buildPair()
	if err == errNoPostgres {
		b.Skip("needs PostgreSQL: set STELE_TEST_POSTGRES_URL")
	}
	if err != nil {
		b.Fatal(err)
	}
	lite, pg := pair[0], pair[1]
	now := time.Now()
	for _, qq := range benchQueries {
		b.Run(qq.name, func(b *testing.B) {
			for i := range 20 {
				searchOnce(b, lite, qq.name, qq.q, i, now)
				searchOnce(b, pg, qq.name, qq.q, i, now)
			}
			var onLite, onPG []time.Duration
			var sumLite, sumPG time.Duration
			for i := 0; b.Loop(); i++ {
				// Each goes first half of the time.
				first, second := lite, pg
				if i%2 == 1 {
					first, second = pg, lite
				}
				d1 := searchOnce(b, first, qq.name, qq.q, i, now)
				d2 := searchOnce(b, second, qq.name, qq.q, i, now)
				if first == pg {
					d1, d2 = d2, d1
				}
				onLite, onPG = append(onLite, d1), append(onPG, d2)
				sumLite, sumPG = sumLite+d1, sumPG+d2
			}
			l, p := p99(onLite), p99(onPG)
			b.ReportMetric(l, "sqlite-p99-ms")
			b.ReportMetric(p, "pg-p99-ms")
			b.ReportMetric(p/l, "p99-ratio")
			b.ReportMetric(float64(sumPG)/float64(sumLite), "mean-ratio")
		})
	}
}
