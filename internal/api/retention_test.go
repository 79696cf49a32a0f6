package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// TestAPIHidesEventsPastRetentionBeforeThePurge: through a real listener,
// an event back-filled with a time past its account's retention (team: 90
// days) is in no list, export or event get, though no purge ran; on legal
// hold it shows again.
func TestAPIHidesEventsPastRetentionBeforeThePurge(t *testing.T) {
	e := newEnv(t)
	// Back to the type's retention: newEnv gives every account a century.
	if _, _, err := e.db.UpdateAccount(t.Context(), e.accts["acme"].ID, stele.AccountUpdate{ClearRetention: true}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := now.Add(-100 * 24 * time.Hour).Format(time.RFC3339Nano)
	body := fmt.Sprintf(`{"events": [
		{"action": "user.login", "outcome": "success", "actor": {"id": "u_1"}, "time": %q},
		{"action": "user.login", "outcome": "success", "actor": {"id": "u_1"}, "time": %q},
		{"action": "user.login", "outcome": "success", "actor": {"id": "u_1"}, "time": %q}]}`,
		now.Add(-time.Hour).Format(time.RFC3339Nano), old, now.Format(time.RFC3339Nano))
	r := e.post("acme", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	var receipts struct {
		Events []struct {
			ID  string `json:"id"`
			Seq int64  `json:"seq"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.Body, &receipts); err != nil || len(receipts.Events) != 3 {
		t.Fatalf("receipts %s: %v", r.Body, err)
	}
	expired := receipts.Events[1].ID

	check := func(t *testing.T, want int, shown bool) {
		t.Helper()
		// Only acme's logins: the export itself is recorded in its log.
		for _, q := range []string{"?q=actor:u_1", "?q=action:user.login", "?q=action:user.*"} {
			r := e.do("GET", "/v1/events"+q, e.keys["acme-read"], "", nil)
			var page struct {
				Events []struct {
					ID string `json:"id"`
				} `json:"events"`
			}
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &page) != nil {
				t.Fatalf("list%s: %d %s", q, r.Status, r.Body)
			}
			if len(page.Events) != want {
				t.Fatalf("list%s shows %d events, want %d", q, len(page.Events), want)
			}
		}
		r := e.do("GET", "/v1/export?format=jsonl&q=action:user.login", e.keys["acme"], "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("export: %d %s", r.Status, r.Body)
		}
		if n := strings.Count(string(r.Body), "\n"); n != want {
			t.Fatalf("export has %d lines, want %d", n, want)
		}
		if strings.Contains(string(r.Body), expired) != shown {
			t.Fatalf("export shows the expired event: %v, want %v", !shown, shown)
		}
		r = e.do("GET", "/v1/events/"+expired, e.keys["acme-read"], "", nil)
		if shown && r.Status != http.StatusOK || !shown && r.Status != http.StatusNotFound {
			t.Fatalf("get of the expired event: %d %s", r.Status, r.Body)
		}
	}
	check(t, 2, false)
	on := true
	if _, _, err := e.db.UpdateAccount(t.Context(), e.accts["acme"].ID, stele.AccountUpdate{LegalHold: &on}); err != nil {
		t.Fatal(err)
	}
	check(t, 3, true)
}
