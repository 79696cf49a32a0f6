package ingest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

// record sends n events for account in one batch, in the background, and
// returns where its receipts and error will come.
func (f *fairStack) record(account string, n int) chan recorded {
	events := make([]stele.Event, n)
	for i := range events {
		events[i] = stele.Event{Account: account, Action: "user.login"}
	}
	out := make(chan recorded, 1)
	f.wg.Go(func() {
		r, err := f.svc.Record(context.Background(), events...)
		out <- recorded{r, err}
	})
	return out
}

type recorded struct {
	receipts []stele.Receipt
	err      error
}

// sharing holds a commit of acme's and queues acme's batch of n and one
// event of globex behind it, so that the writer sees two accounts waiting.
func (f *fairStack) sharing(t *testing.T, n int) (big, small chan recorded) {
	t.Helper()
	f.hold(t)
	big = f.record("acme", n)
	f.waitQueued(1)
	small = f.record("globex", 1)
	f.waitQueued(2)
	f.step() // the held one
	return big, small
}

// TestWriterCommitsALargeBatchInPiecesWhileSharing: while another account
// writes, a batch larger than FairEvents is stored a share at a time, one
// piece a commit; the other account's event goes first, in a commit of its
// own; the batch is answered once its last piece is stored, with its
// events in order.
func TestWriterCommitsALargeBatchInPiecesWhileSharing(t *testing.T) {
	f := newFairStack(t, WriterConfig{FairEvents: 5})
	big, small := f.sharing(t, 12)
	var sizes []int
	for n := 0; n < 13; {
		rows := f.step()
		sizes = append(sizes, len(rows))
		n += len(rows)
		if n < 13 && len(big) > 0 {
			t.Fatalf("the batch was answered after %d of its events", n-1)
		}
	}
	if !slices.Equal(sizes, []int{1, 5, 5, 2}) {
		t.Fatalf("commits of %v events, want globex's one alone, then acme's 5, 5 and 2", sizes)
	}
	if r := <-small; r.err != nil {
		t.Fatal(r.err)
	}
	r := <-big
	if r.err != nil {
		t.Fatal(r.err)
	}
	for i, rc := range r.receipts {
		if rc.Seq != int64(i+1) { // seq 0 is the held event's
			t.Fatalf("receipt %d has seq %d: %+v", i, rc.Seq, r.receipts)
		}
	}
	// /metrics: the held event's and globex's waits as small batches, the
	// large batch's once (for its first piece); two commits of batches and
	// three of pieces.
	for _, c := range []struct {
		vec   *prometheus.HistogramVec
		label string
		want  uint64
	}{
		{f.w.timings.wait, "small", 2}, {f.w.timings.wait, "large", 1},
		{f.w.timings.commit, "batches", 2}, {f.w.timings.commit, "pieces", 3},
	} {
		var m dto.Metric
		if err := c.vec.WithLabelValues(c.label).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetHistogram().GetSampleCount(); got != c.want {
			t.Errorf("%s{%s}: %d samples, want %d", c.vec.WithLabelValues(c.label).(prometheus.Metric).Desc(), c.label, got, c.want)
		}
	}
}

// TestWriterPutsPiecesTogetherAndSmallBatchesTogether: while accounts
// share the writer, the pieces of two large batches share a commit, so
// two flooders lose no throughput to each other, and a small batch waits
// for the next commit rather than ride beside them.
func TestWriterPutsPiecesTogetherAndSmallBatchesTogether(t *testing.T) {
	f := newFairStack(t, WriterConfig{FairEvents: 5})
	f.hold(t)
	acme := f.record("acme", 7)
	f.waitQueued(1)
	globex := f.record("globex", 7)
	f.waitQueued(2)
	f.step() // the held one
	if rows := f.step(); len(rows) != 10 || !slices.Equal(accounts(rows), []int64{f.acme.ID, f.globex.ID}) {
		t.Fatalf("the first shared commit wrote %v, want a piece of 5 of each batch", rows)
	}
	<-f.store.entered // the last pieces are on their way, out of the queue
	f.store.entered <- struct{}{}
	small := f.record("acme", 1)
	f.waitQueued(1)
	if rows := f.step(); len(rows) != 4 || !slices.Equal(accounts(rows), []int64{f.acme.ID, f.globex.ID}) {
		t.Fatalf("the next commit wrote %v, want the last 2 of each batch", rows)
	}
	if rows := f.step(); len(rows) != 1 {
		t.Fatalf("then the commit wrote %v, want acme's small batch alone", rows)
	}
	for _, c := range []chan recorded{acme, globex, small} {
		if r := <-c; r.err != nil {
			t.Fatal(r.err)
		}
	}
}

