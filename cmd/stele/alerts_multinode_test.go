package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// startWith starts a node of the cluster with extra flags.
func (c *cluster) startWith(extra ...string) (*exec.Cmd, string) {
	c.t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", c.db, "--data", c.t.TempDir(), "--log-level", "warn"}, extra...)
	cmd := exec.Command(steleBin(c.t), args...)
	cmd.Env = c.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, c.listening(stdout)
}

func (c *cluster) alertsKey() string {
	c.t.Helper()
	c.cli("accounts", "create", "acme", "--type", "team")
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(c.cli("keys", "create", "--account", "acme", "--scopes", "events:write,alerts:manage", "--json")), &created); err != nil {
		c.t.Fatal(err)
	}
	return created.Key
}

func postEvent(t *testing.T, base, key, body string) {
	t.Helper()
	if status := send(t, "POST", base+"/v1/events", key, body); status != http.StatusCreated {
		t.Fatalf("ingest through %s: %d", base, status)
	}
}

// A rule created, then changed, through one node is in force on another
// from its next commit: the other node's events match it at once.
func TestAlertRuleChangeOnOneNodeIsSeenByAnother(t *testing.T) {
	c := newCluster(t)
	key := c.alertsKey()
	_, a := c.startWith(alertFlagsForTests...)
	_, b := c.startWith(alertFlagsForTests...)
	hook, srv := newHookReceiver(t)
	postEvent(t, b, key, `{"action": "user.login"}`) // b's matcher has read the rules: none yet

	id, secret := createRule(t, a, key, "--name", "Admins", "--query", "action:user.role_changed", "--webhook", srv.URL)
	hook.set(secret, false)
	postEvent(t, b, key, `{"action": "user.role_changed"}`)
	hook.waitFor(t, "the alert of an event sent to the other node", func(h *hookReceiver) bool { return h.rules["Admins"] == 1 })

	// Disabled through a; b's next event matches it no more. Another rule,
	// made after, fires on a later event: the evaluator reads in seq order,
	// so by then it has seen the event in between.
	runCLI(t, "alerts", "update", id, "--disable", "--url", a, "--key", key)
	postEvent(t, b, key, `{"action": "user.role_changed"}`)
	_, secret2 := createRule(t, a, key, "--name", "Exports", "--query", "action:audit_log.exported", "--webhook", srv.URL)
	if secret2 == "" {
		t.Fatal("no secret for the second rule")
	}
	hook.set(secret2, false)
	postEvent(t, b, key, `{"action": "audit_log.exported"}`)
	hook.waitFor(t, "the second rule's alert", func(h *hookReceiver) bool { return h.rules["Exports"] == 1 })
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if hook.rules["Admins"] != 1 {
		t.Fatalf("the disabled rule fired %d times", hook.rules["Admins"])
	}
}

// The node that leads "alerts" is killed: another takes over and delivers
// what it had not, and what comes after.
func TestAlertEvaluatorMovesWhenItsLeaderDies(t *testing.T) {
	c := newCluster(t)
	key := c.alertsKey()
	leader, a := c.startWith(alertFlagsForTests...) // the first node leads
	hook, srv := newHookReceiver(t)
	_, secret := createRule(t, a, key, "--name", "Integrations", "--query", "action:integration.removed", "--webhook", srv.URL)
	hook.set(secret, false)
	postEvent(t, a, key, `{"action": "integration.removed", "description": "before"}`)
	hook.waitFor(t, "the first alert", func(h *hookReceiver) bool { return h.rules["Integrations"] == 1 })

	_, b := c.startWith(alertFlagsForTests...)
	hook.set(secret, true) // down: the next alert waits in the outbox
	postEvent(t, b, key, `{"action": "integration.removed", "description": "during"}`)
	leader.Process.Signal(syscall.SIGKILL)
	leader.Wait()
	hook.set(secret, false)
	postEvent(t, b, key, `{"action": "integration.removed", "description": "after"}`)
	hook.waitFor(t, "every alert through the new leader", func(h *hookReceiver) bool {
		n := 0
		for range h.events {
			n++
		}
		return n == 3
	})
}
