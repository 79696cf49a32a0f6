// Package goldentest holds what the tests of the event formats (export's
// CSV and JSON Lines, forward's syslog and CEF) share: the comparison with
// a golden file in testdata, and the ordinary event their fixtures start
// with.
package goldentest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// Check compares got with the file testdata/name, which update (the test's
// -update flag) first rewrites with got.
func Check(t testing.TB, name string, got []byte, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %q\nwant: %q", name, got, want)
	}
}

// RoleChange is an ordinary event, new on each call: a user's change of
// another's role, with every field but the source, a name to quote
// (Björn "Bob" Ødegård, Jr.) and metadata of each JSON type, at
// 2026-11-24T10:00:00.123456Z, seq 1 of acme.
func RoleChange() *stele.Event {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	return &stele.Event{ID: "evt_0000000000000001", Seq: 1, Account: "acme", Time: t0, ReceivedAt: t0.Add(77 * time.Millisecond),
		Action: "user.role_changed", Category: "user_management", Outcome: "success",
		Actor:  &stele.Ref{Type: "user", ID: "u_123", Name: "Ada Lovelace", Email: "ada@acme.io"},
		Target: &stele.Ref{Type: "user", ID: "u_456", Name: "Björn \"Bob\" Ødegård, Jr."},
		IP:     "203.0.113.7", UserAgent: "Mozilla/5.0", RequestID: "req_1",
		Description: "Ada changed Bob's role from viewer to admin",
		Metadata:    map[string]any{"role_before": "viewer", "role_after": "admin", "n": json.Number("3"), "ok": true}}
}
