package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
)

// cluster is a set of `stele serve` nodes sharing one PostgreSQL database.
type cluster struct {
	t   *testing.T
	db  string   // the database URL
	env []string // the keys every node shares
}

// newCluster makes the store with stele init, as docs/DEPLOY.md says: the
// keys every node shares are the lines it prints.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	db := pgtest.NewDatabase(t)
	cmd := exec.Command(steleBin(t), "init", "--db", db, "--print-env")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stele init: %v\n%s", err, stderr.String())
	}
	return &cluster{t: t, db: db, env: append(os.Environ(), strings.Fields(string(out))...)}
}

// cli runs an admin command against the shared database.
func (c *cluster) cli(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(steleBin(c.t), append(args, "--db", c.db, "--data", c.t.TempDir())...)
	cmd.Env = c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("stele %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// start starts a node on a free port and returns it and its base URL.
func (c *cluster) start() (*exec.Cmd, string) {
	c.t.Helper()
	cmd, stdout := c.launch()
	return cmd, c.listening(stdout)
}

// launch starts a node without waiting for it.
func (c *cluster) launch() (*exec.Cmd, io.ReadCloser) {
	c.t.Helper()
	cmd := exec.Command(steleBin(c.t), "serve", "--addr", "127.0.0.1:0", "--db", c.db, "--data", c.t.TempDir(),
		"--log-level", "warn", "--checkpoint-interval", "1s")
	cmd.Env = c.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, stdout
}

// listening returns the base URL a launched node prints once it listens.
func (c *cluster) listening(stdout io.ReadCloser) string {
	c.t.Helper()
	base, err := listeningURL(stdout)
	if err != nil {
		c.t.Fatal(err)
	}
	return base
}

type ack struct {
	ID       string `json:"id"`
	Seq      int64  `json:"seq"`
	Replayed bool   `json:"replayed"`
}

// Three nodes on one database take a concurrent load into the same
// accounts; one of them is killed mid-load. Every acknowledged event is
// stored once, seqs are gap-free per account, idempotency keys hold across
// nodes, and `stele verify --db` passes.
func TestThreeNodesShareOneDatabase(t *testing.T) {
	c := newCluster(t)
	accounts := []string{"acme", "globex"}
	keys := map[string]string{}
	for _, name := range accounts {
		c.cli("accounts", "create", name, "--type", "team")
		var created struct{ Key string }
		if err := json.Unmarshal([]byte(c.cli("keys", "create", "--account", name, "--scopes", "events:write,events:read", "--json")), &created); err != nil {
			t.Fatal(err)
		}
		keys[name] = created.Key
	}
	// The nodes start together on the fresh database: first-start work
	// (the operator user, partitions, keys) must not trip over itself.
	var nodes [3]*exec.Cmd
	var bases [3]string
	var stdouts [3]io.ReadCloser
	for i := range nodes {
		nodes[i], stdouts[i] = c.launch()
	}
	for i := range nodes {
		bases[i] = c.listening(stdouts[i])
	}

	var (
		mu       sync.Mutex
		acked    = map[string]string{} // description → id
		idem     = map[string]string{} // account/idempotency key → id
		n        atomic.Int64
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		failures atomic.Int64
	)
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(base, account string, events []string) ([]ack, error) {
		req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(`{"events":[`+strings.Join(events, ",")+`]}`))
		req.Header.Set("Authorization", "Bearer "+keys[account])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out struct{ Events []ack }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("status %d: %v", resp.StatusCode, err)
		}
		return out.Events, nil
	}
	for node := range nodes {
		for _, account := range accounts {
			for w := range 3 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						var events, descs []string
						for j := range 19 {
							d := fmt.Sprintf("n%d w%d i%d j%d", node, w, i, j)
							descs = append(descs, d)
							events = append(events, fmt.Sprintf(`{"action":"user.login","actor":{"id":"u%d"},"description":%q}`, j, d))
						}
						// One event per batch that every worker sends too, each
						// through its own node: its key must store it once.
						shared := fmt.Sprintf("shared %d", i%50)
						events = append(events, fmt.Sprintf(`{"action":"user.logout","description":%q,"idempotency_key":%q}`, shared, shared))
						acks, err := post(bases[node], account, events)
						if err != nil {
							if failures.Add(1) > 1000 {
								return
							}
							continue // a killed node, or a failed request: not acknowledged
						}
						mu.Lock()
						for k, a := range acks[:19] {
							acked[account+"/"+descs[k]] = a.ID
						}
						key := account + "/" + shared
						if prev, ok := idem[key]; ok && prev != acks[19].ID {
							t.Errorf("idempotency key %s stored as %s and as %s", key, prev, acks[19].ID)
						}
						idem[key] = acks[19].ID
						mu.Unlock()
						n.Add(20)
					}
				})
			}
		}
	}
	waitFor := func(target int64) {
		deadline := time.Now().Add(3 * time.Minute)
		for n.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("only %d events acknowledged, want %d", n.Load(), target)
			}
			time.Sleep(20 * time.Millisecond) // bounded polling of a counter
		}
	}
	waitFor(4000)
	// Kill a node with requests in flight; the others go on.
	if err := nodes[2].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[2].Wait()
	before := n.Load()
	waitFor(before + 4000)
	close(stop)
	wg.Wait()
	for _, i := range []int{0, 1} {
		nodes[i].Process.Signal(syscall.SIGTERM)
		nodes[i].Wait()
	}
	t.Logf("%d events acknowledged through 3 nodes (one killed after %d)", n.Load(), before)

	// Straight from the database: seqs are unique and gap-free per account,
	// and the head covers them.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	stored := map[string]map[int64]bool{}
	for _, name := range accounts {
		var id, rows, distinct, maxSeq, head int64
		err := conn.QueryRow(ctx, `SELECT a.id, count(e.seq), count(DISTINCT e.seq), coalesce(max(e.seq), -1), h.size
			FROM accounts a JOIN heads h ON h.account_id = a.id LEFT JOIN events e ON e.account_id = a.id
			WHERE a.name = $1 GROUP BY a.id, h.size`, name).Scan(&id, &rows, &distinct, &maxSeq, &head)
		if err != nil {
			t.Fatal(err)
		}
		if rows != distinct || maxSeq != rows-1 || head != rows {
			t.Fatalf("%s: %d rows, %d distinct seqs, max seq %d, head %d: want gap-free 0..%d", name, rows, distinct, maxSeq, head, head-1)
		}
		stored[name] = map[int64]bool{}
		r, err := conn.Query(ctx, `SELECT seq FROM events WHERE account_id = $1`, id)
		if err != nil {
			t.Fatal(err)
		}
		var seq int64
		pgx.ForEachRow(r, []any{&seq}, func() error { stored[name][seq] = true; return nil })
	}
	for key, id := range acked {
		account, _, _ := strings.Cut(key, "/")
		_, seq, err := stele.ParseEventID(id)
		if err != nil || !stored[account][seq] {
			t.Fatalf("acknowledged event %s (%s) is missing", id, key)
		}
	}

	// Through the API: every acknowledged event reads back once, and each
	// shared idempotency key was stored once per account.
	_, base := c.start()
	for _, name := range accounts {
		seen := map[string]int{}
		for _, e := range listEvents(t, client, base, keys[name]) {
			seen[e.Description]++
		}
		for key := range acked {
			if account, d, _ := strings.Cut(key, "/"); account == name && seen[d] != 1 {
				t.Fatalf("%s: event %q read back %d times", name, d, seen[d])
			}
		}
		for d, k := range seen {
			if k != 1 {
				t.Fatalf("%s: %q stored %d times", name, d, k)
			}
		}
	}
	out := c.cli("verify")
	t.Logf("verify: %s", strings.TrimSpace(out))
}
