package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// gatedStore holds the first Append until the gate opens, and counts them.
type gatedStore struct {
	stele.EventStore
	appends atomic.Int32
	gate    chan struct{}
}

func (g *gatedStore) Append(ctx context.Context, fn func(stele.AppendTx) error) error {
	if g.appends.Add(1) == 1 {
		<-g.gate
	}
	return g.EventStore.Append(ctx, fn)
}

// TestConcurrentBatchesShareOneCommit proves group commit: batches that
// arrive while a commit is in flight are all stored by the next single
// transaction (one fsync), and each caller gets its own receipts.
// gatedStack is a store with account acme, whose first commit waits for
// store.gate, and the writer and service over it.
type gatedStack struct {
	db    *sqlite.DB
	acct  *stele.Account
	store *gatedStore
	w     *Writer
	svc   *Service
}

func newGatedStack(t *testing.T) *gatedStack {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acct := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{5}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := &gatedStore{EventStore: db, gate: make(chan struct{})}
	wctx, cancel := context.WithCancel(ctx)
	w := NewWriter(wctx, store, logger, WriterConfig{})
	t.Cleanup(func() { cancel(); w.Wait() }) // before the store closes
	return &gatedStack{db: db, acct: acct, store: store, w: w, svc: NewService(db, seal.NewKeyring(master, sqlitetest.Keys(t)), w, logger)}
}

func TestConcurrentBatchesShareOneCommit(t *testing.T) {
	ctx := t.Context()
	g := newGatedStack(t)
	store, w, svc := g.store, g.w, g.svc

	const callers = 10
	seqs := make(chan int64, callers)
	var wg sync.WaitGroup
	record := func() {
		defer wg.Done()
		rs, err := svc.Record(ctx, stele.Event{Account: "acme", Action: "user.login"})
		if err != nil {
			t.Error(err)
			return
		}
		seqs <- rs[0].Seq
	}
	wg.Add(1)
	go record()
	for store.appends.Load() == 0 { // the first commit is in flight and held
		runtime.Gosched()
	}
	wg.Add(callers - 1)
	for range callers - 1 {
		go record()
	}
	deadline := time.Now().Add(30 * time.Second)
	for w.queued() < callers-1 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	close(store.gate)
	wg.Wait()
	close(seqs)
	if n := store.appends.Load(); n != 2 {
		t.Fatalf("%d commits for %d concurrent batches, want 2 (one held, one shared by the rest)", n, callers)
	}
	if w.Commits() != 2 || w.Committed() != callers {
		t.Errorf("the writer counts %d commits of %d events, want 2 of %d", w.Commits(), w.Committed(), callers)
	}
	seen := map[int64]bool{}
	for s := range seqs {
		seen[s] = true
	}
	for s := range int64(callers) {
		if !seen[s] {
			t.Fatalf("seq %d missing from the receipts %v", s, seen)
		}
	}
}

// TestCommitConfirmsKeyGeneration: a batch sent with a key read at another
// generation than the commit reads is left out of it whole and answered
// ErrKeyChanged; the batches beside it in the same commit are stored.
func TestCommitConfirmsKeyGeneration(t *testing.T) {
	ctx := t.Context()
	st := newGatedStack(t)
	db, acct, store, w, svc := st.db, st.acct, st.store, st.w, st.svc
	gen, err := db.APIKeyGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	principal := func(g int64) *stele.Principal {
		return &stele.Principal{AccountID: acct.ID, Account: "acme", KeyID: "k", Scopes: []stele.Scope{stele.ScopeEventsWrite},
			Generation: g, HasGeneration: true}
	}
	// Hold a first commit so that the two batches below share the next.
	held := make(chan error, 1)
	go func() { _, err := svc.Ingest(ctx, principal(gen), []byte(`{"action":"user.login"}`)); held <- err }()
	for store.appends.Load() == 0 {
		select {
		case err := <-held:
			t.Fatalf("the first batch returned before its commit: %v", err)
		default:
		}
		runtime.Gosched()
	}
	results := make(chan error, 2)
	for _, g := range []int64{gen, gen - 1} {
		go func() {
			_, err := svc.Ingest(ctx, principal(g), []byte(`{"events":[{"action":"user.logout"},{"action":"user.logout"}]}`))
			results <- err
		}()
	}
	for w.queued() < 2 {
		if len(results) > 0 {
			t.Fatalf("a batch returned before its commit: %v", <-results)
		}
		runtime.Gosched()
	}
	close(store.gate)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	var ok, stale int
	for range 2 {
		switch err := <-results; {
		case err == nil:
			ok++
		case errors.Is(err, ErrKeyChanged):
			stale++
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || stale != 1 || store.appends.Load() != 2 {
		t.Fatalf("%d stored, %d stale in %d commits; want 1 and 1 in 2", ok, stale, store.appends.Load())
	}
	if h, err := db.CurrentHead(ctx, acct.ID); err != nil || h.Size != 3 {
		t.Fatalf("the account holds %d events (%v), want 3: the stale batch stores none", h.Size, err)
	}
}

// TestNextCommitIsClosedByTheCommit: a channel from NextCommit stays open
// while a commit is in flight and is closed by the time that commit's
// callers hear of it; the next one waits for the next commit.
func TestNextCommitIsClosedByTheCommit(t *testing.T) {
	g := newGatedStack(t)
	next := g.w.NextCommit()
	done := make(chan error, 1)
	go func() {
		_, err := g.svc.Record(t.Context(), stele.Event{Account: "acme", Action: "user.login"})
		done <- err
	}()
	for g.store.appends.Load() == 0 {
		runtime.Gosched()
	}
	select {
	case <-next:
		t.Fatal("NextCommit closed before the commit")
	default:
	}
	close(g.store.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
	default:
		t.Fatal("NextCommit still open after the commit returned")
	}
	again := g.w.NextCommit()
	select {
	case <-again:
		t.Fatal("a NextCommit taken after the commit is already closed")
	default:
	}
	if _, err := g.svc.Record(t.Context(), stele.Event{Account: "acme", Action: "user.logout"}); err != nil {
		t.Fatal(err)
	}
	<-again
}
