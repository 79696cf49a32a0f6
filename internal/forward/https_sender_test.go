package forward_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/forward"
)

// collector is an HTTPS receiver that keeps every request it answered
// with 2xx: a stand-in for Splunk HEC and generic NDJSON collectors,
// strict about what they require.
type collector struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	status   int // answer with this instead of 200, when set
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != 0 {
		http.Error(w, "unavailable", c.status)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", 405)
		return
	}
	c.requests, c.bodies = append(c.requests, r), append(c.bodies, body)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"text":"Success","code":0}`)
}

// received returns the requests answered 2xx so far and their bodies.
func (c *collector) received() ([]*http.Request, [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests), slices.Clone(c.bodies)
}

func (c *collector) setStatus(s int) {
	c.mu.Lock()
	c.status = s
	c.mu.Unlock()
}

// lines returns every line received, in order.
func (c *collector) lines(t testing.TB) [][]byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for _, b := range c.bodies {
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Fatalf("a body does not end in a newline: %q", b)
		}
		out = append(out, bytes.Split(b[:len(b)-1], []byte("\n"))...)
	}
	return out
}

func newCollector(t testing.TB) (*collector, *httptest.Server, *x509.CertPool) {
	c := &collector{}
	srv := httptest.NewTLSServer(c)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return c, srv, pool
}

func newHTTPSSender(t testing.TB, url, format string, headers map[string]string, o forward.Options) forward.Sender {
	t.Helper()
	s, err := forward.New(forward.Destination{Type: "https", URL: url, Format: format, Headers: headers}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// lineID reads the event id of one line of a format.
func lineID(t testing.TB, format string, line []byte) string {
	t.Helper()
	fail := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s line: %v: %q", format, err, line)
		}
	}
	switch format {
	case "splunk_hec":
		var v struct {
			Time       json.RawMessage `json:"time"`
			Host       string          `json:"host"`
			Source     string          `json:"source"`
			Sourcetype string          `json:"sourcetype"`
			Event      *stele.Event    `json:"event"`
		}
		fail(json.Unmarshal(line, &v))
		if v.Event == nil || v.Host != "stele-test" || v.Source != "stele" || v.Sourcetype != "stele:audit" || !regexp.MustCompile(`^[0-9]+\.[0-9]{3}$`).Match(v.Time) {
			t.Fatalf("not a HEC event: %q", line)
		}
		return v.Event.ID
	case "ocsf":
		var v struct {
			ClassUID int `json:"class_uid"`
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
		}
		fail(json.Unmarshal(line, &v))
		return v.Metadata.UID
	}
	var e stele.Event
	fail(json.Unmarshal(line, &e))
	return e.ID
}

func TestHTTPSPostsEachFormatWithItsHeaders(t *testing.T) {
	evs := demoEvents(t, 500)
	for _, format := range []string{"ndjson", "splunk_hec", "ocsf"} {
		t.Run(format, func(t *testing.T) {
			c, srv, pool := newCollector(t)
			s := newHTTPSSender(t, srv.URL+"/services/collector/event?channel=x", format,
				map[string]string{"Authorization": "Splunk 0f3a-token", "x-splunk-request-channel": "c1"},
				forward.Options{Hostname: "stele-test", RootCAs: pool, Version: "1.2.3"})
			for _, b := range batches(evs, 100) {
				if err := s.Send(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			lines := c.lines(t)
			if len(lines) != len(evs) {
				t.Fatalf("%d lines for %d events", len(lines), len(evs))
			}
			for i, l := range lines {
				if id := lineID(t, format, l); id != evs[i].ID {
					t.Fatalf("line %d is %s, want %s", i, id, evs[i].ID)
				}
			}
			reqs, _ := c.received()
			r := reqs[0]
			want := map[string]string{"Authorization": "Splunk 0f3a-token", "X-Splunk-Request-Channel": "c1",
				"User-Agent": "stele/1.2.3", "Content-Type": map[string]string{"splunk_hec": "application/json"}[format]}
			if want["Content-Type"] == "" {
				want["Content-Type"] = "application/x-ndjson"
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if r.URL.RawQuery != "channel=x" || r.URL.Path != "/services/collector/event" {
				t.Errorf("posted to %s", r.URL)
			}
		})
	}
}

func TestHTTPSSplitsABatchAtMaxBatchBytes(t *testing.T) {
	c, srv, pool := newCollector(t)
	const max = 4000
	s := newHTTPSSender(t, srv.URL, "ndjson", nil, forward.Options{RootCAs: pool, MaxBatchBytes: max})
	evs := demoEvents(t, 200)
	big := *evs[10]
	big.Description = strings.Repeat("b", 2*max) // alone over the limit: sent alone
	evs[10] = &big
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	_, bodies := c.received()
	if len(bodies) < 2 {
		t.Fatalf("%d requests", len(bodies))
	}
	for _, b := range bodies {
		if len(b) > max && bytes.Count(b, []byte("\n")) > 1 {
			t.Errorf("a body of %d bytes holds %d events", len(b), bytes.Count(b, []byte("\n")))
		}
	}
	for i, l := range c.lines(t) {
		if id := lineID(t, "ndjson", l); id != evs[i].ID {
			t.Fatalf("line %d is %s, want %s", i, id, evs[i].ID)
		}
	}
}

// A refusal says the status and what the destination said, bounded and
// cleaned, with the destination's own secrets blanked if it echoes them,
// and never the URL's query.
func TestHTTPSErrorQuotesStatusAndACleanExcerpt(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "{\"text\":\"Invalid token\",\"code\":4,\n\"echo\":\""+r.Header.Get("Authorization")+"\"}\x1b[31m\x00\xff"+strings.Repeat("z", 10000))
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s := newHTTPSSender(t, srv.URL+"/x?token=querysecret", "splunk_hec", map[string]string{"Authorization": "Splunk headersecret"},
		forward.Options{RootCAs: pool})
	err := s.Send(context.Background(), demoEvents(t, 3))
	var se *forward.StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 {
		t.Fatalf("Send = %v, want a StatusError 400", err)
	}
	if !strings.Contains(se.Body, `"text":"Invalid token"`) || len(se.Body) > 256 {
		t.Errorf("excerpt %q", se.Body)
	}
	for _, c := range se.Body {
		if c < 0x20 || c == 0x7f {
			t.Errorf("control character %q in the excerpt %q", c, se.Body)
		}
	}
	if msg := err.Error(); strings.Contains(msg, "headersecret") || strings.Contains(msg, "querysecret") || !strings.Contains(msg, "400") {
		t.Errorf("error %q", msg)
	}
}

func TestHTTPSDoesNotFollowRedirects(t *testing.T) {
	c, elsewhere, _ := newCollector(t)
	srv := httptest.NewTLSServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	pool.AddCert(elsewhere.Certificate())
	s := newHTTPSSender(t, srv.URL, "ndjson", map[string]string{"X-Api-Key": "k1234"}, forward.Options{RootCAs: pool})
	err := s.Send(context.Background(), demoEvents(t, 2))
	var se *forward.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("Send = %v, want a StatusError 307", err)
	}
	if _, bodies := c.received(); len(bodies) != 0 {
		t.Error("the redirect was followed")
	}
}

func TestHTTPSTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // no answer before the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s := newHTTPSSender(t, srv.URL, "ndjson", nil, forward.Options{RootCAs: pool, Timeout: 100 * time.Millisecond})
	if err := s.Send(context.Background(), demoEvents(t, 1)); err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("Send = %v, want a timeout", err)
	}
}

func TestHTTPSVerifiesTheReceiver(t *testing.T) {
	_, srv, _ := newCollector(t)
	s := newHTTPSSender(t, srv.URL, "ndjson", nil, forward.Options{})
	if err := s.Send(context.Background(), demoEvents(t, 1)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send = %v, want a certificate error", err)
	}
}

// The receiver goes away under a steady load (its listener closed), comes
// back on the same address, then answers 503 for a while: every failed
// batch is reported, sent again, and every event arrives.
func TestHTTPSResendsAcrossAReceiverOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &collector{}
	srv := httptest.NewUnstartedServer(c)
	srv.StartTLS()
	addr := srv.Listener.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s := newHTTPSSender(t, srv.URL, "splunk_hec", nil, forward.Options{Hostname: "stele-test", RootCAs: pool, Timeout: 5 * time.Second})

	evs := demoEvents(t, 3000)
	bs := batches(evs, 50)
	half, down := make(chan struct{}), make(chan struct{})
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		halfSent := false
		for i := 0; i < len(bs); {
			if i == len(bs)/2 && !halfSent {
				halfSent = true
				close(half)
			}
			if i == 3*len(bs)/4 {
				<-down
			}
			if err := s.Send(ctx, bs[i]); err != nil {
				if ctx.Err() != nil {
					return
				}
				select {
				case failed <- err:
				default:
				}
				continue
			}
			i++
		}
	})
	<-half
	srv.Close()
	close(down)
	t.Logf("receiver down: %v", <-failed)
	// Back on the same address, refusing with 503 at first.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.setStatus(http.StatusServiceUnavailable)
	back := httptest.NewUnstartedServer(c)
	back.Listener.Close()
	back.Listener = l
	back.StartTLS()
	defer back.Close()
	for refused := false; !refused; {
		select {
		case err := <-failed:
			var se *forward.StatusError
			refused = errors.As(err, &se) && se.StatusCode == 503
		case <-ctx.Done():
			t.Fatal("no Send failed with the 503")
		}
	}
	c.setStatus(0)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal(ctx.Err())
	}
	seen := map[string]bool{}
	for _, l := range c.lines(t) {
		seen[lineID(t, "splunk_hec", l)] = true
	}
	for _, e := range evs {
		if !seen[e.ID] {
			t.Fatalf("%s never arrived", e.ID)
		}
	}
}
