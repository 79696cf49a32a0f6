//go:build linux

package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele/internal/lazyfs"
)

// A power cut, unlike a kill, takes the page cache with it: these tests run
// `stele serve` on a lazy file system (internal/lazyfs) that keeps only what
// was synced, cut the power under load at chosen moments, kill the server
// (nothing runs after a power cut), and start it again on what is left.

// sentEvent is what a producer sent of an acknowledged event, with the seq
// its receipt gave.
type sentEvent struct {
	seq         int64
	time        string
	actor, desc string
}

// receipts holds every acknowledged event of one account, by id.
type receipts struct {
	mu     sync.Mutex
	events map[string]sentEvent
}

func (r *receipts) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// loadRound sends events to one account from several producers, single
// events and batches, until stop is closed or the server stops answering,
// and keeps the receipt of each event acknowledged (201).
type loadRound struct {
	t                  *testing.T
	base, key, account string
	// at is the events' time; tag makes their actors unique.
	at   time.Time
	tag  string
	seed uint64
	acks *receipts
}

func (l loadRound) run(producers int, stop <-chan struct{}) (wait func()) {
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for w := range producers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(l.seed, uint64(w)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := 1 // half the producers send single events, half batches
				if w%2 == 1 {
					n = 2 + rng.IntN(30)
				}
				if !l.send(client, fmt.Sprintf("%s-w%d-%d", l.tag, w, i), n) {
					return
				}
			}
		})
	}
	return wg.Wait
}

