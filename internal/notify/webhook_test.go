package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWebhookDeliversSignedAlert(t *testing.T) {
	clk := newClock(fired)
	rcv := &webhookReceiver{secrets: []string{goodSecret}, now: clk.Now}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, clk, nil)
	a := hostileAlert()
	a.Test = true
	d := Delivery{ID: NewDeliveryID(), Alert: a, Destination: Destination{Type: TypeWebhook, URL: srv.URL + "/hook", Secret: goodSecret}}
	if err := n.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	got, reqs := rcv.snapshot()
	if len(got) != 1 {
		t.Fatalf("the receiver acted on %d deliveries, want 1", len(got))
	}
	b, h := got[0], reqs[0].header
	if h.Get(DeliveryIDHeader) != d.ID || b.DeliveryID != d.ID || b.AlertID != a.ID || !b.Test {
		t.Errorf("ids: header %q body %q alert %q test %v; want %q", h.Get(DeliveryIDHeader), b.DeliveryID, b.AlertID, b.Test, d.ID)
	}
	if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != userAgent {
		t.Errorf("headers: %v", h)
	}
	if b.Rule.Name != a.Rule.Name || b.Rule.Threshold == nil || b.Rule.Threshold.Window != "10m" || b.Rule.Threshold.GroupBy != "actor" ||
		b.Group == nil || b.Group.Value != a.Group.Value || b.Count != 4 || b.EventsOmitted != 3 || b.Window == nil || !b.Window.End.Equal(fired) {
		t.Errorf("body: %+v", b)
	}
	if len(b.Events) != 1 || b.Events[0].Description != a.Events[0].Description || b.Events[0].Actor.Name != a.Events[0].Actor.Name {
		t.Errorf("events: the receiver gets event data exactly as recorded (JSON escapes it): %+v", b.Events)
	}
	if b.Events[0].URL != consoleBase+"/admin/audit-logs/evt_0000000000000001" || b.URL != n.console.SearchURL(a) ||
		!strings.HasPrefix(b.URL, consoleBase+"/admin/audit-logs?q=") {
		t.Errorf("links: %q, %q", b.Events[0].URL, b.URL)
	}
}

func TestWebhookReceiverRefusesReplays(t *testing.T) {
	senderClock, receiverClock := newClock(fired), newClock(fired)
	rcv := &webhookReceiver{secrets: []string{goodSecret}, now: receiverClock.Now}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, senderClock, nil)
	d := Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: Destination{Type: TypeWebhook, URL: srv.URL, Secret: goodSecret}}
	if err := n.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	_, reqs := rcv.snapshot()
	captured := reqs[0]

	// Within the tolerance, a replay is authentic but its id is known.
	if code, body := resend(t, srv.URL, captured); code != http.StatusOK || body != "duplicate" {
		t.Errorf("replay with a reused id: %d %q, want 200 \"duplicate\" and no action", code, body)
	}
	// One byte changed: no signature matches.
	changed := capturedRequest{header: captured.header, body: []byte(strings.Replace(string(captured.body), `"count":4`, `"count":5`, 1))}
	if code, _ := resend(t, srv.URL, changed); code != http.StatusUnauthorized {
		t.Errorf("body changed by one byte: %d, want 401", code)
	}
	// After the tolerance, the captured request is refused outright.
	receiverClock.Add(DefaultTolerance + time.Second)
	if code, body := resend(t, srv.URL, captured); code != http.StatusUnauthorized || !strings.Contains(body, "tolerance") {
		t.Errorf("replay after the tolerance: %d %q, want 401", code, body)
	}
	// Stele's own retry of the delivery is signed afresh: it verifies,
	// and the receiver sees the id again and does not act twice.
	senderClock.Add(DefaultTolerance + time.Second)
	if err := n.Deliver(context.Background(), d); err != nil {
		t.Fatalf("a retry of the same delivery: %v", err)
	}
	if got, reqs := rcv.snapshot(); len(got) != 1 || len(reqs) != 5 {
		t.Errorf("the receiver acted %d times on %d requests, want once on 5", len(got), len(reqs))
	}
}

func TestWebhookRotationSignsWithBothSecrets(t *testing.T) {
	const newSecret = "whsec_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxw"
	clk := newClock(fired)
	n := newTestNotifier(t, clk, nil)
	for _, receiverKnows := range []string{goodSecret, newSecret} {
		rcv := &webhookReceiver{secrets: []string{receiverKnows}, now: clk.Now}
		srv := httptest.NewServer(rcv)
		d := Delivery{ID: NewDeliveryID(), Alert: hostileAlert(),
			Destination: Destination{Type: TypeWebhook, URL: srv.URL, Secret: newSecret, PreviousSecret: goodSecret}}
		if err := n.Deliver(context.Background(), d); err != nil {
			t.Errorf("a receiver that knows only %s…: %v", receiverKnows[:10], err)
		}
		srv.Close()
	}
}

