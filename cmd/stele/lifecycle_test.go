package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// runIn runs a command in this process and returns its stdout.
func runIn(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatalf("stele %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestRetentionCryptoAndDeleteCommands(t *testing.T) {
	t.Setenv("STELE_MASTER_KEY", "")
	t.Setenv("STELE_MASTER_KEY_FILE", "")
	data := t.TempDir()
	runIn(t, "init", "--data", data)
	runIn(t, "accounts", "create", "acme", "--type", "free", "--data", data)

	// Events 40 and 10 days old, stored as the server would.
	a, err := openApp(t.Context(), storeFlags{data: data}, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := a.ingest.Record(t.Context(),
		stele.Event{Account: "acme", Action: "user.login", Time: now.Add(-40 * 24 * time.Hour), Actor: &stele.Ref{ID: "u_1"}},
		stele.Event{Account: "acme", Action: "user.login", Time: now.Add(-10 * 24 * time.Hour), Actor: &stele.Ref{ID: "u_1"}}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	var dry []struct{ Deleted int64 }
	json.Unmarshal([]byte(runIn(t, "retention", "run", "--account", "acme", "--dry-run", "--json", "--data", data)), &dry)
	if len(dry) != 1 || dry[0].Deleted != 1 {
		t.Fatalf("dry run %+v", dry)
	}
	// A local export honours the retention the server is given, from the
	// flag or the environment: free keeps 30 days when built in.
	logins := func(env string, args ...string) int {
		t.Helper()
		t.Setenv("STELE_ACCOUNT_TYPES", env)
		out := runIn(t, append([]string{"export", "--format", "jsonl", "--data", data, "--account", "acme"}, append(args, "action:user.login")...)...)
		return strings.Count(out, `"user.login"`)
	}
	if n := logins(""); n != 1 {
		t.Errorf("export with the built-in types: %d logins, want 1 (the other is 40 days old)", n)
	}
	if n := logins("", "--account-types", "free=5"); n != 0 {
		t.Errorf("export with free=5: %d logins, want 0", n)
	}
	if n := logins("free=60"); n != 2 {
		t.Errorf("export with STELE_ACCOUNT_TYPES=free=60: %d logins, want 2", n)
	}
	if _, err := parseExport([]string{"--url", "http://127.0.0.1:1", "--key", "k", "--account-types", "free=5"}); err == nil || !strings.Contains(err.Error(), "--account-types") {
		t.Errorf("--account-types with a server: %v, want an error naming it", err)
	}
	t.Setenv("STELE_ACCOUNT_TYPES", "")

	// A type's days can be overridden: free=5 purges both events.
	var res []struct{ Deleted int64 }
	json.Unmarshal([]byte(runIn(t, "retention", "run", "--account-types", "free=5", "--json", "--data", data)), &res)
	total := int64(0)
	for _, r := range res {
		total += r.Deleted
	}
	if total != 2 {
		t.Fatalf("purged %d, want 2: %+v", total, res)
	}
	// The purge is covered by a signed statement: the store still verifies.
	if out := runIn(t, "verify", "--data", data); !strings.Contains(out, "2 events purged under signed statements: 0 failures") {
		t.Fatalf("verify after purge:\n%s", out)
	}

	var rot struct {
		DataKeyVersion int `json:"data_key_version"`
	}
	json.Unmarshal([]byte(runIn(t, "crypto", "rotate", "--account", "acme", "--json", "--data", data)), &rot)
	if rot.DataKeyVersion != 2 {
		t.Fatalf("rotate: %+v", rot)
	}
	runIn(t, "crypto", "reencrypt", "--data", data)
	var mr struct {
		Version int  `json:"master_key_version"`
		Rewrap  int  `json:"keys_rewrapped"`
		Retired bool `json:"older_versions_retired"`
	}
	json.Unmarshal([]byte(runIn(t, "crypto", "rotate", "--master", "--retire", "--json", "--data", data)), &mr)
	if mr.Version != 2 || mr.Rewrap < 4 || !mr.Retired {
		t.Fatalf("master rotation: %+v", mr)
	}
	// Everything still opens with the retired file: the events recorded
	// so far (retention.purged, rotations) decrypt.
	a, err = openApp(t.Context(), storeFlags{data: data}, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	acme, _ := a.db.AccountByName(t.Context(), "acme")
	rows, err := a.db.Rows(t.Context(), stele.RowQuery{AccountID: acme.ID, Limit: 100})
	if err != nil || len(rows) < 3 {
		t.Fatalf("%d rows: %v", len(rows), err)
	}
	for _, r := range rows {
		if r.KeyVersion != 2 && r.Action != "crypto.reencrypted" {
			t.Errorf("row %d (%s) at key version %d after reencrypt", r.Seq, r.Action, r.KeyVersion)
		}
		if _, err := a.search.Event(t.Context(), acme, r.Seq); err != nil {
			t.Fatalf("event %d (%s): %v", r.Seq, r.Action, err)
		}
	}
	a.Close()

	if err := run(t.Context(), []string{"accounts", "delete", "acme", "--data", data}, &bytes.Buffer{}); stele.ErrorCode(err) != stele.EINVALID {
		t.Fatalf("delete without --yes: %v", err)
	}
	out := runIn(t, "accounts", "delete", "acme", "--yes", "--data", data)
	if !strings.Contains(out, "keys destroyed") {
		t.Fatalf("delete: %s", out)
	}
	if out := runIn(t, "accounts", "list", "--data", data); strings.Contains(out, "acme") {
		t.Fatalf("acme still listed:\n%s", out)
	}
}