// soleStore is a stepped store that, like SQLite, has one writer: appends
// may take accounts in any order.
type soleStore struct{ *steppedStore }

func (soleStore) SoleWriter() bool { return true }

// joinWhileWriting queues flooder's batch of 12 and quiet's event, which
// make the writer share (FairEvents 5), lets quiet's event and then the
// first piece's commit begin, queues quiet's second event meanwhile, and
// returns the accounts of the rows that commit wrote.
func (f *fairStack) joinWhileWriting(t *testing.T, flooder, quiet string) (rows []int64, big, small chan recorded) {
	t.Helper()
	f.hold(t)
	big = f.record(flooder, 12)
	f.waitQueued(1)
	first := f.record(quiet, 1)
	f.waitQueued(2)
	f.step() // the held one
	if rows := f.step(); len(rows) != 1 {
		t.Fatalf("the first shared commit wrote %v, want %s's event alone", rows, quiet)
	}
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	<-f.store.entered // the first piece's commit has begun
	f.store.entered <- struct{}{}
	small = f.record(quiet, 1)
	f.waitQueued(2)
	return f.step(), big, small
}

// TestWriterTakesASmallBatchIntoThePieceBeingWritten: an event that
// arrives while a flooder's piece is being written rides in that piece's
// commit, rather than wait for it and then commit alone. On a store with
// one writer (SQLite) any account's may, whatever the accounts' order.
func TestWriterTakesASmallBatchIntoThePieceBeingWritten(t *testing.T) {
	f := newFairStackOn(t, WriterConfig{FairEvents: 5}, func(s *steppedStore) stele.EventStore { return soleStore{s} })
	// globex, the flooder, has the larger id: acme's event goes after it.
	rows, big, small := f.joinWhileWriting(t, "globex", "acme")
	if want := []int64{f.globex.ID, f.globex.ID, f.globex.ID, f.globex.ID, f.globex.ID, f.acme.ID}; !slices.Equal(rows, want) {
		t.Fatalf("the piece's commit wrote %v, want globex's 5 and then acme's event %v", rows, want)
	}
	r := <-small
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.receipts[0].Seq != 2 { // after the held event and acme's first
		t.Fatalf("acme's joined event: %+v, want seq 2", r.receipts)
	}
	for _, want := range []int{5, 2} {
		if rows := f.step(); len(rows) != want {
			t.Fatalf("a later piece wrote %v, want %d of globex's", rows, want)
		}
	}
	if r := <-big; r.err != nil || len(r.receipts) != 12 || r.receipts[11].Seq != 11 {
		t.Fatalf("globex's batch: %+v, %v", r.receipts, r.err)
	}
	var m dto.Metric
	if err := f.w.timings.wait.WithLabelValues("small").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetHistogram().GetSampleCount(); got != 3 {
		t.Fatalf("waits of small batches: %d, want 3 (the held event, acme's first and the joined one)", got)
	}
}

