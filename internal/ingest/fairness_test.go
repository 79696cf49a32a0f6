package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// steppedStore lets the test run the writer's commits one at a time: each
// Append announces itself on entered, waits for a token on next (or for
// free to close), and reports the accounts whose rows it wrote on commits.
type steppedStore struct {
	stele.EventStore
	entered chan struct{}
	next    chan struct{}
	free    chan struct{}
	commits chan []int64
	fail    atomic.Bool // the next commit fails, storing nothing
}

func newSteppedStore(db stele.EventStore) *steppedStore {
	return &steppedStore{EventStore: db, entered: make(chan struct{}, 1000), next: make(chan struct{}),
		free: make(chan struct{}), commits: make(chan []int64, 1000)}
}

func (s *steppedStore) Append(ctx context.Context, fn func(stele.AppendTx) error) error {
	s.entered <- struct{}{}
	select {
	case <-s.next:
	case <-s.free:
	}
	if s.fail.Swap(false) {
		s.commits <- nil
		return errors.New("the disk went away")
	}
	var accounts []int64
	err := s.EventStore.Append(ctx, func(tx stele.AppendTx) error {
		accounts = accounts[:0]
		return fn(&accountsTx{AppendTx: tx, accounts: &accounts})
	})
	s.commits <- accounts
	return err
}

// accountsTx notes the account of every row inserted.
type accountsTx struct {
	stele.AppendTx
	accounts *[]int64
}

func (t *accountsTx) InsertEvents(ctx context.Context, rows []stele.EventRow) error {
	for _, r := range rows {
		*t.accounts = append(*t.accounts, r.AccountID)
	}
	return t.AppendTx.InsertEvents(ctx, rows)
}

// fairStack is a writer over a steppedStore with accounts acme and globex.
type fairStack struct {
	store        *steppedStore
	w            *Writer
	stop         context.CancelFunc
	svc          *Service
	acme, globex *stele.Account
	db           *sqlite.DB
	wg           sync.WaitGroup
}

func newFairStack(t *testing.T, cfg WriterConfig) *fairStack {
	t.Helper()
	return newFairStackOn(t, cfg, func(s *steppedStore) stele.EventStore { return s })
}

