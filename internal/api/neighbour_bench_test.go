package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ingest"
)

// BenchmarkNoisyNeighbour measures what one account's flood does to
// another's single events, in one run on one server (a real SQLite file
// behind a real listener): globex sends b.N single events one after the
// other with the server idle, then b.N more while acme sends batches (of
// 1,000 events, the most a request may hold, down to single events) from 8
// connections as fast as the server answers, ignoring any 429. It reports
// both p99s and their ratio; acme's stored rate during the flood shows the
// flood was real.
//
// Both accounts send from processes of their own (this test binary, run
// again as a client: TestMain), as producers do: a client's work (sending
// acme's 580 KB bodies, waiting for each answer) is not the server's, and
// would otherwise compete with it for the same Go scheduler.
//
// With quota=none acme's ingest quota does not bind: the fair writer alone
// stands between the two accounts. With quota=team or quota=business acme
// has that type's default events quota, which its flood far exceeds; the
// flood is measured once acme's burst is spent: what a noisy tenant can do
// to the others once its quota holds it. globex's quota never binds.
//
//	go test -run '^$' -bench NoisyNeighbour -benchtime 3000x -timeout 30m ./internal/api
func BenchmarkNoisyNeighbour(b *testing.B) {
	quotas := []struct {
		name   string
		events int64
	}{{"none", 0}}
	for _, t := range stele.DefaultAccountTypes {
		if t.Name == "team" || t.Name == "business" {
			quotas = append(quotas, struct {
				name   string
				events int64
			}{t.Name, t.Ingest.EventsPerSecond})
		}
	}
	for _, quota := range quotas {
		for _, batch := range []int{1000, 100, 10, 1} {
			b.Run(fmt.Sprintf("quota=%s/flood_batch=%d", quota.name, batch), func(b *testing.B) { benchNoisyNeighbour(b, batch, quota.events) })
		}
	}
}

func benchNoisyNeighbour(b *testing.B, floodBatch int, acmeEvents int64) {
	// This process is the server alone: collect garbage as stele serve does.
	was := debug.SetGCPercent(100)
	debug.SetGCPercent(was)
	ingest.TuneGC()
	b.Cleanup(func() { debug.SetGCPercent(was) })
	e := newEnv(b)
	unlimited := int64(0)
	if _, _, err := e.db.UpdateAccount(context.Background(), e.accts["globex"].ID, stele.AccountUpdate{
		IngestEventsPerSecond: stele.SettingChange{Set: &unlimited}, IngestBytesPerSecond: stele.SettingChange{Set: &unlimited}}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.db.UpdateAccount(context.Background(), e.accts["acme"].ID, stele.AccountUpdate{
		IngestEventsPerSecond: stele.SettingChange{Set: &acmeEvents}, IngestBytesPerSecond: stele.SettingChange{Set: &unlimited}}); err != nil {
		b.Fatal(err)
	}
	stored := func() int64 {
		h, err := e.db.CurrentHead(context.Background(), e.accts["acme"].ID)
		if err != nil {
			b.Fatal(err)
		}
		return h.Size
	}
	// latencies has globex send n single events, one at a time, from a
	// process of its own.
	latencies := func(n int) []time.Duration {
		p := startClient(b, clientConfig{URL: e.srv.URL, Key: e.keys["globex"], Batch: 1, Probe: n})
		var ds []time.Duration
		out, _ := p.await("latencies", 0)
		if err := json.Unmarshal([]byte(out), &ds); err != nil {
			b.Fatal(err)
		}
		p.stop()
		return ds
	}

	b.ResetTimer()
	idle := latencies(b.N)

	// Measure only once every flooding connection has had an answer and,
	// under a quota, once acme's burst is spent: what follows is the
	// flood as its quota holds it. A flood that has not spent it within
	// the burst's seconds and as many more (single events, say, that the
	// server cannot take as fast as the quota allows) is measured as it is.
	flood := startClient(b, clientConfig{URL: e.srv.URL, Key: e.keys["acme"], Batch: floodBatch, Quota: acmeEvents != 0})
	flood.await("answered", 0)
	if acmeEvents != 0 {
		flood.await("refused", 2*stele.DefaultIngestBurstSeconds*time.Second)
	}
	floodStart, floodFrom := time.Now(), stored()
	busy := latencies(b.N)
	floodRate := float64(stored()-floodFrom) / time.Since(floodStart).Seconds()
	flood.stop()
	b.StopTimer()

	pIdle, pBusy := p99(idle), p99(busy)
	b.ReportMetric(ms(pIdle), "idle-p99-ms")
	b.ReportMetric(ms(pBusy), "flood-p99-ms")
	b.ReportMetric(float64(pBusy)/float64(pIdle), "p99-ratio")
	b.ReportMetric(ms(median(idle)), "idle-p50-ms")
	b.ReportMetric(ms(median(busy)), "flood-p50-ms")
	b.ReportMetric(floodRate, "flood-events/s")
	b.ReportMetric(0, "ns/op") // the two phases' time together means nothing
}

// post sends body with key and returns an error unless the events were
// stored, or, when refusable, refused by the account's quota (errRefused).
func post(client *http.Client, url, key string, body []byte, refusable bool) error {
	req, err := http.NewRequest("POST", url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body) // so the connection is reused
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusCreated:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests && refusable:
		return errRefused
	default:
		return fmt.Errorf("status %d", resp.StatusCode)
	}
}

