package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/recovery"
)

// Defaults of ReadsConfig.
const (
	DefaultReadWindow = 5 * time.Minute
	DefaultReadQueue  = 4096
	DefaultReadTable  = 100_000
	DefaultReadLinger = 200 * time.Millisecond
)

// ReadsConfig tunes Reads; zero values take the defaults.
type ReadsConfig struct {
	// Window is how long one record covers the same read: one
	// audit_log.viewed per account, reader, way in and query per window.
	Window time.Duration
	// Queue is how many records may wait for the ingest path; a read that
	// finds it full is not recorded, and counted (Dropped).
	Queue int
	// Table bounds the reads remembered for coalescing.
	Table int
	// Linger is how long the first record of a batch waits for others
	// before the batch is stored: one commit for the reads of a moment
	// rather than one each.
	Linger time.Duration
	Now    func() time.Time // time.Now when nil
}

// Reads records reads of the log (Recorder.Viewed) off the reader's path:
// Read never blocks and never fails. The same read (account, reader, way
// in, kind and query; the cursor is not part of it, so every page of one
// query is the same read) is recorded once per window. The table of reads
// seen lives in this process: each node of a cluster records its own
// first read of a window, and a restart forgets the table, so a read may
// be recorded more than once per window, never less than once unless the
// queue was full or the store refused it (both counted and logged).
// Proofs are one read per kind: the record names the first proof of its
// window.
type Reads struct {
	rec *Recorder
	cfg ReadsConfig

	mu     sync.Mutex
	seen   map[readKey]time.Time // when the read was last recorded
	queue  chan pendingView
	closed bool
	done   chan struct{}

	recorded, coalesced, dropped, failed atomic.Int64
}

// readKey names a read for coalescing: the SHA-256 of its account,
// reader, way in, kind and query, so that the table's size does not grow
// with the queries' (up to kilobytes each) and no two reads share a key.
type readKey [sha256.Size]byte

func keyOf(account, reader, via, kind, query string) readKey {
	h := sha256.New()
	for _, part := range []string{account, reader, via, kind, query} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	var k readKey
	h.Sum(k[:0])
	return k
}

type pendingView struct {
	a    Actor
	v    View
	key  readKey
	seen time.Time
}

// NewReads starts recording reads through rec; Close stops it.
func NewReads(rec *Recorder, cfg ReadsConfig) *Reads {
	if cfg.Window <= 0 {
		cfg.Window = DefaultReadWindow
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultReadQueue
	}
	if cfg.Table <= 0 {
		cfg.Table = DefaultReadTable
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultReadLinger
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reads{rec: rec, cfg: cfg, seen: map[readKey]time.Time{},
		queue: make(chan pendingView, cfg.Queue), done: make(chan struct{})}
	go r.run()
	return r
}

// Read notes that a read what v says. It returns at once: the record is
// made later, by the ingest path, unless the same read was recorded less
// than a window ago.
func (r *Reads) Read(a Actor, v View) {
	if r == nil {
		return
	}
	query, reader := v.Query, ""
	if v.Kind == ViewInclusion || v.Kind == ViewConsistency {
		// A verifier samples many proofs at once: one read of the tree.
		query = ""
	}
	if a.Ref != nil {
		reader = a.Ref.Type + ":" + a.Ref.ID
	}
	k := keyOf(v.Account, reader, a.via, v.Kind, query)
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.dropped.Add(1)
		return
	}
	if t, ok := r.seen[k]; ok && now.Sub(t) < r.cfg.Window && !now.Before(t) {
		r.coalesced.Add(1)
		return
	}
	if len(r.seen) >= r.cfg.Table {
		r.sweep(now)
	}
	select {
	case r.queue <- pendingView{a: a, v: v, key: k, seen: now}:
		r.seen[k] = now
	default:
		// Left unremembered: the next such read tries again.
		r.dropped.Add(1)
	}
}

// sweep forgets the reads whose window has passed, and, if the table is
// still full, every read: a read recorded twice is better than one never
// recorded.
func (r *Reads) sweep(now time.Time) {
	for k, t := range r.seen {
		if now.Sub(t) >= r.cfg.Window || now.Before(t) {
			delete(r.seen, k)
		}
	}
	if len(r.seen) >= r.cfg.Table {
		clear(r.seen)
	}
}

// forget drops what p remembered, unless the read was noted again since:
// a read whose record failed is recorded again at its next occurrence.
func (r *Reads) forget(p pendingView) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.seen[p.key]; ok && t.Equal(p.seen) {
		delete(r.seen, p.key)
	}
}

// maxReadBatch bounds the records stored in one call to the sink.
const maxReadBatch = 64

func (r *Reads) run() {
	defer close(r.done)
	batch := make([]pendingView, 0, maxReadBatch)
	linger := time.NewTimer(r.cfg.Linger)
	linger.Stop()
	for p := range r.queue {
		batch = append(batch[:0], p)
		linger.Reset(r.cfg.Linger)
	more:
		for len(batch) < maxReadBatch {
			select {
			case p, ok := <-r.queue:
				if !ok { // closing: store what waits now
					break more
				}
				batch = append(batch, p)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		r.store(batch)
	}
}

// store records a batch of views in one call to the sink. A panic on the
// way fails the batch alone, like a refusal: the recorder goes on.
func (r *Reads) store(batch []pendingView) {
	err := recovery.Call(func() error {
		events := make([]stele.Event, 0, len(batch))
		for _, p := range batch {
			events = append(events, viewedEvents(p.a, p.v)...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return r.rec.record(ctx, Actor{}, events...)
	})
	if err != nil {
		r.failed.Add(int64(len(batch)))
		r.rec.Log(err)
		for _, p := range batch {
			r.forget(p)
		}
		return
	}
	r.recorded.Add(int64(len(batch)))
}

// Close records what waits and stops; later reads are counted as dropped.
func (r *Reads) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	<-r.done
}

// ReadFigures are what Reads did since it started.
type ReadFigures struct {
	Recorded  int64 // reads recorded
	Coalesced int64 // reads covered by a record of the same read in its window
	Dropped   int64 // reads not recorded because the queue was full (or Reads closed)
	Failed    int64 // reads whose record the store refused (logged)
}

// Figures returns what r did since it started.
func (r *Reads) Figures() ReadFigures {
	return ReadFigures{Recorded: r.recorded.Load(), Coalesced: r.coalesced.Load(), Dropped: r.dropped.Load(), Failed: r.failed.Load()}
}