// send posts n events and records their receipts; it reports false once
// the server is gone.
func (l loadRound) send(client *http.Client, id string, n int) bool {
	sent := make([]sentEvent, n)
	bodies := make([]string, n)
	ts := l.at.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano) // stored to the µs
	for j := range sent {
		sent[j] = sentEvent{time: ts, actor: fmt.Sprintf("%s-%d", id, j), desc: "power cut " + id}
		bodies[j] = fmt.Sprintf(`{"account":%q,"action":"user.login","time":%q,"actor":{"id":%q},"description":%q}`, l.account, ts, sent[j].actor, sent[j].desc)
	}
	body := bodies[0]
	if n > 1 {
		body = `{"events":[` + strings.Join(bodies, ",") + `]}`
	}
	req, _ := http.NewRequest("POST", l.base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+l.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Events []struct {
			ID  string `json:"id"`
			Seq int64  `json:"seq"`
		} `json:"events"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return true // refused or cut short: not acknowledged
	}
	if len(out.Events) != n {
		l.t.Errorf("%d receipts for %d events", len(out.Events), n)
		return false
	}
	l.acks.mu.Lock()
	defer l.acks.mu.Unlock()
	for j, e := range out.Events {
		sent[j].seq = e.Seq
		l.acks.events[e.ID] = sent[j]
	}
	return true
}

// checkReceipts reads the account back and checks that every acknowledged
// event is there with what was sent and the seq its receipt gave. Events
// of a purged account may be gone, but only a prefix of them. It returns
// how many acknowledged events are gone.
func checkReceipts(t *testing.T, base, key string, acks *receipts, purgeable bool) (purged int) {
	t.Helper()
	stored := map[string]listedEvent{}
	for _, e := range listEvents(t, &http.Client{Timeout: time.Minute}, base, key) {
		stored[e.ID] = e
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	lowestKept, highestGone := int64(-1), int64(-1)
	for id, want := range acks.events {
		got, ok := stored[id]
		if !ok {
			if !purgeable {
				t.Errorf("acknowledged event %s (seq %d) is missing after the power cut", id, want.seq)
			}
			purged++
			highestGone = max(highestGone, want.seq)
			continue
		}
		if lowestKept < 0 || want.seq < lowestKept {
			lowestKept = want.seq
		}
		gotTime, err1 := time.Parse(time.RFC3339Nano, got.Time)
		wantTime, err2 := time.Parse(time.RFC3339Nano, want.time)
		if got.Seq != want.seq || got.Actor.ID != want.actor || got.Description != want.desc || got.Action != "user.login" ||
			err1 != nil || err2 != nil || !gotTime.Equal(wantTime) {
			t.Errorf("event %s after the power cut: %+v, want seq %d, actor %s, %q at %s", id, got, want.seq, want.actor, want.desc, want.time)
		}
	}
	if purged > 0 && lowestKept >= 0 && highestGone > lowestKept {
		t.Errorf("the purge left a hole: seq %d is gone but %d is kept", highestGone, lowestKept)
	}
	return purged
}

// cutPlan is a moment to cut the power at, chosen by a seeded random
// number: before the nth operation that match picks.
type cutPlan struct {
	name string
	// match picks operations; purge is the process of the retention
	// purge, or 0.
	match func(op lazyfs.Op, purge int) bool
	n     int
	purge bool // run a retention purge beside the load
	// producers is how many send events at once: 4 unless set.
	producers int
}

func TestAcknowledgedEventsSurvivePowerLoss(t *testing.T) {
	fsys := lazyfs.MountTest(t)
	// The data directory exists, and durably, before Stele first runs, as
	// an installation leaves it.
	data := filepath.Join(fsys.Dir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	syncDirectory(t, fsys.Dir())
	runCLI(t, "init", "--data", data)
	// Ingest quotas would refuse part of the load: this test is about what
	// is acknowledged, not how much.
	unlimited := []string{"--ingest-events-per-second", "unlimited", "--ingest-bytes-per-second", "unlimited"}
	runCLI(t, append([]string{"accounts", "create", "acme", "--type", "team", "--data", data}, unlimited...)...)
	// Events of "old" are older than its retention: a purge deletes them.
	// A purge takes expired events oldest first, and these are sent in
	// time order, so what a cut purge leaves is a suffix of them; they come
	// through an operator key, which leaves no record in the account, and
	// the account's own key is made after them.
	runCLI(t, append([]string{"accounts", "create", "old", "--type", "free", "--retention-days", "1", "--data", data}, unlimited...)...)
	key := func(args ...string) string {
		var created struct{ Key string }
		out := runCLI(t, append([]string{"keys", "create", "--json", "--data", data}, args...)...)
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatal(err)
		}
		return created.Key
	}
	acmeKey := key("--account", "acme", "--scopes", "events:write,events:read")
	operatorKey := key("--operator", "--scopes", "events:write")
	var oldKey string

	const (
		wal  = "/data/stele.db-wal"
		main = "/data/stele.db"
	)
	rng := rand.New(rand.NewPCG(16, 4))
	plans := []cutPlan{
		{name: "WAL sync", n: 20 + rng.IntN(200), match: func(op lazyfs.Op, _ int) bool {
			return op.Kind == lazyfs.OpSync && op.Path == wal
		}},
		{name: "WAL write", n: 50 + rng.IntN(500), match: func(op lazyfs.Op, _ int) bool {
			return op.Kind == lazyfs.OpWrite && op.Path == wal
		}},
		{name: "checkpoint write", n: 1 + rng.IntN(60), match: func(op lazyfs.Op, _ int) bool {
			return op.Kind == lazyfs.OpWrite && op.Path == main
		}},
		// A checkpoint syncs the main file only when it has copied the
		// whole WAL, which a heavy load makes rare: a lighter one here.
		{name: "checkpoint sync", n: 1 + rng.IntN(2), producers: 2, match: func(op lazyfs.Op, _ int) bool {
			return op.Kind == lazyfs.OpSync && op.Path == main
		}},
		// The purge deletes 5,000 events 100 at a time, each batch a few
		// syncs of the WAL (its statement, its deletion, a checkpoint);
		// the cut comes after its first batch and before its last. It
		// waits for the writer's lock between batches: one producer.
		{name: "retention purge's WAL sync", n: 20 + rng.IntN(100), purge: true, producers: 1, match: func(op lazyfs.Op, purge int) bool {
			return purge != 0 && op.Kind == lazyfs.OpSync && op.Path == wal && op.Process() == purge
		}},
	}
	acme := &receipts{events: map[string]sentEvent{}}
	old := &receipts{events: map[string]sentEvent{}}
	for r, plan := range plans {
		serve, base := startServe(t, data)
		if plan.purge {
			// Expired events for the purge to delete, acknowledged
			// before it starts.
			l := loadRound{t: t, base: base, key: operatorKey, account: "old", at: time.Now().Add(-5 * 24 * time.Hour), tag: fmt.Sprintf("r%d-old", r), acks: old}
			client := &http.Client{Timeout: time.Minute}
			for i := range 10 {
				if !l.send(client, fmt.Sprintf("r%d-old-%d", r, i), 500) || old.len() != 500*(i+1) {
					t.Fatal("expired events were not all acknowledged")
				}
			}
			oldKey = key("--account", "old", "--scopes", "events:read")
		}
		var purging atomic.Int64 // the purge's pid
		count := 0
		cut := fsys.CutWhen(func(op lazyfs.Op) bool {
			if plan.match(op, int(purging.Load())) {
				count++
			}
			return count == plan.n
		})
		stop := make(chan struct{})
		l := loadRound{t: t, base: base, key: acmeKey, account: "acme", at: time.Now(), tag: fmt.Sprintf("r%d", r), seed: uint64(100 + r), acks: acme}
		wait := l.run(cmp.Or(plan.producers, 4), stop)
		var purge *exec.Cmd
		purged := make(chan error, 1)
		if plan.purge {
			purge = exec.Command(steleBin(t), "retention", "run", "--data", data, "--account", "old", "--batch", "100")
			var out strings.Builder
			purge.Stdout, purge.Stderr = &out, &out
			if err := purge.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { purge.Process.Kill() })
			purging.Store(int64(purge.Process.Pid))
			go func() {
				err := purge.Wait()
				purged <- fmt.Errorf("%v\n%s", err, out.String())
			}()
		}
		select {
		case <-cut:
		case err := <-purged:
			t.Fatalf("round %d: the purge ended before the cut: %v", r, err)
		case <-time.After(2 * time.Minute):
			t.Fatalf("round %d (%s): no cut before the %dth operation after two minutes", r, plan.name, plan.n)
		}
		// Nothing runs after a power cut.
		serve.Process.Kill()
		serve.Wait()
		if purge != nil {
			purge.Process.Kill()
			<-purged
		}
		close(stop)
		wait()
		if err := fsys.Restore(); err != nil {
			t.Fatal(err)
		}

		serve, base = startServe(t, data)
		checkReceipts(t, base, acmeKey, acme, false)
		gone := 0
		if oldKey != "" {
			// Reads hide expired events, purged or not: a legal hold shows
			// what the purge left, while old's events are counted.
			runCLI(t, "accounts", "set", "old", "--legal-hold", "on", "--data", data)
			gone = checkReceipts(t, base, oldKey, old, true)
			runCLI(t, "accounts", "set", "old", "--legal-hold", "off", "--data", data)
		}
		if plan.purge && (gone == 0 || gone == old.len()) {
			t.Errorf("the cut came when the purge had deleted %d of %d events: not during it", gone, old.len())
		}
		serve.Process.Signal(os.Interrupt)
		serve.Wait()
		runCLI(t, "verify", "--data", data)
		t.Logf("round %d: cut before %s #%d; %d events of acme and %d of old acknowledged so far, %d of old purged", r, plan.name, plan.n, acme.len(), old.len(), gone)
		if t.Failed() {
			return
		}
	}
}

func syncDirectory(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}
