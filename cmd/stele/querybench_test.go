package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/loadgen"
)

// servedPair is two `stele serve` processes holding the same events, one on
// SQLite and one on a PostgreSQL database of its own.
type servedPair struct {
	name   [2]string // "sqlite", "pg"
	base   [2]string // base URLs
	key    [2]string // read and write API keys
	actors []string  // actor ids of the events, for actor: queries
	n      int
}

// pairCleanup stops the pair's servers and removes its data; TestMain runs
// it, as the pair outlives any one benchmark.
var pairCleanup []func()

// buildServedPair starts the pair and sends both servers the same
// STELE_BENCH_EVENTS (default 100,000) demo events over the 30 days before
// now, through the API, in batches of 1,000.
var buildServedPair = sync.OnceValues(func() (*servedPair, error) {
	server := os.Getenv("STELE_TEST_POSTGRES_URL")
	if server == "" {
		return nil, errNoPostgres
	}
	n := 100_000
	if v := os.Getenv("STELE_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return nil, err
		}
	}
	bin, err := buildStele()
	if err != nil {
		return nil, err
	}
	dbURL, err := benchDatabase(server)
	if err != nil {
		return nil, err
	}
	p := &servedPair{name: [2]string{"sqlite", "pg"}, n: n}
	for i, store := range [][]string{nil, {"--db", dbURL}} {
		data, err := os.MkdirTemp("", "stele-querybench")
		if err != nil {
			return nil, err
		}
		pairCleanup = append(pairCleanup, func() { os.RemoveAll(data) })
		args := append([]string{"--data", data}, store...)
		// Each store is made by stele init; its keys are the lines it prints.
		keys, err := exec.Command(bin, append([]string{"init", "--print-env"}, args...)...).Output()
		if err != nil {
			return nil, fmt.Errorf("stele init: %v", err)
		}
		env := append(os.Environ(), strings.Fields(string(keys))...)
		cli := func(a ...string) ([]byte, error) {
			cmd := exec.Command(bin, append(a, args...)...)
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil {
				return nil, fmt.Errorf("stele %s: %v", strings.Join(a, " "), err)
			}
			return out, nil
		}
		if _, err := cli("accounts", "create", "acme", "--type", "business",
			"--ingest-events-per-second", "unlimited", "--ingest-bytes-per-second", "unlimited"); err != nil {
			return nil, err
		}
		out, err := cli("keys", "create", "--account", "acme", "--scopes", "events:write,events:read", "--json")
		if err != nil {
			return nil, err
		}
		var created struct{ Key string }
		if err := json.Unmarshal(out, &created); err != nil {
			return nil, err
		}
		p.key[i] = created.Key
		if p.base[i], err = serveInBackground(bin, env, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)); err != nil {
			return nil, err
		}
	}
	if err := p.fill(); err != nil {
		return nil, err
	}
	// A loaded PostgreSQL table is vacuumed and analysed by autovacuum a
	// while later; do it now, so that it does not run during the queries.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `VACUUM (ANALYZE) events`); err != nil {
		return nil, err
	}
	return p, nil
})

var errNoPostgres = fmt.Errorf("STELE_TEST_POSTGRES_URL is not set")

