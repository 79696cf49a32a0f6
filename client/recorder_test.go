package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
)

// errorLog collects what a client hands its error handler.
type errorLog struct {
	mu   sync.Mutex
	errs []error
	any  chan struct{}
}

func newErrorLog() *errorLog { return &errorLog{any: make(chan struct{}, 1000)} }

func (l *errorLog) handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
	select {
	case l.any <- struct{}{}:
	default:
	}
}

func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// wait returns once the handler has had an error.
func (l *errorLog) wait(t *testing.T) {
	t.Helper()
	select {
	case <-l.any:
	case <-time.After(10 * time.Second):
		t.Fatal("no error reported within 10s")
	}
}

func login(i int) stele.Event {
	e := client.Login(stele.Ref{Type: "user", ID: fmt.Sprintf("u_%d", i)})
	e.Metadata = map[string]any{"n": i}
	return e
}

func recordN(t *testing.T, c *client.Client, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := c.Record(t.Context(), login(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkStored checks the account holds exactly the events n = want…,
// each once. Batches on their way at once may be stored in either order.
func checkStored(t *testing.T, s *liveServer, want []int) {
	t.Helper()
	ns := storedNs(t, s)
	slices.Sort(ns)
	if fmt.Sprint(ns) != fmt.Sprint(want) {
		t.Fatalf("stored events n=%v, want %v", ns, want)
	}
}

// checkStoredInOrder checks the account holds exactly the events n = want…,
// each once, in that order.
func checkStoredInOrder(t *testing.T, s *liveServer, want []int) {
	t.Helper()
	if ns := storedNs(t, s); fmt.Sprint(ns) != fmt.Sprint(want) {
		t.Fatalf("stored events n=%v, want %v in this order", ns, want)
	}
}

func storedNs(t *testing.T, s *liveServer) []int {
	t.Helper()
	var ns []int
	for _, e := range s.stored(t) {
		var n int
		fmt.Sscan(fmt.Sprint(e.Metadata["n"]), &n)
		ns = append(ns, n)
	}
	return ns
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func flush(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRecordSendsFullBatchesWithoutWaiting(t *testing.T) {
	s := startLive(t)
	c := s.client(t, client.WithBatchSize(10), client.WithFlushInterval(time.Hour), client.WithConcurrency(1))
	recordN(t, c, 0, 25)
	if n := s.nextPost(t); n != 10 {
		t.Fatalf("first batch of %d events, want 10", n)
	}
	if n := s.nextPost(t); n != 10 {
		t.Fatalf("second batch of %d events, want 10", n)
	}
	flush(t, c) // the last five leave on Flush, not on the hour
	if n := s.nextPost(t); n != 5 {
		t.Fatalf("flushed batch of %d events, want 5", n)
	}
	checkStoredInOrder(t, s, seq(0, 25))
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(t.Context(), login(99)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
}

func TestRecordSendsPartialBatchAfterFlushInterval(t *testing.T) {
	s := startLive(t)
	c := s.client(t, client.WithBatchSize(100), client.WithFlushInterval(50*time.Millisecond))
	recordN(t, c, 0, 3)
	if n := s.nextPost(t); n != 3 { // no Flush: the interval sends them
		t.Fatalf("batch of %d events, want 3", n)
	}
	flush(t, c)
	checkStored(t, s, seq(0, 3))
}

func TestRecordRetriesAcrossServerRestart(t *testing.T) {
	s := startLive(t)
	errs := newErrorLog()
	c := s.client(t, client.WithBatchSize(5), client.WithBackoff(10*time.Millisecond, 50*time.Millisecond), client.WithErrorHandler(errs.handle))
	recordN(t, c, 0, 5)
	flush(t, c)
	s.stop()
	recordN(t, c, 5, 12)
	errs.wait(t) // a delivery failed while Stele was down
	var de *client.DeliveryError
	if !errors.As(errs.all()[0], &de) || de.Attempt < 1 {
		t.Fatalf("reported %v, want a DeliveryError", errs.all()[0])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Flush while down: %v", err)
	}
	cancel()
	s.start()
	flush(t, c)
	checkStored(t, s, seq(0, 17))
}

func TestRetriedBatchIsStoredOnce(t *testing.T) {
	s := startLive(t)
	// The first answer to a batch is lost after Stele stored it; the
	// client retries and Stele recognises the idempotency keys.
	var failed atomic.Int32
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
		if r.Method != http.MethodPost || failed.Add(1) > 2 {
			return false
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		w.Header().Set("Retry-After", "0")
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return true
	})
	errs := newErrorLog()
	c := s.client(t, client.WithBatchSize(4), client.WithBackoff(time.Millisecond, 10*time.Millisecond), client.WithErrorHandler(errs.handle))
	recordN(t, c, 0, 8)
	flush(t, c)
	checkStored(t, s, seq(0, 8))
	if len(errs.all()) != 2 {
		t.Fatalf("reported %v, want two failed attempts", errs.all())
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	s := startLive(t)
	var once atomic.Bool
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
		if r.Method != http.MethodPost || once.Swap(true) {
			return false
		}
		w.Header().Set("Retry-After", "2")
		http.Error(w, `{"error":{"code":"unavailable","message":"slow down"}}`, http.StatusTooManyRequests)
		return true
	})
	errs := newErrorLog()
	c := s.client(t, client.WithBackoff(time.Millisecond, 10*time.Millisecond), client.WithErrorHandler(errs.handle))
	recordN(t, c, 0, 1)
	flush(t, c)
	var de *client.DeliveryError
	if len(errs.all()) != 1 || !errors.As(errs.all()[0], &de) || de.Wait != 2*time.Second {
		t.Fatalf("reported %v, want one wait of the 2s Retry-After", errs.all())
	}
	var se *client.StatusError
	if !errors.As(de, &se) || se.StatusCode != 429 {
		t.Fatalf("delivery error %v", de)
	}
	checkStored(t, s, seq(0, 1))
}

func TestRefusedEventIsReportedNotRetriedAndTheRestStored(t *testing.T) {
	s := startLive(t)
	errs := newErrorLog()
	c := s.client(t, client.WithBatchSize(10), client.WithErrorHandler(errs.handle))
	recordN(t, c, 0, 2)
	bad := login(2)
	bad.Action = "Not An Action"
	if err := c.Record(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	recordN(t, c, 3, 2)
	flush(t, c)
	checkStored(t, s, []int{0, 1, 3, 4})
	all := errs.all()
	var re *client.RejectedError
	var se *stele.Error
	if len(all) != 1 || !errors.As(all[0], &re) || !errors.As(re, &se) || se.Code != stele.EINVALID ||
		len(se.Details) == 0 || se.Details[0].Field != "action" || re.Event.Action != "Not An Action" {
		t.Fatalf("reported %v, want the refused event with the server's details", all)
	}
}

func TestFailOpenDropsOldestWhenBufferIsFull(t *testing.T) {
	s := startLive(t)
	s.stop()
	var drops []client.Dropped
	c := s.client(t, client.WithBufferSize(5), client.WithBatchSize(100), client.WithFlushInterval(time.Hour),
		client.FailOpen(func(d client.Dropped) { drops = append(drops, d) }))
	recordN(t, c, 0, 8) // never blocks
	if c.Dropped() != 3 || len(drops) != 3 || drops[2].Total != 3 {
		t.Fatalf("dropped %d, reports %+v", c.Dropped(), drops)
	}
	s.start()
	flush(t, c)
	checkStored(t, s, seq(3, 8))
}

func TestFailClosedBlocksRecordUntilContextEnds(t *testing.T) {
	s := startLive(t)
	s.stop()
	c := s.client(t, client.FailClosed(), client.WithBufferSize(2), client.WithBatchSize(100), client.WithFlushInterval(time.Hour))
	recordN(t, c, 0, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := c.Record(ctx, login(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Record on a full buffer: %v", err)
	}
	// Room made by a delivery lets a blocked Record through.
	done := make(chan error, 1)
	go func() { done <- c.Record(t.Context(), login(3)) }()
	s.start()
	flushed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		flushed <- c.Flush(ctx)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	checkStored(t, s, []int{0, 1, 3})
	if c.Dropped() != 0 {
		t.Fatalf("fail-closed dropped %d", c.Dropped())
	}
}

func TestQueryFollowsTheCursorAcrossPages(t *testing.T) {
	s := startLive(t)
	c := s.client(t, client.WithBatchSize(1000))
	recordN(t, c, 0, 230) // more than two pages of the server's default 100
	flush(t, c)
	checkStoredInOrder(t, s, seq(0, 230))
	n := 0
	for e, err := range c.Query(t.Context(), "action:user.login") {
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != int64(229-n) {
			t.Fatalf("event %d of the iteration has seq %d", n, e.Seq)
		}
		n++
	}
	if n != 230 {
		t.Fatalf("Query yielded %d events, want 230", n)
	}
}

func TestCloseWithoutSpoolCountsWhatItLoses(t *testing.T) {
	s := startLive(t)
	s.stop()
	c := s.client(t, client.WithBatchSize(2), client.WithBackoff(time.Millisecond, 5*time.Millisecond))
	recordN(t, c, 0, 5)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := c.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "5 events lost") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close while Stele is down: %v", err)
	}
	if c.Dropped() != 5 {
		t.Fatalf("Dropped() = %d, want 5", c.Dropped())
	}
	if err := c.Close(t.Context()); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("a second Close: %v", err)
	}
	// A client that never recorded closes at once.
	if err := s.client(t).Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestKeyRefusedKeepsTheEvents: a key the server does not take (unknown or
// revoked: 401; without events:write: 403 naming no event) is an outage of
// the producer's own making, not a verdict on its events: they wait in the
// spool, reported as delivery errors, and a run with a working key sends
// them. An event the key may not write (it names another account: a 403
// naming it) is refused alone.
func TestKeyRefusedKeepsTheEvents(t *testing.T) {
	s := startLive(t)
	dir := t.TempDir()
	for _, key := range []string{s.keys["globex"], "stele_" + strings.Repeat("0", 40)} {
		errs := newErrorLog()
		c, err := client.New(s.URL(), key, client.WithSpool(dir, 0), client.WithBatchSize(5), client.WithFlushInterval(10*time.Millisecond),
			client.WithBackoff(5*time.Millisecond, 20*time.Millisecond), client.WithErrorHandler(errs.handle))
		if err != nil {
			t.Fatal(err)
		}
		recordN(t, c, 0, 5)
		errs.wait(t)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err = c.Close(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "kept in the spool") || c.Dropped() != 0 {
			t.Fatalf("Close with a refused key: %v, %d dropped", err, c.Dropped())
		}
		for _, e := range errs.all() {
			var de *client.DeliveryError
			var se *client.StatusError
			if !errors.As(e, &de) || !errors.As(e, &se) || (se.StatusCode != 401 && se.StatusCode != 403) {
				t.Fatalf("reported %v, want delivery errors naming the key's refusal", e)
			}
		}
		if len(storedNs(t, s)) != 0 {
			t.Fatal("a refused key stored events")
		}
		os.RemoveAll(dir) // the next key's run starts afresh
	}

	errs := newErrorLog()
	c, err := client.New(s.URL(), s.keys["globex"], client.WithSpool(dir, 0), client.WithBatchSize(5),
		client.WithBackoff(5*time.Millisecond, 20*time.Millisecond), client.WithErrorHandler(errs.handle))
	if err != nil {
		t.Fatal(err)
	}
	recordN(t, c, 0, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	c.Close(ctx)
	cancel()
	// The operator fixes the key; the producer's next run sends the spool.
	c = s.client(t, client.WithSpool(dir, 0), client.WithBatchSize(5), client.WithErrorHandler(errs.handle))
	other := login(3)
	other.Account = "globex"
	if err := c.Record(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	recordN(t, c, 4, 1)
	flush(t, c)
	checkStoredInOrder(t, s, []int{0, 1, 2, 4})
	var re *client.RejectedError
	var se *stele.Error
	rejected := 0
	for _, e := range errs.all() {
		if errors.As(e, &re) {
			rejected++
			if !errors.As(re, &se) || se.Code != stele.EFORBIDDEN || len(se.Details) != 1 || se.Details[0].Field != "account" || re.Event.Account != "globex" {
				t.Fatalf("reported %v, want the event naming globex refused with the server's details", e)
			}
		}
	}
	if rejected != 1 {
		t.Fatalf("%d events refused, want the one naming globex", rejected)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}
