package ingest

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
)

// pending is a validated, prepared event waiting for the writer.
type pending struct {
	accountID int64
	keys      *seal.AccountKeys
	event     stele.Event
	plain     []byte // payload encoding, sealed once the seq is known
	tokens    seal.RowTokens
	idem      int64 // idempotency token, 0 for none
	receipt   stele.Receipt
	// matches are the alert rules the event matches (AlertMatcher), their
	// Seq filled in when the commit gives the event its own.
	matches []stele.AlertMatch
}

// batch is one caller's events; the writer commits it with others, whole,
// or, while accounts share the writer, in pieces of a share (queue.take).
type batch struct {
	// account is the account the batch waits in line for: its first
	// event's (an operator's batch may name several).
	account int64
	finish  int64 // virtual finish time in the queue (queue.go)
	events  []*pending
	// next is how many of events earlier commits stored, when the batch
	// goes in pieces (queue.take); piece is how many from next the commit
	// being made carries, 0 until take first takes the batch. A batch of
	// at most a share may go in pieces too, when its account's share of
	// the commit is partly used by its earlier batches.
	next, piece int
	// gen, when confirm is set, is the key generation the events' API key
	// was read at; the commit stores the batch only if it reads the same.
	gen     int64
	confirm bool
	stale   bool // the commit found the generation moved and left the batch out
	// matchRules is set when the events were matched against the alert
	// rules of generation ruleGen; the commit stores them only if it reads
	// the same, and otherwise sets rulesStale and rulesGen to what it read.
	matchRules bool
	ruleGen    int64
	rulesStale bool
	rulesGen   int64
	err        error
	done       chan struct{}
	queued     time.Time // when submit queued it, for the wait histogram
}

// ErrKeyChanged is the answer for a batch whose API key may have changed
// (been revoked, lost a scope, had its account renamed) since the request
// read it: nothing of the batch was stored. The caller reads the key again
// and, if it still may, sends the batch again.
var ErrKeyChanged = stele.Errorf(stele.EUNAVAILABLE, "the API keys changed while the request was in flight; send it again")

// Writer is the single group-commit writer. Concurrent batches that arrive
// while a commit is in flight share the next transaction and its fsync;
// every batch learns the outcome of the commit that carried it.
//
// Batches wait in one line per account and are taken by fair queuing on
// events (queue.go), so one account's backlog never stands between another
// account's batch and the next commit.
type Writer struct {
	store      stele.EventStore
	logger     *slog.Logger
	now        func() time.Time
	queue      *queue
	maxEvents  int
	fairEvents int
	stopped    chan struct{}
	committed  atomic.Int64 // events stored since start, replays not counted
	commits    atomic.Int64 // transactions committed since start
	next       nextCommit
	timings    writerTimings
}

// writerTimings are the writer's histograms for /metrics: how long batches
// wait in the queue and how long commits take. Under a noisy neighbour
// they tell a wait behind another account's piece from a slow disk.
type writerTimings struct {
	// wait is from a batch's queuing to the start of the commit that
	// carries its first events, by batch: "small" (at most a share, so
	// never in pieces) or "large".
	wait *prometheus.HistogramVec
	// commit is the transaction's time, sync included, by what it held:
	// "pieces" of large batches or whole "batches".
	commit *prometheus.HistogramVec
	// The vectors' series, looked up once.
	small, large, pieces, batches prometheus.Observer
}

// timingBuckets double from 0.1 ms (a lone commit on a fast disk) to
// 1.6 s (a stall), so that a tail's size reads off within a factor of two.
var timingBuckets = prometheus.ExponentialBuckets(0.0001, 2, 15)

func newWriterTimings() writerTimings {
	t := writerTimings{
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stele_ingest_queue_wait_seconds",
			Help:    "Time from a batch's queuing to the start of the commit that carries its first events, by batch: small (at most 32 events) or large (which goes in pieces while accounts share the writer).",
			Buckets: timingBuckets}, []string{"batch"}),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stele_ingest_commit_seconds",
			Help:    "Time of the writer's ingest transactions, the sync included, by what they held: pieces of large batches, or whole batches.",
			Buckets: timingBuckets}, []string{"held"}),
	}
	t.small, t.large = t.wait.WithLabelValues("small"), t.wait.WithLabelValues("large")
	t.pieces, t.batches = t.commit.WithLabelValues("pieces"), t.commit.WithLabelValues("batches")
	return t
}