// TestWriterJoinsOnlyLaterAccountsWhereHeadsAreLocked: on a store whose
// nodes append at once (PostgreSQL), a transaction locks account heads in
// id order, so that two nodes cannot deadlock; a small batch rides in a
// piece's commit only if its account comes after the piece's, and
// otherwise commits next, alone.
func TestWriterJoinsOnlyLaterAccountsWhereHeadsAreLocked(t *testing.T) {
	t.Run("later", func(t *testing.T) {
		f := newFairStack(t, WriterConfig{FairEvents: 5})
		rows, _, small := f.joinWhileWriting(t, "acme", "globex")
		if len(rows) != 6 || rows[5] != f.globex.ID {
			t.Fatalf("the piece's commit wrote %v, want acme's 5 and globex's event", rows)
		}
		if r := <-small; r.err != nil {
			t.Fatal(r.err)
		}
		f.step()
		f.step()
	})
	t.Run("earlier", func(t *testing.T) {
		f := newFairStack(t, WriterConfig{FairEvents: 5})
		rows, _, small := f.joinWhileWriting(t, "globex", "acme")
		if !slices.Equal(accounts(rows), []int64{f.globex.ID}) {
			t.Fatalf("the piece's commit wrote %v, want globex's 5 alone", rows)
		}
		if rows := f.step(); !slices.Equal(rows, []int64{f.acme.ID}) {
			t.Fatalf("the next commit wrote %v, want acme's event alone", rows)
		}
		if r := <-small; r.err != nil {
			t.Fatal(r.err)
		}
		f.step()
		f.step()
	})
}

// TestWriterJoinsNoBatchTwice: a small batch goes in pieces too when its
// account's share of the commit is partly used by its earlier batches;
// still at the head of its line, it is not taken into the same commit
// again as a small batch that arrived meanwhile: every event is stored
// once, in order.
func TestWriterJoinsNoBatchTwice(t *testing.T) {
	f := newFairStackOn(t, WriterConfig{FairEvents: 5}, func(s *steppedStore) stele.EventStore { return soleStore{s} })
	f.hold(t)
	first := f.record("acme", 3)
	f.waitQueued(1)
	second := f.record("acme", 3)
	f.waitQueued(2)
	quiet := f.record("globex", 1)
	f.waitQueued(3)
	f.step() // the held one
	// globex's event, acme's first batch and 2 of its second: the share.
	if rows := f.step(); len(rows) != 6 {
		t.Fatalf("the shared commit wrote %v, want globex's event and 5 of acme's", rows)
	}
	if rows := f.step(); !slices.Equal(rows, []int64{f.acme.ID}) {
		t.Fatalf("the next commit wrote %v, want the last of acme's second batch", rows)
	}
	var seqs []int64
	for _, c := range []chan recorded{first, second} {
		r := <-c
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, rc := range r.receipts {
			seqs = append(seqs, rc.Seq)
		}
	}
	if !slices.Equal(seqs, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("acme's events got seqs %v, want 1 to 6, once each", seqs)
	}
	if r := <-quiet; r.err != nil {
		t.Fatal(r.err)
	}
}