// newFairStackOn is newFairStack with the writer on wrap(the stepped store).
func newFairStackOn(t *testing.T, cfg WriterConfig, wrap func(*steppedStore) stele.EventStore) *fairStack {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fairStack{acme: &stele.Account{Name: "acme", Type: "team"}, globex: &stele.Account{Name: "globex", Type: "team"}, db: db}
	for _, a := range []*stele.Account{f.acme, f.globex} {
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{5}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.store = newSteppedStore(db)
	// Not t.Context(): it ends before the cleanup that lets the last
	// batches through.
	wctx, cancel := context.WithCancel(context.Background())
	f.w, f.stop = NewWriter(wctx, wrap(f.store), logger, cfg), cancel
	t.Cleanup(func() { close(f.store.free); f.wg.Wait(); cancel(); f.w.Wait() })
	f.svc = NewService(db, seal.NewKeyring(master, sqlitetest.Keys(t)), f.w, logger)
	return f
}

// send records n events for account in one batch, in the background.
func (f *fairStack) send(t *testing.T, account string, n int) {
	t.Helper()
	events := make([]stele.Event, n)
	for i := range events {
		events[i] = stele.Event{Account: account, Action: "user.login"}
	}
	f.wg.Go(func() {
		if _, err := f.svc.Record(context.Background(), events...); err != nil {
			t.Error(err)
		}
	})
}

// waitQueued returns once n batches wait in the writer's queue.
func (f *fairStack) waitQueued(n int) {
	for f.w.queued() < n {
		runtime.Gosched()
	}
}

// step lets one commit through and returns the account of each row it wrote.
func (f *fairStack) step() []int64 {
	<-f.store.entered
	f.store.next <- struct{}{}
	return <-f.store.commits
}

// accounts returns the accounts of rows, each once.
func accounts(rows []int64) []int64 {
	s := slices.Clone(rows)
	slices.Sort(s)
	return slices.Compact(s)
}

// hold sends one event for acme and returns once its commit is held.
func (f *fairStack) hold(t *testing.T) {
	t.Helper()
	f.send(t, "acme", 1)
	<-f.store.entered
	f.store.entered <- struct{}{} // for step to take again
}

// TestWriterServesAWaitingAccountBeforeAFloodersBacklog: with acme's
// batches queued up to several commits deep, a batch of globex's that
// arrives after them is stored by the very next commit, not after acme's
// backlog.
func TestWriterServesAWaitingAccountBeforeAFloodersBacklog(t *testing.T) {
	f := newFairStack(t, WriterConfig{MaxEvents: 10})
	f.hold(t)
	for range 6 {
		f.send(t, "acme", 5)
	}
	f.waitQueued(6)
	f.send(t, "globex", 1)
	f.waitQueued(7)

	if got := accounts(f.step()); !slices.Equal(got, []int64{f.acme.ID}) {
		t.Fatalf("the held commit wrote accounts %v, want acme's alone", got)
	}
	if got := accounts(f.step()); !slices.Contains(got, f.globex.ID) {
		t.Fatalf("the next commit wrote accounts %v: globex waits behind acme's backlog", got)
	}
}

// TestWriterKeepsCommitsSmallWhileAnotherAccountWrites: once batches of two
// accounts have waited together, an account's share of a commit is at
// most FairEvents, and a batch larger than that goes in pieces, in commits
// of their own, so that a quiet account's event does not commit beside a
// flooder's large batch, while small batches of both still share one,
// until a quiet second has passed; then an account writing alone fills
// commits up to MaxEvents again.
func TestWriterKeepsCommitsSmallWhileAnotherAccountWrites(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFairStack(t, WriterConfig{MaxEvents: 100, FairEvents: 5, Now: clock})

	f.hold(t)
	f.send(t, "acme", 5)
	f.waitQueued(1)
	f.send(t, "globex", 1)
	f.waitQueued(2)
	f.step()
	if got := f.step(); len(got) != 6 {
		t.Fatalf("the first shared commit wrote %v, want acme's 5 events and globex's one: each is within its share", got)
	}

	f.hold(t)
	f.send(t, "acme", 10)
	f.waitQueued(1)
	f.send(t, "globex", 1)
	f.waitQueued(2)
	f.step()
	if got := f.step(); !slices.Equal(got, []int64{f.globex.ID}) {
		t.Fatalf("the next shared commit wrote %v, want globex's one event alone, not beside a piece of acme's 10", got)
	}
	for range 2 {
		if got := f.step(); len(got) != 5 || !slices.Equal(accounts(got), []int64{f.acme.ID}) {
			t.Fatalf("then the commit wrote %v, want 5 of acme's batch, its share", got)
		}
	}

	burst := func() []int {
		f.hold(t)
		for i := range 3 {
			f.send(t, "acme", 5)
			f.waitQueued(i + 1)
		}
		f.step()
		var sizes []int
		for n := 0; n < 15; {
			rows := f.step()
			sizes = append(sizes, len(rows))
			n += len(rows)
		}
		return sizes
	}
	if got := burst(); !slices.Equal(got, []int{5, 5, 5}) {
		t.Fatalf("within a second of sharing, acme's batches went in commits of %v events, want 5 each", got)
	}
	mu.Lock()
	now = now.Add(fairWindow + time.Millisecond)
	mu.Unlock()
	if got := burst(); !slices.Equal(got, []int{15}) {
		t.Fatalf("a quiet second later, acme's batches went in commits of %v events, want one of 15", got)
	}
}

// TestWriterStopsCleanly: stopping the writer lets the commit in flight
// finish and be acknowledged, fails the batches still queued (of every
// account) as unavailable without storing them, and refuses later ones.
func TestWriterStopsCleanly(t *testing.T) {
	f := newFairStack(t, WriterConfig{})
	ctx := context.Background()
	held := make(chan error, 1)
	go func() { _, err := f.svc.Record(ctx, stele.Event{Account: "acme", Action: "user.login"}); held <- err }()
	<-f.store.entered
	queued := make(chan error, 2)
	for _, account := range []string{"acme", "globex"} {
		go func() {
			_, err := f.svc.Record(ctx, stele.Event{Account: account, Action: "user.login"})
			queued <- err
		}()
	}
	f.waitQueued(2)
	f.stop()
	f.store.next <- struct{}{}
	if err := <-held; err != nil {
		t.Fatalf("the commit in flight at shutdown failed: %v", err)
	}
	for range 2 {
		if err := <-queued; !errors.Is(err, errStopped) {
			t.Fatalf("a queued batch got %v at shutdown, want %v", err, errStopped)
		}
	}
	f.w.Wait()
	if rows := <-f.store.commits; !slices.Equal(rows, []int64{f.acme.ID}) {
		t.Fatalf("the last commit wrote %v, want the held event alone", rows)
	}
	if _, err := f.svc.Record(ctx, stele.Event{Account: "globex", Action: "user.login"}); !errors.Is(err, errStopped) {
		t.Fatalf("a batch after shutdown got %v, want %v", err, errStopped)
	}
}

// TestWriterDoesNotStarveALargeBatchBehindSmallOnes: an account sending
// one event at a time goes ahead of a large batch, but only until it has
// had as many events written: the large batch is not left for last.
func TestWriterDoesNotStarveALargeBatchBehindSmallOnes(t *testing.T) {
	f := newFairStack(t, WriterConfig{FairEvents: 5})
	f.hold(t)
	for i := range 12 {
		f.send(t, "globex", 1)
		f.waitQueued(i + 1)
	}
	f.send(t, "acme", 5)
	f.waitQueued(13)
	f.step()
	var commits [][]int64
	for n := 0; n < 17; {
		rows := f.step()
		commits = append(commits, accounts(rows))
		n += len(rows)
	}
	at := slices.IndexFunc(commits, func(c []int64) bool { return slices.Contains(c, f.acme.ID) })
	if at < 0 || at > 1 {
		t.Fatalf("the commits wrote accounts %v: acme's batch waited for globex's twelve single events", commits)
	}
}
