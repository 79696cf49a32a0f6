package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

const consoleBase = "https://stele.example.com"

// clock is a test clock the Notifier and a receiver can each hold.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestNotifier returns a Notifier for loopback receivers, on clk.
func newTestNotifier(t *testing.T, clk *clock, edit func(*Config)) *Notifier {
	t.Helper()
	cfg := Config{ConsoleURL: consoleBase + "/", URLPolicy: URLPolicy{AllowLoopbackHTTP: true}, Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// webhookReceiver is a receiver as docs/ALERTS.md tells one to be: it
// verifies the signature against its clock, decodes the body strictly,
// and acts once per delivery id, acknowledging a repeat without acting.
type webhookReceiver struct {
	secrets []string
	now     func() time.Time

	mu        sync.Mutex
	seen      map[string]bool
	processed []WebhookBody
	requests  []capturedRequest
}

type capturedRequest struct {
	header http.Header
	body   []byte
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, capturedRequest{header: req.Header.Clone(), body: body})
	if err := VerifyWebhook(r.secrets, req.Header.Get(SignatureHeader), body, r.now(), DefaultTolerance); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b WebhookBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Type != WebhookType || b.Version != WebhookVersion || b.DeliveryID == "" {
		http.Error(w, "not an alert body I know", http.StatusBadRequest)
		return
	}
	if r.seen[b.DeliveryID] {
		io.WriteString(w, "duplicate")
		return
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[b.DeliveryID] = true
	r.processed = append(r.processed, b)
	w.WriteHeader(http.StatusNoContent)
}

func (r *webhookReceiver) snapshot() ([]WebhookBody, []capturedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]WebhookBody{}, r.processed...), append([]capturedRequest{}, r.requests...)
}

// resend sends a captured request again, as an attacker who saw it would.
func resend(t *testing.T, url string, c capturedRequest) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func emailTo(to ...string) Destination { return Destination{Type: TypeEmail, To: to} }