// TestWebhookFailureClasses sends to receivers that fail each way and
// checks how each failure is classified, and that no error text carries
// the URL's path or query.
func TestWebhookFailureClasses(t *testing.T) {
	const secretPath = "/hook/PATHSECRET?token=QUERYSECRET"
	answer := func(code int, header ...string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
		})
	}
	tlsServer := httptest.NewTLSServer(answer(http.StatusNoContent))
	defer tlsServer.Close()
	trusted := tlsServer.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	redirectTarget := &webhookReceiver{secrets: []string{goodSecret}, now: time.Now}
	redirectSrv := httptest.NewServer(redirectTarget)
	defer redirectSrv.Close()

	tests := []struct {
		name       string
		handler    http.Handler // nil: the URL below is used as is
		url        string
		policy     *URLPolicy
		roots      bool // trust the TLS test server
		retryable  bool
		status     int
		retryAfter time.Duration
		reason     string
	}{
		{name: "server error", handler: answer(500), retryable: true, status: 500},
		{name: "unavailable with retry-after", handler: answer(503, "Retry-After", "30"), retryable: true, status: 503, retryAfter: 30 * time.Second},
		{name: "rate limited", handler: answer(429, "Retry-After", "120"), retryable: true, status: 429, retryAfter: 2 * time.Minute},
		{name: "rate limited until a date", handler: answer(429, "Retry-After", fired.Add(90*time.Second).Format(http.TimeFormat)), retryable: true, status: 429, retryAfter: 90 * time.Second},
		{name: "bad request", handler: answer(400), status: 400},
		{name: "gone", handler: answer(410), status: 410},
		{name: "redirect", handler: http.RedirectHandler(redirectSrv.URL, http.StatusTemporaryRedirect), status: 307, reason: "redirects"},
		{name: "closed port", url: "http://" + closedPort(t) + secretPath, retryable: true, reason: "refused"},
		{name: "untrusted certificate", url: tlsServer.URL + secretPath, reason: "TLS"},
		{name: "loopback refused by policy", url: tlsServer.URL + secretPath, policy: &URLPolicy{}, roots: true, reason: "not public"},
		{name: "trusted certificate", url: tlsServer.URL + secretPath, roots: true},
		{name: "plain http refused by policy", url: "http://127.0.0.1:9" + secretPath, policy: &URLPolicy{}, reason: "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				url = srv.URL + secretPath
			}
			n := newTestNotifier(t, newClock(fired), func(c *Config) {
				if tt.policy != nil {
					c.URLPolicy = *tt.policy
				}
				if tt.roots {
					c.RootCAs = trusted
				}
			})
			d := Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: Destination{Type: TypeWebhook, URL: url, Secret: goodSecret}}
			err := n.Deliver(context.Background(), d)
			if tt.name == "trusted certificate" {
				if err != nil {
					t.Fatalf("with the server's certificate trusted: %v", err)
				}
				return
			}
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DeliveryError", err)
			}
			if de.Retryable != tt.retryable || de.Status != tt.status || de.RetryAfter != tt.retryAfter || IsRetryable(err) != tt.retryable {
				t.Errorf("%v: retryable %v status %d retry-after %v; want %v %d %v", err, de.Retryable, de.Status, de.RetryAfter, tt.retryable, tt.status, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("%q does not say %q", err, tt.reason)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the error text carries the URL: %q", err)
			}
		})
	}
	if got, _ := redirectTarget.snapshot(); len(got) != 0 {
		t.Errorf("a redirect was followed")
	}
}

// TestSlowDestinationDoesNotHoldOthers keeps one receiver from answering
// and delivers to another meanwhile; then lets the slow one time out.
func TestSlowDestinationDoesNotHoldOthers(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	defer slow.Close()
	defer close(release)
	clk := newClock(fired)
	fast := &webhookReceiver{secrets: []string{goodSecret}, now: clk.Now}
	fastSrv := httptest.NewServer(fast)
	defer fastSrv.Close()
	n := newTestNotifier(t, clk, nil)

	ctx, cancel := context.WithCancel(context.Background())
	slowDone := make(chan error)
	go func() {
		slowDone <- n.Deliver(ctx, Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: Destination{Type: TypeWebhook, URL: slow.URL, Secret: goodSecret}})
	}()
	<-arrived
	if err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: Destination{Type: TypeWebhook, URL: fastSrv.URL, Secret: goodSecret}}); err != nil {
		t.Fatalf("the fast destination, while the slow one hangs: %v", err)
	}
	cancel() // as the delivery loop does at shutdown, or the timeout would
	if err := <-slowDone; !IsRetryable(err) {
		t.Errorf("the slow destination: %v, want a retryable error", err)
	}
}

func TestWebhookTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	n := newTestNotifier(t, newClock(fired), func(c *Config) { c.HTTPTimeout = 50 * time.Millisecond })
	err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: Destination{Type: TypeWebhook, URL: slow.URL, Secret: goodSecret}})
	if !IsRetryable(err) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("got %v, want a retryable time-out", err)
	}
}

func TestPolicyRefusesNonPublicAddresses(t *testing.T) {
	tests := []struct {
		addr                     string
		public, loopback, anyNet bool // allowed by URLPolicy{}, {AllowLoopbackHTTP}, {AllowPrivateNetworks}
	}{
		{"93.184.215.14:443", true, true, true},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", true, true, true},
		{"127.0.0.1:443", false, true, true},
		{"[::1]:443", false, true, true},
		{"[::ffff:127.0.0.1]:443", false, true, true},
		{"10.1.2.3:443", false, false, true},
		{"192.168.1.1:443", false, false, true},
		{"172.16.0.1:443", false, false, true},
		{"169.254.169.254:80", false, false, true},
		{"100.64.0.1:443", false, false, true},
		{"[fd00::1]:443", false, false, true},
		{"[fe80::1]:443", false, false, true},
		{"[64:ff9b::a00:1]:443", false, false, true},
		{"0.0.0.0:443", false, false, false},
		{"[::]:443", false, false, false},
		{"224.0.0.1:443", false, false, false},
		{"not-an-address", false, false, false},
	}
	for _, tt := range tests {
		for i, p := range []URLPolicy{{}, {AllowLoopbackHTTP: true}, {AllowPrivateNetworks: true}} {
			want := []bool{tt.public, tt.loopback, tt.anyNet}[i]
			err := p.control(context.Background(), "tcp", tt.addr, nil)
			if (err == nil) != want || err != nil && !errors.Is(err, errAddressNotAllowed) {
				t.Errorf("%s under %+v: %v, want allowed %v", tt.addr, p, err, want)
			}
		}
	}
}