// Collectors returns the writer's histograms, for /metrics.
func (w *Writer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.timings.wait, w.timings.commit}
}

// nextCommit is closed at the next commit, when someone waits for one.
type nextCommit struct {
	mu sync.Mutex
	ch chan struct{}
}

// NextCommit returns a channel closed once the writer next commits: a
// reader of new events (a stream) that caught up waits on it.
func (w *Writer) NextCommit() <-chan struct{} {
	w.next.mu.Lock()
	defer w.next.mu.Unlock()
	if w.next.ch == nil {
		w.next.ch = make(chan struct{})
	}
	return w.next.ch
}

func (w *Writer) notifyCommit() {
	w.next.mu.Lock()
	defer w.next.mu.Unlock()
	if w.next.ch != nil {
		close(w.next.ch)
		w.next.ch = nil
	}
}

// Committed returns how many events the writer has durably stored since it
// started (replayed idempotency keys not counted), for the ingest rate.
func (w *Writer) Committed() int64 { return w.committed.Load() }

// Commits returns how many transactions the writer has committed since it
// started; Committed divided by Commits is the mean group size.
func (w *Writer) Commits() int64 { return w.commits.Load() }

// WriterConfig tunes a Writer. Zero values take defaults.
type WriterConfig struct {
	MaxEvents int // events per commit, default 16384
	// FairEvents caps one account's events in a commit while more than
	// one account is writing, default 32: a quiet account's small batch
	// then commits without a flooder's large one, and many accounts' small
	// batches still share a commit. A batch larger than the cap goes in
	// pieces of the cap, one a commit, and is answered once its last piece
	// is stored.
	FairEvents int
	Queue      int // batches waiting, default 4096
	Now        func() time.Time
}

// NewWriter starts a writer; it runs until ctx is done.
func NewWriter(ctx context.Context, store stele.EventStore, logger *slog.Logger, cfg WriterConfig) *Writer {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 16384
	}
	if cfg.FairEvents <= 0 {
		cfg.FairEvents = 32
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Writer{store: store, logger: logger, now: cfg.Now, queue: newQueue(cfg.Queue), timings: newWriterTimings(),
		maxEvents: cfg.MaxEvents, fairEvents: min(cfg.FairEvents, cfg.MaxEvents), stopped: make(chan struct{})}
	go w.run(ctx)
	return w
}

var errStopped = stele.Errorf(stele.EUNAVAILABLE, "the writer is shutting down")

// submit queues b and waits until it is durable or has failed.
func (w *Writer) submit(ctx context.Context, b *batch) error {
	b.done = make(chan struct{})
	b.piece = 0 // in no commit yet, if it was sent before (alerts.go)
	b.queued = time.Now()
	if err := w.queue.push(ctx, b); err != nil {
		return err
	}
	// Once queued the batch is committed or failed whatever the caller does,
	// so wait for the outcome rather than report a guess.
	<-b.done
	return b.err
}

// queued returns the batches waiting for a commit.
func (w *Writer) queued() int { return w.queue.len() }

func (w *Writer) run(ctx context.Context) {
	defer close(w.stopped)
	var group []*batch
	for {
		select {
		case <-w.queue.ready:
		case <-ctx.Done():
			// A batch part stored goes in whole before the writer stops, so
			// that a shutdown never leaves one cut; the rest fail.
			group, _ = w.queue.takeStarted(group[:0])
			if len(group) > 0 {
				var err error
				group, err = w.commit(context.WithoutCancel(ctx), group, nil)
				w.finish(group, err)
			}
			w.queue.close(errStopped)
			return
		}
		// Batches still queued at shutdown fail rather than commit: the
		// caller of Stop is waiting.
		for ctx.Err() == nil {
			var n int
			group, n = w.queue.take(group[:0], w.now(), w.maxEvents, w.fairEvents)
			if len(group) == 0 {
				break
			}
			start := w.observeWaits(group)
			// The commit must not be cut short by shutdown: callers are waiting.
			var err error
			group, err = w.commit(context.WithoutCancel(ctx), group, ctx.Done())
			w.observeCommit(group, start)
			if err != nil {
				w.logger.Error("commit events", "err", err, "batches", len(group), "events", n)
			}
			w.finish(group, err)
			clear(group) // let the batches go
		}
	}
}

