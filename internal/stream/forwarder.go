package stream

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/recovery"
	"github.com/stele-audit/stele/internal/seal"
)

// Forwarder is the "streams" job: on the node that leads it, it runs every
// enabled stream that is not paused, each in a goroutine of its own, with
// a sender of its own.
//
// One job for all streams rather than a leader election per stream: an
// election holds a database connection per job on every node, so a
// hundred streams would hold a hundred connections per node; one job holds
// one, and a goroutine per stream is what keeps streams fair to each
// other: a destination that is slow or down delays only its own stream,
// and a stream far behind reads and sends one batch at a time, as the
// others do, taking turns for the CPU and the store with them.
type Forwarder struct {
	Store  Store
	Keys   *seal.Keyring
	Audit  *audit.Recorder // records a stream paused for good
	Logger *slog.Logger
	// Wake, when set, returns a channel closed at the next local commit
	// (ingest.Writer.NextCommit), so that a caught-up stream forwards a
	// new event at once; commits of other nodes are found by polling.
	Wake    func() <-chan struct{}
	Options forward.Options
	Config  Config
	// Retention, when set, gives each account's retention floor: events
	// older are past retention, not yet purged (a back-fill), and are
	// never forwarded, as no read shows them (search.Service).
	Retention Retention

	poke    chan struct{}
	changed signal // fired by Poke, for the replays
	initMu  sync.Once
	mu      sync.Mutex
	figures map[string]*Figures // by stream id, of the streams this node runs
}

// Retention gives the time (Unix µs) before which an account's events are
// past their retention, 0 for none (search.Service.RetentionFloor).
type Retention interface {
	RetentionFloor(ctx context.Context, account *stele.Account) (int64, error)
}

// floor is the account's retention floor, 0 without a Retention.
func (f *Forwarder) floor(ctx context.Context, accountID int64) (int64, error) {
	if f.Retention == nil {
		return 0, nil
	}
	return f.Retention.RetentionFloor(ctx, &stele.Account{ID: accountID})
}

// Config tunes a Forwarder; zero values take the defaults.
type Config struct {
	// Batch is the most events read, and sent, at a time for one account
	// of a stream (default 1000).
	Batch int
	// Poll is how often a caught-up stream looks for events that another
	// node committed (default 500 ms).
	Poll time.Duration
	// Linger is how long a woken stream waits for more events to gather
	// before it reads, so that a steady trickle goes in batches rather
	// than one event per commit (default 25 ms).
	Linger time.Duration
	// SaveEvery is how often, at most, a stream stores its cursor while
	// events flow (default 1 s); a caught-up stream stores it at once. A
	// crash sends again at most what was sent since.
	SaveEvery time.Duration
	// Refresh is how often the job reloads the streams, to start, restart
	// and stop them as they change on any node (default 2 s).
	Refresh time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed batch
	// (defaults 500 ms and 30 s), doubled after each failure in between.
	MinBackoff, MaxBackoff time.Duration
}

func (c Config) withDefaults() Config {
	if c.Batch <= 0 {
		c.Batch = 1000
	}
	if c.Poll <= 0 {
		c.Poll = 500 * time.Millisecond
	}
	if c.Linger <= 0 {
		c.Linger = 25 * time.Millisecond
	}
	if c.SaveEvery <= 0 {
		c.SaveEvery = time.Second
	}
	if c.Refresh <= 0 {
		c.Refresh = 2 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(30*time.Second, c.MinBackoff)
	}
	return c
}

func (f *Forwarder) init() {
	f.initMu.Do(func() {
		f.poke = make(chan struct{}, 1)
		f.figures = map[string]*Figures{}
		f.Config = f.Config.withDefaults()
		if f.Logger == nil {
			f.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// Poke makes the job reload the streams now: a stream created, changed or
// deleted on this node starts, restarts or stops without waiting for the
// refresh (Service.Changed).
func (f *Forwarder) Poke() {
	f.init()
	select {
	case f.poke <- struct{}{}:
	default:
	}
	f.changed.fire()
}

// signal is a broadcast: wait returns a channel that the next fire closes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// running is a stream's goroutine.
type running struct {
	version int64
	cancel  context.CancelFunc
	done    chan struct{}
}

// Run runs the streams until ctx is done: it is the job a
// stele.Leadership leads. It returns nil once every stream has stopped.
func (f *Forwarder) Run(ctx context.Context) error {
	f.init()
	runs := map[string]*running{}
	defer func() {
		for id, r := range runs {
			r.cancel()
			<-r.done
			delete(runs, id)
		}
		f.mu.Lock()
		clear(f.figures)
		f.mu.Unlock()
	}()
	for {
		if err := recovery.Call(func() error { return f.reconcile(ctx, runs) }); err != nil && ctx.Err() == nil {
			recovery.Log(f.Logger, slog.LevelWarn, "streams: reload", err)
		}
		t := time.NewTimer(f.Config.Refresh)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-f.poke:
			t.Stop()
		case <-t.C:
		}
	}
}

// reconcile starts the streams that should run and are not running,
// restarts those running an older version and stops the others.
func (f *Forwarder) reconcile(ctx context.Context, runs map[string]*running) error {
	for id, r := range runs {
		select {
		case <-r.done: // it stopped on its own (paused, deleted, or panicked)
			delete(runs, id)
		default:
		}
	}
	all, err := f.Store.AllStreams(ctx)
	if err != nil {
		return err
	}
	want := map[string]*stele.Stream{}
	for _, s := range all {
		if s.Enabled && !s.Health.Paused() {
			want[s.ID] = s
		}
	}
	for id, r := range runs {
		if s, ok := want[id]; !ok || s.Version != r.version {
			r.cancel()
			<-r.done
			delete(runs, id)
		}
	}
	for id, s := range want {
		if _, ok := runs[id]; ok {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &running{version: s.Version, cancel: cancel, done: make(chan struct{})}
		runs[id] = r
		fig := newFigures(s)
		f.mu.Lock()
		f.figures[id] = fig
		f.mu.Unlock()
		go func() {
			defer close(r.done)
			defer func() {
				f.mu.Lock()
				if f.figures[id] == fig {
					delete(f.figures, id)
				}
				f.mu.Unlock()
			}()
			err := recovery.Call(func() error { return f.runStream(rctx, s, fig) })
			if err != nil && rctx.Err() == nil {
				recovery.Log(f.Logger, slog.LevelError, "stream stopped", err, "stream", id)
				// The next reload starts it again, not at once: whatever
				// stopped it may stop it again.
				leader.Sleep(rctx, f.Config.Refresh)
			}
		}()
	}
	return nil
}