// TestTakeSmallKeepsTheLockOrderForEveryAccountOfABatch: an operator's
// batch waits in the line of its first event's account but may name
// others; where heads are locked in id order it joins a piece's commit
// only if every account it names comes after the piece's.
func TestTakeSmallKeepsTheLockOrderForEveryAccountOfABatch(t *testing.T) {
	q := newQueue(10)
	b := &batch{account: 7, events: []*pending{{accountID: 7}, {accountID: 3}}}
	if err := q.push(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.takeSmall(nil, 32, 5); len(got) != 0 {
		t.Fatalf("after account 5 took %d batches; the batch names account 3", len(got))
	}
	if got, n := q.takeSmall(nil, 32, 2); len(got) != 1 || n != 2 || q.len() != 0 {
		t.Fatalf("after account 2 took %d batches of %d events, %d left; want the batch", len(got), n, q.len())
	}
}

// TestWriterFailsABatchWhosePieceFails: a commit that fails carries the
// batch's piece with it: the batch is answered unavailable with its earlier
// pieces stored (a retry with idempotency keys completes it once), its
// rest is not stored, and the writer goes on with the next batches.
func TestWriterFailsABatchWhosePieceFails(t *testing.T) {
	f := newFairStack(t, WriterConfig{FairEvents: 5})
	big, small := f.sharing(t, 12)
	f.step() // globex's event
	f.step() // acme's first piece
	f.store.fail.Store(true)
	f.step()
	r := <-big
	if stele.ErrorCode(r.err) != stele.EUNAVAILABLE {
		t.Fatalf("the batch whose piece failed got %v, want unavailable", r.err)
	}
	if r := <-small; r.err != nil {
		t.Fatal(r.err)
	}
	next := f.record("acme", 1)
	if rows := f.step(); len(rows) != 1 {
		t.Fatalf("after the failure the next commit wrote %v, want acme's next event alone", rows)
	}
	if r := <-next; r.err != nil || r.receipts[0].Seq != 6 {
		t.Fatalf("acme's next event: %+v, %v; want seq 6, after the held event and the stored piece", r.receipts, r.err)
	}
	if f.w.queued() != 0 {
		t.Fatalf("%d batches left queued", f.w.queued())
	}
}

// TestWriterStopFinishesABatchStoredInPart: a shutdown between two pieces
// stores the rest of the batch whole before the writer stops, so that
// stopping never leaves a batch cut; batches not begun fail.
func TestWriterStopFinishesABatchStoredInPart(t *testing.T) {
	f := newFairStack(t, WriterConfig{FairEvents: 5})
	big, _ := f.sharing(t, 12)
	f.step()          // globex's event
	f.step()          // acme's first piece
	<-f.store.entered // the second piece is on its way
	f.store.entered <- struct{}{}
	waiting := f.record("globex", 1)
	f.waitQueued(2)
	f.stop()
	// The second piece, in flight at the stop, is stored, and then the
	// rest, whole.
	for _, want := range []int{5, 2} {
		if rows := f.step(); len(rows) != want || !slices.Equal(accounts(rows), []int64{f.acme.ID}) {
			t.Fatalf("a commit after the stop wrote %v, want %d of acme's batch", rows, want)
		}
	}
	if r := <-big; r.err != nil || len(r.receipts) != 12 || r.receipts[11].Seq != 12 {
		t.Fatalf("the batch stored in part at shutdown: %v", r.err)
	}
	if r := <-waiting; stele.ErrorCode(r.err) != stele.EUNAVAILABLE {
		t.Fatalf("a batch not begun at shutdown got %v, want unavailable", r.err)
	}
}

// generationMatcher matches nothing and notes, for each rule generation,
// the events it was asked to match; its generation is the store's.
type generationMatcher struct {
	db   *sqlite.DB
	mu   sync.Mutex
	seen map[int64][]string
}

type generationRules struct {
	m   *generationMatcher
	gen int64
}

func (m *generationMatcher) Rules(ctx context.Context, atLeast int64) (AlertRules, error) {
	gen, err := m.db.AlertRuleGeneration(ctx)
	if err != nil || gen < atLeast {
		return nil, fmt.Errorf("generation %d, want at least %d: %v", gen, atLeast, err)
	}
	return generationRules{m, gen}, nil
}

func (m *generationMatcher) Matched() {}

func (r generationRules) Generation() int64 { return r.gen }

func (r generationRules) Match(dst []stele.AlertMatch, _ int64, e *stele.Event, _ seal.RowTokens) []stele.AlertMatch {
	if n, ok := e.Metadata["n"].(string); ok {
		r.m.mu.Lock()
		r.m.seen[r.gen] = append(r.m.seen[r.gen], n)
		r.m.mu.Unlock()
	}
	return dst
}

// TestWriterMatchesTheRestAgainWhenRulesChangeBetweenPieces: when the
// alert rules change between two pieces of a batch, the pieces stored
// stay stored and the rest is matched again against the new rules, then
// stored: every event once, in order.
func TestWriterMatchesTheRestAgainWhenRulesChangeBetweenPieces(t *testing.T) {
	f := newFairStack(t, WriterConfig{FairEvents: 5})
	m := &generationMatcher{db: f.db, seen: map[int64][]string{}}
	f.svc.SetAlertMatcher(m)
	before, err := f.db.AlertRuleGeneration(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.hold(t)
	events := make([]stele.Event, 12)
	for i := range events {
		events[i] = stele.Event{Account: "acme", Action: "user.login", Metadata: map[string]any{"n": strconv.Itoa(i)}}
	}
	big := make(chan recorded, 1)
	f.wg.Go(func() {
		r, err := f.svc.Record(context.Background(), events...)
		big <- recorded{r, err}
	})
	f.waitQueued(1)
	small := f.record("globex", 1)
	f.waitQueued(2)
	f.step()          // the held one
	f.step()          // globex's event
	f.step()          // acme's first piece
	<-f.store.entered // the second piece is on its way: the rules change under it
	if err := f.db.CreateAlertRule(t.Context(), &stele.AlertRule{ID: "r1", AccountID: f.acme.ID, Name: "r", Query: "action:user.login", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	f.store.entered <- struct{}{}
	if rows := f.step(); len(rows) != 0 {
		t.Fatalf("the commit that found the rules changed wrote %v", rows)
	}
	for n := 0; n < 7; {
		n += len(f.step())
	}
	r := <-big
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r := <-small; r.err != nil {
		t.Fatal(r.err)
	}
	for i, rc := range r.receipts {
		if rc.Seq != int64(i+1) {
			t.Fatalf("receipt %d has seq %d", i, rc.Seq)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got := strings.Join(m.seen[before+1], ","); got != "5,6,7,8,9,10,11" {
		t.Fatalf("matched against the new rules: %s; want the 7 events not yet stored", got)
	}
}

// TestQuotaKeepsTheChargeOfStoredPieces: a batch that fails between two of
// its pieces is charged for the pieces stored, which the writer did store,
// and given back the rest.
func TestQuotaKeepsTheChargeOfStoredPieces(t *testing.T) {
	f := newFairStack(t, WriterConfig{FairEvents: 5})
	clock := &fakeClock{t: time.Now()}
	team := stele.AccountType{Name: "team", RetentionDays: 30, Ingest: stele.IngestQuota{EventsPerSecond: 10, BytesPerSecond: 1000, BurstSeconds: 2}}
	q := NewQuotas(f.db, QuotaConfig{Types: []stele.AccountType{team}, Now: clock.Now})
	f.svc.SetQuotas(q)
	f.hold(t)
	body := eventsBody(12, "")
	big := make(chan error, 1)
	f.wg.Go(func() {
		p := &stele.Principal{AccountID: f.acme.ID, Account: f.acme.Name, KeyID: "k", Scopes: []stele.Scope{stele.ScopeEventsWrite}}
		_, err := f.svc.Ingest(context.Background(), p, body)
		big <- err
	})
	f.waitQueued(1)
	small := f.record("globex", 1)
	f.waitQueued(2)
	f.step() // the held event
	f.step() // globex's event
	f.step() // acme's first piece of 5
	f.store.fail.Store(true)
	f.step() // acme's second piece fails
	if err := <-big; stele.ErrorCode(err) != stele.EUNAVAILABLE {
		t.Fatalf("the batch whose piece failed got %v, want unavailable", err)
	}
	if r := <-small; r.err != nil {
		t.Fatal(r.err)
	}
	q.mu.Lock()
	l := q.limits[f.acme.ID]
	events := l.events.level(clock.Now(), 10, 20)
	bytes := l.bytes.level(clock.Now(), 1000, 2000)
	q.mu.Unlock()
	if want := 20.0 - 5; events != want {
		t.Fatalf("after 5 of 12 events stored, the bucket holds %v events, want %v", events, want)
	}
	if want := 2000 - float64(len(body)*5/12); bytes != want {
		t.Fatalf("after 5 of 12 events stored, the bucket holds %v bytes, want %v", bytes, want)
	}
}