// observeWaits records the queue wait of each batch whose first events
// the commit about to start carries, and returns the commit's start.
func (w *Writer) observeWaits(group []*batch) time.Time {
	now := time.Now()
	for _, b := range group {
		if b.next > 0 {
			continue // a later piece: its wait was counted with its first
		}
		h := w.timings.small
		if len(b.events) > w.fairEvents {
			h = w.timings.large
		}
		h.Observe(now.Sub(b.queued).Seconds())
	}
	return now
}

// observeCommit records the time of the commit of group, begun at start.
func (w *Writer) observeCommit(group []*batch, start time.Time) {
	h := w.timings.batches
	if holdsPieces(group) {
		h = w.timings.pieces
	}
	h.Observe(time.Since(start).Seconds())
}

// finish tells each batch of a group the outcome of the commit that
// carried it, or, for a batch that went in as a piece and has more to go,
// leaves it queued for a later commit.
func (w *Writer) finish(group []*batch, err error) {
	if err != nil {
		err = stele.Errorf(stele.EUNAVAILABLE, "the events could not be stored; retry")
	}
	for _, b := range group {
		b.err = err
		if err == nil && b.stale {
			b.err = ErrKeyChanged
		}
		stored := err == nil && !b.stale && !b.rulesStale
		if stored {
			b.next += b.piece
			if b.next < len(b.events) {
				continue // the rest waits in the queue for a later commit
			}
		} else if b.pieceLeft() {
			w.queue.drop(b)
		}
		close(b.done)
	}
}

// commit appends a group of batches in one transaction, account by account
// in id order so that concurrent writers on a shared store lock heads in the
// same order and cannot deadlock. Batches whose key generation the
// transaction does not confirm are left out and marked stale.
//
// A transaction of pieces also takes in the small batches queued while it
// was being made, until stop closes (joinSmall): it returns the group with
// them, every batch it carried.
func (w *Writer) commit(ctx context.Context, group []*batch, stop <-chan struct{}) ([]*batch, error) {
	receivedAt := w.now().UTC().Truncate(stele.TimeUnit)
	var (
		replays []*pending
		total   int
		joined  []*batch
		took    bool
	)
	pieces := stop != nil && holdsPieces(group)
	err := w.store.Append(ctx, func(tx stele.AppendTx) error {
		var err error
		replays, total, err = appendGroup(ctx, tx, group, replays[:0], receivedAt)
		if err != nil || !pieces {
			return err
		}
		if !took { // once, should the store run fn again
			joined, took = w.joinSmall(group, stop), true
		}
		if len(joined) == 0 {
			return nil
		}
		var n int
		replays, n, err = appendGroup(ctx, tx, joined, replays, receivedAt)
		total += n
		return err
	})
	group = append(group, joined...)
	if err != nil {
		return group, err
	}
	w.committed.Add(int64(total - len(replays)))
	w.commits.Add(1)
	w.notifyCommit()
	// The group is durable: a failure from here on must not tell producers
	// otherwise, or they would retry and store events twice.
	if err := w.fillReplayHashes(ctx, replays); err != nil {
		w.logger.Warn("look up leaf hashes of replayed events", "err", err)
	}
	return group, nil
}

// holdsPieces reports whether group carries pieces of large batches.
func holdsPieces(group []*batch) bool {
	for _, b := range group {
		if b.piece < len(b.events) {
			return true
		}
	}
	return false
}

// soleWriter is implemented by a store whose appends never wait on one
// another's locks: one connection writes, a transaction at a time
// (SQLite). On other stores (PostgreSQL, where several nodes append at
// once) a transaction must lock account heads in id order.
type soleWriter interface {
	SoleWriter() bool
}

