package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stele-audit/stele/internal/notify"
)

// hookReceiver is a webhook receiver as docs/ALERTS.md tells one to be:
// it verifies each delivery's signature, acts once per delivery id and
// acknowledges a repeat. While down it answers 503. Every event id it
// receives is counted.
type hookReceiver struct {
	mu      sync.Mutex
	secret  string
	down    bool
	seen    map[string]bool
	events  map[string]int
	rules   map[string]int // rule name → deliveries acted on
	changed chan struct{}
}

func newHookReceiver(t *testing.T) (*hookReceiver, *httptest.Server) {
	r := &hookReceiver{seen: map[string]bool{}, events: map[string]int{}, rules: map[string]int{}, changed: make(chan struct{}, 1)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := notify.VerifyWebhook([]string{h.secret}, r.Header.Get(notify.SignatureHeader), body, time.Now(), 0); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b notify.WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !h.seen[b.DeliveryID] {
		h.seen[b.DeliveryID] = true
		h.rules[b.Rule.Name]++
		for _, e := range b.Events {
			h.events[e.ID]++
		}
		select {
		case h.changed <- struct{}{}:
		default:
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) set(secret string, down bool) {
	h.mu.Lock()
	h.secret, h.down = secret, down
	h.mu.Unlock()
}

// waitFor waits, on the receiver's deliveries, until ok holds.
func (h *hookReceiver) waitFor(t *testing.T, what string, ok func(h *hookReceiver) bool) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		h.mu.Lock()
		done := ok(h)
		h.mu.Unlock()
		if done {
			return
		}
		select {
		case <-h.changed:
		case <-deadline:
			t.Fatalf("the receiver never got %s", what)
		}
	}
}

// serveArgs starts `stele serve` on data with extra flags and returns it
// and its base URL.
func serveWith(t *testing.T, data string, env []string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn"}, extra...)
	cmd := exec.Command(steleBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base, err := listeningURL(stdout)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, base
}

// alertFlagsForTests let a server deliver to loopback receivers and retry
// within the test's patience.
var alertFlagsForTests = []string{"--alert-private-destinations", "--alert-retry-max", "200ms"}

func newAlertsKey(t *testing.T, data string) string {
	t.Helper()
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read,alerts:manage", "--json", "--data", data)), &created); err != nil {
		t.Fatal(err)
	}
	return created.Key
}

func createRule(t *testing.T, base, key string, args ...string) (id, secret string) {
	t.Helper()
	out := runCLI(t, append([]string{"alerts", "create", "--url", base, "--key", key, "--json"}, args...)...)
	var r struct {
		ID           string
		Destinations []struct{ Secret string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("alerts create printed %q: %v", out, err)
	}
	if len(r.Destinations) > 0 {
		secret = r.Destinations[0].Secret
	}
	return r.ID, secret
}

func TestAlertsCommandsDriveAServer(t *testing.T) {
	data := newStoreDir(t)
	key := newAlertsKey(t, data)
	_, base := serveWith(t, data, nil, alertFlagsForTests...)
	hook, srv := newHookReceiver(t)

	id, secret := createRule(t, base, key, "--template", "role-changed", "--webhook", srv.URL+"/stele")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("alerts create printed no generated secret: %q", secret)
	}
	hook.set(secret, false)
	if out := runCLI(t, "alerts", "list", "--url", base, "--key", key); !strings.Contains(out, id) || !strings.Contains(out, "Role or permission changed") || strings.Contains(out, secret) {
		t.Fatalf("alerts list:\n%s", out)
	}
	if out := runCLI(t, "alerts", "test", id, "--url", base, "--key", key); !strings.Contains(out, "ok") {
		t.Fatalf("alerts test:\n%s", out)
	}
	hook.waitFor(t, "the test alert", func(h *hookReceiver) bool { return h.rules["Role or permission changed"] == 1 })

	status := send(t, "POST", base+"/v1/events", key, `{"action": "user.role_changed", "actor": {"id": "u_1"}, "target": {"id": "u_2"}}`)
	if status != http.StatusCreated {
		t.Fatalf("ingest: %d", status)
	}
	hook.waitFor(t, "the alert", func(h *hookReceiver) bool { return h.rules["Role or permission changed"] == 2 })

	// Update keeps the secret it was never shown again; the rename shows.
	runCLI(t, "alerts", "update", id, "--name", "Admins", "--query", "action:user.permissions_changed", "--url", base, "--key", key)
	send(t, "POST", base+"/v1/events", key, `{"action": "user.permissions_changed"}`)
	hook.waitFor(t, "the renamed rule's alert", func(h *hookReceiver) bool { return h.rules["Admins"] == 1 })
	// The receiver has the alert a moment before the deliverer records
	// that it was delivered: the history says so once it has.
	for deadline := time.Now().Add(time.Minute); ; {
		out := runCLI(t, "alerts", "history", id, "--url", base, "--key", key)
		if strings.Count(out, "webhook delivered") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts history:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Refusals name the field and rule, with exit status 2.
	_, stderr, code := runCLIErr(t, "", nil, "alerts", "create", "--name", "x", "--query", "colour:red", "--email", "a@example.com", "--url", base, "--key", key)
	if code != 2 || !strings.Contains(stderr, "query: unknown_field") {
		t.Fatalf("bad query: exit %d, stderr %s", code, stderr)
	}
	_, stderr, code = runCLIErr(t, "", nil, "alerts", "create", "--template", "nope", "--url", base, "--key", key)
	if code != 2 || !strings.Contains(stderr, "template") {
		t.Fatalf("bad template: exit %d, stderr %s", code, stderr)
	}
	runCLI(t, "alerts", "delete", id, "--url", base, "--key", key)
	if out := runCLI(t, "alerts", "list", "--json", "--url", base, "--key", key); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after delete: %s", out)
	}
}

// TestAlertsSurviveSIGKILL kills the server while alerts wait for a
// receiver that is down, and again right after events are acknowledged:
// once the server is back, every matching event reaches the receiver.
func TestAlertsSurviveSIGKILL(t *testing.T) {
	data := newStoreDir(t)
	key := newAlertsKey(t, data)
	serve, base := serveWith(t, data, nil, alertFlagsForTests...)
	hook, srv := newHookReceiver(t)
	_, secret := createRule(t, base, key, "--name", "Integrations", "--query", "action:integration.removed", "--webhook", srv.URL)
	hook.set(secret, true) // down

	var ids []string
	ingest := func(base string, n int) {
		for i := range n {
			body := fmt.Sprintf(`{"events": [{"action": "integration.removed", "description": "%d"}, {"action": "user.login"}]}`, len(ids)+i)
			req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ Events []struct{ ID string } }
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("ingest: %d", resp.StatusCode)
			}
			ids = append(ids, out.Events[0].ID)
		}
	}
	ingest(base, 30)
	// Deliveries are being tried against the receiver that is down.
	waitAttempted(t, base, key)
	serve.Process.Signal(syscall.SIGKILL)
	serve.Wait()

	serve, base = serveWith(t, data, nil, alertFlagsForTests...)
	ingest(base, 10)
	serve.Process.Signal(syscall.SIGKILL) // at once: matches committed, maybe not yet evaluated
	serve.Wait()

	hook.set(secret, false)
	_, _ = serveWith(t, data, nil, alertFlagsForTests...)
	hook.waitFor(t, "every event", func(h *hookReceiver) bool {
		for _, id := range ids {
			if h.events[id] == 0 {
				return false
			}
		}
		return true
	})
}

// waitAttempted waits until the rule's deliveries have been tried.
func waitAttempted(t *testing.T, base, key string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out := runCLI(t, "alerts", "list", "--json", "--url", base, "--key", key)
		var rules []struct{ ID string }
		json.Unmarshal([]byte(out), &rules)
		if len(rules) == 1 {
			h := runCLI(t, "alerts", "history", rules[0].ID, "--json", "--url", base, "--key", key)
			var fs []struct{ Deliveries []struct{ Attempts int } }
			json.Unmarshal([]byte(h), &fs)
			if len(fs) > 0 && fs[0].Deliveries[0].Attempts > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling the server: it has nothing to wait on
	}
	t.Fatal("no delivery was tried within a minute")
}
