package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/notify"
)

// webhookReceiver is a receiver as docs/ALERTS.md tells one to be: it
// checks the signature with notify.VerifyWebhook, acts once per delivery
// id and acknowledges a repeat without acting. While down is set it
// answers 503. Each delivery it acts on is sent on got.
type webhookReceiver struct {
	secret string

	mu       sync.Mutex
	down     bool
	seen     map[string]bool
	bodies   []notify.WebhookBody
	raw      []captured
	refused  int
	repeated int
	got      chan notify.WebhookBody
}

type captured struct {
	header http.Header
	body   []byte
}

func newWebhookReceiver(t *testing.T, secret string) (*webhookReceiver, *httptest.Server) {
	r := &webhookReceiver{secret: secret, seen: map[string]bool{}, got: make(chan notify.WebhookBody, 10_000)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
	if err != nil {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	r.raw = append(r.raw, captured{req.Header.Clone(), body})
	if err := notify.VerifyWebhook([]string{r.secret}, req.Header.Get(notify.SignatureHeader), body, time.Now(), 0); err != nil {
		r.refused++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b notify.WebhookBody
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.seen[b.DeliveryID] {
		r.repeated++
		w.WriteHeader(http.StatusOK)
		return
	}
	r.seen[b.DeliveryID] = true
	r.bodies = append(r.bodies, b)
	r.got <- b
	w.WriteHeader(http.StatusOK)
}

func (r *webhookReceiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// next waits for the next delivery acted on.
func (r *webhookReceiver) next(t *testing.T) notify.WebhookBody {
	t.Helper()
	select {
	case b := <-r.got:
		return b
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery within 30 s")
		return notify.WebhookBody{}
	}
}

// jobs runs the stack's evaluator and deliverer on a clock as the
// "alerts" leader would, until the test ends.
type jobs struct {
	eval    *Evaluator
	deliver *Deliverer
	clock   *clock
}

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func (s *stack) jobs(t testing.TB, smtp notify.SMTPConfig, backoff notify.Backoff) *jobs {
	t.Helper()
	clk := &clock{}
	n, err := notify.New(notify.Config{ConsoleURL: "https://stele.example.com", URLPolicy: loopbackPolicy, SMTP: smtp,
		HTTPTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.rules.Notifier = n
	j := &jobs{clock: clk,
		eval: &Evaluator{Store: s.db, Sealer: s.path.Keyring, Accounts: s.db, Events: s.path.Search, Audit: s.audit,
			Matcher: s.matcher, Now: clk.Now, Logger: quietLogger(), Poll: 20 * time.Millisecond},
		deliver: &Deliverer{Store: s.db, Sealer: s.path.Keyring, Accounts: s.db, Events: s.path.Search, Notifier: n,
			Audit: s.audit, Backoff: backoff, Now: clk.Now, Logger: quietLogger()},
	}
	return j
}

// start runs both jobs until the test ends.
func (j *jobs) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	run := Job(j.eval, j.deliver)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("alerts job: %v", err)
		}
	})
}

func bytesReader(b []byte) io.Reader { return &byteReader{b: b} }

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// logged returns the account's events with action.
func (s *stack) logged(t *testing.T, account *stele.Account, action string) []*stele.Event {
	t.Helper()
	page, err := s.path.Search.Search(t.Context(), account, stele.Query{Terms: []stele.Term{{Field: stele.FieldAction, Values: []string{action}}}}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return page.Events
}