// joinSmall takes out of the queue, for the transaction of pieces group
// that is being made, the small batches that arrived meanwhile: up to a
// share of events in all, unless stop has closed (shutdown). A quiet
// account's event that arrives while a flooder's piece is being written
// then rides in its commit, rather than wait for it and then commit alone.
// On a store where heads are locked in id order, only batches of accounts
// after the group's are taken, so that the order holds.
func (w *Writer) joinSmall(group []*batch, stop <-chan struct{}) []*batch {
	select {
	case <-stop:
		return nil
	default:
	}
	after := int64(math.MinInt64)
	if s, ok := w.store.(soleWriter); !ok || !s.SoleWriter() {
		for _, b := range group {
			for _, p := range b.events[b.next : b.next+b.piece] {
				after = max(after, p.accountID)
			}
		}
	}
	joined, _ := w.queue.takeSmall(nil, w.fairEvents, after)
	w.observeWaits(joined)
	return joined
}

// appendGroup appends the batches of group that are not stale, account by
// account in id order, to replays the events that replayed an idempotency
// key, and returns them with the number of events it took.
func appendGroup(ctx context.Context, tx stele.AppendTx, group []*batch, replays []*pending, receivedAt time.Time) ([]*pending, int, error) {
	if err := confirmKeys(ctx, tx, group); err != nil {
		return nil, 0, err
	}
	if err := confirmRules(ctx, tx, group); err != nil {
		return nil, 0, err
	}
	total := 0
	byAccount := map[int64][]*pending{}
	var ids []int64
	for _, b := range group {
		if b.stale || b.rulesStale {
			continue
		}
		total += b.piece
		for _, p := range b.events[b.next : b.next+b.piece] {
			if _, ok := byAccount[p.accountID]; !ok {
				ids = append(ids, p.accountID)
			}
			byAccount[p.accountID] = append(byAccount[p.accountID], p)
		}
	}
	slices.Sort(ids)
	var matches []stele.AlertMatch
	for _, id := range ids {
		r, err := appendAccount(ctx, tx, id, byAccount[id], receivedAt)
		if err != nil {
			return nil, 0, err
		}
		replays = append(replays, r...)
		matches = collectMatches(matches, byAccount[id])
	}
	if len(matches) > 0 {
		if err := tx.InsertAlertMatches(ctx, matches); err != nil {
			return nil, 0, err
		}
	}
	return replays, total, nil
}

// collectMatches appends the alert matches of the events ps stored (not
// those that replayed an idempotency key), with the seqs they were given.
func collectMatches(dst []stele.AlertMatch, ps []*pending) []stele.AlertMatch {
	for _, p := range ps {
		if p.receipt.Replayed {
			continue
		}
		for _, m := range p.matches {
			m.Seq = p.event.Seq
			dst = append(dst, m)
		}
	}
	return dst
}

// confirmKeys reads the key generation in tx, once, if any batch of the
// group needs it, and marks stale the batches read at another generation.
func confirmKeys(ctx context.Context, tx stele.AppendTx, group []*batch) error {
	var (
		gen  int64
		read bool
	)
	for _, b := range group {
		b.stale = false
		if !b.confirm || b.next > 0 {
			// A batch going in pieces was confirmed with its first: the
			// key could write when it was stored, as for a whole batch.
			continue
		}
		if !read {
			var err error
			if gen, err = tx.APIKeyGeneration(ctx); err != nil {
				return err
			}
			read = true
		}
		b.stale = b.gen != gen
	}
	return nil
}