// benchDatabase creates a database on server for the pair and returns its
// URL; TestMain drops it.
func benchDatabase(server string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("stele_querybench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	pairCleanup = append(pairCleanup, func() {
		if c, err := pgx.Connect(ctx, server); err == nil {
			c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			c.Close(ctx)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// serveInBackground starts `stele serve` with args and returns its base URL.
func serveInBackground(bin string, env, args []string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	pairCleanup = append(pairCleanup, func() { cmd.Process.Kill(); cmd.Wait() })
	return listeningURL(stdout)
}

// fill sends both servers the same events, four requests at a time each.
func (p *servedPair) fill() error {
	end := time.Now()
	gen := demo.New(1, end.Add(-30*24*time.Hour), end)
	step := 30 * 24 * time.Hour / time.Duration(p.n)
	at := end.Add(-30 * 24 * time.Hour)
	seen := map[string]bool{}
	bodies := make(chan []byte, 8)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: time.Minute}
	for range 4 {
		wg.Go(func() {
			for body := range bodies {
				for i := range p.base {
					if err := p.post(client, i, body); err != nil {
						select {
						case errc <- err:
						default:
						}
					}
				}
			}
		})
	}
	batch := make([]stele.Event, 0, 1000)
	for i := range p.n {
		e := gen.Next("acme", at)
		at = at.Add(step)
		if e.Actor != nil && e.Actor.ID != "" && !seen[e.Actor.ID] && len(p.actors) < 50 {
			seen[e.Actor.ID] = true
			p.actors = append(p.actors, e.Actor.ID)
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) || i == p.n-1 {
			body, err := loadgen.EventsBody(batch)
			if err != nil {
				return err
			}
			bodies <- body
			batch = batch[:0]
		}
	}
	close(bodies)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (p *servedPair) post(client *http.Client, i int, body []byte) error {
	req, err := http.NewRequest("POST", p.base[i]+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.key[i])
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: POST /v1/events: %s: %s", p.name[i], resp.Status, msg)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// apiQueries are the searches timed, as the search package's benchmarks
// time them; %s is one of the events' actors, a different one each time.
var apiQueries = []struct{ name, q string }{
	{"newest", ""},
	{"actor", "actor:%s"},
	{"action", "action:user.login_failed"},
	{"action_prefix", "action:finding.*"},
	{"rare_prefix", "action:retention.*"}, // a handful of events in a million
	{"category", "category:configuration"},
	{"text", "critical"},
}

// get runs one search, a page of 50 as the console asks for, and returns
// how long the response took to arrive in full.
func (p *servedPair) get(b *testing.B, client *http.Client, i int, q string) time.Duration {
	req, err := http.NewRequest("GET", p.base[i]+"/v1/events?limit=50&q="+url.QueryEscape(q), nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.key[i])
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %q: %s: %s", p.name[i], q, resp.Status, body)
	}
	return d
}

// BenchmarkQueryAPIPostgresAgainstSQLite asks a SQLite server and a
// PostgreSQL server of the same events the same searches over HTTP, one
// after the other, alternating which goes first, and reports both p99s and
// their ratio (issue 4: PostgreSQL's within 1.5× of SQLite's). This is the
// latency a user of either deployment sees; the search package's
// BenchmarkSearchPostgresAgainstSQLite compares the stores alone, in one
// process. Needs STELE_TEST_POSTGRES_URL; STELE_BENCH_EVENTS sets the size.
func BenchmarkQueryAPIPostgresAgainstSQLite(b *testing.B) {
	p, err := buildServedPair()
	if err == errNoPostgres {
		b.Skip("needs PostgreSQL: set STELE_TEST_POSTGRES_URL")
	}
	if err != nil {
		b.Fatal(err)
	}
	// One keep-alive connection to each server, as a console or SIEM
	// poller keeps.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for _, qq := range apiQueries {
		b.Run(qq.name, func(b *testing.B) {
			query := func(i int) string {
				if qq.name == "actor" {
					return fmt.Sprintf(qq.q, p.actors[i%len(p.actors)])
				}
				return qq.q
			}
			for i := range 20 {
				p.get(b, client, 0, query(i))
				p.get(b, client, 1, query(i))
			}
			var lat [2][]time.Duration
			var sum [2]time.Duration
			for i := 0; b.Loop(); i++ {
				for k := range 2 {
					s := (i + k) % 2 // each goes first half of the time
					d := p.get(b, client, s, query(i))
					lat[s] = append(lat[s], d)
					sum[s] += d
				}
			}
			p99 := func(l []time.Duration) float64 {
				slices.Sort(l)
				return float64(l[len(l)*99/100].Microseconds()) / 1000
			}
			lite, pg := p99(lat[0]), p99(lat[1])
			b.ReportMetric(lite, "sqlite-p99-ms")
			b.ReportMetric(pg, "pg-p99-ms")
			b.ReportMetric(pg/lite, "p99-ratio")
			b.ReportMetric(float64(sum[1])/float64(sum[0]), "mean-ratio")
		})
	}
}