var errRefused = errors.New("refused by the quota")

// clientConfig is what a client (runClient) sends, passed in its
// environment as JSON.
type clientConfig struct {
	URL, Key string
	Batch    int
	Quota    bool // a 429 is expected, not a failure
	// Probe, if set, is how many single events to send one at a time,
	// timing each; otherwise the client floods until its input closes.
	Probe int
}

const clientEnv = "STELE_NEIGHBOUR_CLIENT"

// clientProc is a client process, seen from the benchmark.
type clientProc struct {
	b     *testing.B
	cmd   *exec.Cmd
	stdin io.Closer
	lines chan string       // its output, line by line, closed when it ends
	said  map[string]string // what it said, by the word after "client: "
	other []string          // its other lines
}

// startClient runs this test binary as a client (TestMain).
func startClient(b *testing.B, cfg clientConfig) *clientProc {
	b.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0]) // TestMain: a client, not the tests
	cmd.Env = append(os.Environ(), clientEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &clientProc{b: b, cmd: cmd, stdin: stdin, lines: make(chan string), said: map[string]string{}}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	b.Cleanup(func() {
		c.cmd.Process.Kill()
		for range c.lines {
		}
		c.cmd.Wait()
	})
	return c
}

// await returns the rest of the line in which the client said what, now
// or earlier (a flood may be refused before every connection has had its
// first answer). It fails if the client ends first, and returns false if
// within passes first (0: no limit).
func (c *clientProc) await(what string, within time.Duration) (string, bool) {
	c.b.Helper()
	var timeout <-chan time.Time
	if within > 0 {
		timeout = time.After(within)
	}
	for {
		if rest, ok := c.said[what]; ok {
			return rest, true
		}
		select {
		case line, ok := <-c.lines:
			if !ok {
				c.b.Fatalf("the client ended before it said %q: %s", what, strings.Join(c.other, "\n"))
			}
			if said, ok := strings.CutPrefix(line, "client: "); ok {
				word, rest, _ := strings.Cut(said, " ")
				c.said[word] = rest
			} else {
				c.other = append(c.other, line)
			}
		case <-timeout:
			return "", false
		}
	}
}

// stop closes the client's input, which ends a flood, and fails the
// benchmark if the client failed.
func (c *clientProc) stop() {
	c.b.Helper()
	c.stdin.Close()
	for line := range c.lines {
		c.other = append(c.other, line)
	}
	if err := c.cmd.Wait(); err != nil {
		c.b.Fatalf("the client: %v: %s", err, strings.Join(c.other, "\n"))
	}
}

// TestMain runs this binary as a client of BenchmarkNoisyNeighbour's when
// the benchmark starts it so (startClient), and otherwise runs the tests.
func TestMain(m *testing.M) {
	if js, ok := os.LookupEnv(clientEnv); ok {
		if err := runClient(js); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runClient is a client of BenchmarkNoisyNeighbour's, in a process of its
// own. As a probe it sends single events one at a time, after 20 to open
// its connection, and says "latencies" and their durations as JSON. As a
// flood it sends batches from 8 connections, as fast as the server
// answers, until its standard input closes; it says "answered" once every
// connection has had an answer, and "refused" at the first 429.
func runClient(js string) error {
	var cfg clientConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return err
	}
	if cfg.Probe > 0 {
		return probe(cfg)
	}
	const conns = 8
	body, err := demoRequest(cfg.Batch)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	var (
		wg       sync.WaitGroup
		answered sync.WaitGroup
		refused  sync.Once
		errs     = make([]error, conns)
	)
	answered.Add(conns)
	for c := range conns {
		wg.Go(func() {
			for first := true; ; first = false {
				select {
				case <-stop:
					return
				default:
				}
				err := post(hc, cfg.URL, cfg.Key, body, cfg.Quota)
				if first {
					answered.Done() // a failure too: the benchmark learns of it at stop
				}
				if errors.Is(err, errRefused) {
					refused.Do(func() { fmt.Println("client: refused") })
				} else if err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	answered.Wait()
	fmt.Println("client: answered")
	wg.Wait()
	return errors.Join(errs...)
}

// probe sends cfg.Probe single events one at a time and prints how long
// each took.
func probe(cfg clientConfig) error {
	// The probe's own collections would be timed as the server's latency:
	// none until its heap reaches 256 MiB.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(256 << 20)
	body, err := demoRequest(1)
	if err != nil {
		return err
	}
	hc := &http.Client{}
	ds := make([]time.Duration, 20+cfg.Probe)
	for i := range ds {
		start := time.Now()
		if err := post(hc, cfg.URL, cfg.Key, body, false); err != nil {
			return err
		}
		ds[i] = time.Since(start)
	}
	js, err := json.Marshal(ds[20:])
	if err != nil {
		return err
	}
	fmt.Printf("client: latencies %s\n", js)
	return nil
}

func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