// appendAccount assigns seqs to one account's events, extends its tree,
// seals the payloads and writes the rows. It returns the events that replay
// an earlier idempotency key; they are not stored again.
func appendAccount(ctx context.Context, tx stele.AppendTx, accountID int64, ps []*pending, receivedAt time.Time) ([]*pending, error) {
	head, err := tx.Head(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if err := ledger.CheckHead(head); err != nil {
		return nil, err
	}
	seen, claimed, err := claimIdempotency(ctx, tx, accountID, head.Size, ps)
	if err != nil {
		return nil, err
	}
	var (
		rows     = make([]stele.EventRow, 0, len(ps))
		nodes    []stele.TreeNode
		newKeys  map[int64]int64
		replays  []*pending
		buf      []byte
		received = record.Micros(receivedAt)
	)
	for _, p := range ps {
		if p.idem != 0 {
			if seq, ok := seen[p.idem]; ok {
				p.receipt = stele.Receipt{ID: stele.EventID(accountID, seq), Seq: seq, Account: p.event.Account, Replayed: true}
				replays = append(replays, p)
				continue
			}
		}
		seq := head.Size
		e := &p.event
		e.Seq, e.ReceivedAt, e.ID = seq, receivedAt, stele.EventID(accountID, seq)
		buf = record.AppendCanonical(buf[:0], e)
		leaf := ledger.LeafHash(buf)
		head = ledger.Append(head, leaf, func(n stele.TreeNode) { nodes = append(nodes, n) })
		row := stele.EventRow{
			AccountID: accountID, Seq: seq, Time: record.Micros(e.Time), ReceivedAt: received,
			Action: e.Action, Category: e.Category, Outcome: e.Outcome,
			ActorTok: p.tokens.Actor, ActorEmailTok: p.tokens.ActorEmail, TargetTok: p.tokens.Target,
			SourceTok: p.tokens.Source, IPTok: p.tokens.IP, LeafHash: leaf,
		}
		buf = record.AppendAD(buf[:0], &row)
		row.KeyVersion, row.Payload = p.keys.Seal(nil, seq, p.plain, buf)
		rows = append(rows, row)
		p.receipt = stele.Receipt{ID: e.ID, Seq: seq, Account: e.Account, LeafHash: hex.EncodeToString(leaf[:])}
		if p.idem != 0 {
			seen[p.idem] = seq // a later event of this group with the same key replays this one
			// A claim recorded the keys already; otherwise they go in
			// after the rows.
			if !claimed {
				if newKeys == nil {
					newKeys = map[int64]int64{}
				}
				newKeys[p.idem] = seq
			}
		}
	}
	if len(rows) == 0 {
		return replays, nil
	}
	if err := tx.InsertEvents(ctx, rows); err != nil {
		return nil, err
	}
	if err := tx.InsertTreeNodes(ctx, accountID, nodes); err != nil {
		return nil, err
	}
	if len(newKeys) > 0 {
		if err := tx.InsertIdempotency(ctx, accountID, newKeys); err != nil {
			return nil, err
		}
	}
	return replays, tx.SetHead(ctx, head)
}

// claimIdempotency records the keys of ps under the seqs they take if none
// replays a stored event, the usual case, and returns claimed. Otherwise it
// records nothing and returns the stored seqs of those that do.
func claimIdempotency(ctx context.Context, tx stele.AppendTx, accountID, size int64, ps []*pending) (seen map[int64]int64, claimed bool, err error) {
	claims := map[int64]int64{}
	seq := size
	for _, p := range ps {
		if p.idem != 0 {
			if _, ok := claims[p.idem]; ok {
				continue // replays an event of this group
			}
			claims[p.idem] = seq
		}
		seq++
	}
	if len(claims) == 0 {
		return claims, true, nil
	}
	seen, err = tx.ClaimIdempotency(ctx, accountID, claims)
	if err != nil {
		return nil, false, err
	}
	if len(seen) == 0 {
		return map[int64]int64{}, true, nil
	}
	return seen, false, nil
}

// fillReplayHashes completes the receipts of replayed events with the leaf
// hash of the event first stored under their key.
func (w *Writer) fillReplayHashes(ctx context.Context, replays []*pending) error {
	for _, p := range replays {
		hs, err := w.store.LeafHashes(ctx, p.accountID, p.receipt.Seq, p.receipt.Seq+1)
		if err != nil {
			return err
		}
		if len(hs) != 1 {
			return errors.New("ingest: replayed event's leaf hash is missing")
		}
		p.receipt.LeafHash = hex.EncodeToString(hs[0][:])
	}
	return nil
}

// Wait returns once the writer has stopped: its context is done and the
// commit in flight, if any, has finished.
func (w *Writer) Wait() { <-w.stopped }
