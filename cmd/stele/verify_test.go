package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/sqlite"
)

// ingestN sends n events to the server at base through `stele ingest`.
func ingestN(t *testing.T, base, key string, n, from int) {
	t.Helper()
	var lines strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&lines, `{"action":"user.login","actor":{"id":"u_%d","email":"u%d@acme.io"},"description":"login %d","metadata":{"n":%d,"ok":true}}`+"\n", i, i, i, i)
	}
	if _, stderr, code := runCLIErr(t, lines.String(), []string{"STELE_URL=" + base, "STELE_KEY=" + key}, "ingest", "-"); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, stderr)
	}
}

// stopServe stops a server the way an operator does, and waits for it.
func stopServe(t *testing.T, serve interface {
	Signal(os.Signal) error
	Wait() (*os.ProcessState, error)
}) {
	t.Helper()
	if err := serve.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	serve.Wait()
}

// rollbackStore deletes account's rows from seq size on, with the
// checkpoints that covered them, and rewinds its head and tree nodes to a
// consistent tree of that size: a rollback by someone who can write the
// database and knows the format (the hashes need no secret).
func rollbackStore(t *testing.T, path, account string, size int64) {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int64
	if err := db.QueryRow(`SELECT id FROM accounts WHERE name = ?`, account).Scan(&id); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`DELETE FROM events WHERE account_id = ? AND seq >= ?`, id, size)
	exec(`DELETE FROM idempotency WHERE account_id = ? AND seq >= ?`, id, size)
	exec(`DELETE FROM checkpoints WHERE account_id = ? AND size > ?`, id, size)
	rows, err := db.Query(`SELECT leaf_hash FROM events WHERE account_id = ? ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	head := stele.Head{AccountID: id}
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		head = ledger.Append(head, ledger.Hash(h), nil)
	}
	rows.Close()
	if head.Size != size {
		t.Fatalf("rolled back to %d rows, want %d", head.Size, size)
	}
	var frontier []byte
	for _, f := range head.Frontier {
		frontier = append(frontier, f[:]...)
	}
	exec(`UPDATE heads SET size = ?, frontier = ? WHERE account_id = ?`, head.Size, frontier, id)
	exec(`DELETE FROM tree_nodes WHERE account_id = ? AND (idx + 1) << level > ?`, id, size)
}

// TestVerifyURLDetectsRollback runs `stele verify --url` against a live
// server as an auditor would: it trusts the first checkpoint, accepts a
// grown log that extends it, and rejects the log once the server's
// database has been rolled back and re-grown.
func TestVerifyURLDetectsRollback(t *testing.T) {
	data := newStoreDir(t)
	state := filepath.Join(t.TempDir(), "verify-state.json")
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read", "--json", "--data", data)), &created); err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimSpace(runCLI(t, "checkpoint", "public-key", "--data", data))
	serve, base := startServe(t, data)
	verify := func(extra ...string) (string, int) {
		t.Helper()
		args := append([]string{"verify", "--url", base, "--key", created.Key, "--state", state}, extra...)
		out, stderr, code := runCLIErr(t, "", nil, args...)
		return out + stderr, code
	}

	ingestN(t, base, created.Key, 40, 0)
	out, code := verify("--public-key", pub)
	m := regexp.MustCompile(`OK: \S+ at size (\d+) `).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("first verify: exit %d:\n%s", code, out)
	}
	// The account's log holds the 40 events and what Stele recorded in it
	// itself (the key's creation).
	first, _ := strconv.Atoi(m[1])
	if first < 40 {
		t.Fatalf("first verify at size %d, want at least 40:\n%s", first, out)
	}
	var st integrity.TrustState
	if b, err := os.ReadFile(state); err != nil || json.Unmarshal(b, &st) != nil || len(st.Logs) != 1 {
		t.Fatalf("state file after the first verify: %v %+v", err, st)
	}

	// The log grows and a new checkpoint is signed: the second verify
	// trusts the key from the state file and proves consistency.
	// The verify recorded itself in the account's log (one event), and
	// its reads of events and proofs, recorded off the requests' path,
	// some of them before the checkpoint perhaps: at least 21 events more.
	ingestN(t, base, created.Key, 20, 40)
	runCLI(t, "checkpoint", "sign", "--data", data)
	out, code = verify()
	m = regexp.MustCompile(`OK: \S+ at size (\d+) `).FindStringSubmatch(out)
	grown := 0
	if m != nil {
		grown, _ = strconv.Atoi(m[1])
	}
	if code != 0 || grown < first+1+20 || !strings.Contains(out, fmt.Sprintf("checkpoint %d is consistent with the trusted checkpoint %d", grown, first)) {
		t.Fatalf("verify after growth: exit %d:\n%s", code, out)
	}

	// Tamper: roll the stopped server's store back by 15 events.
	stopServe(t, serve.Process)
	rolled := grown - 15
	rollbackStore(t, filepath.Join(data, "stele.db"), "acme", int64(rolled))
	_, base = startServe(t, data)
	runCLI(t, "checkpoint", "sign", "--data", data)
	out, code = verify()
	if code == 0 || !strings.Contains(out, fmt.Sprintf("FAIL checkpoint %d is not consistent with the trusted checkpoint %d", rolled, grown)) ||
		!strings.Contains(out, fmt.Sprintf("rollback: the log shrank from %d to %d events", grown, rolled)) {
		t.Fatalf("verify after a rollback: exit %d:\n%s", code, out)
	}

	// The rolled-back log grows past the trusted size with other events:
	// its checkpoint is bigger but cannot extend the trusted one.
	ingestN(t, base, created.Key, 30, 1000)
	runCLI(t, "checkpoint", "sign", "--data", data)
	out, code = verify()
	if code == 0 || !regexp.MustCompile(fmt.Sprintf(`FAIL checkpoint \d+ is not consistent with the trusted checkpoint %d: `, grown)).MatchString(out) ||
		strings.Contains(out, "OK: ") {
		t.Fatalf("verify after a rollback and regrowth: exit %d:\n%s", code, out)
	}
	// Each verify, passed or failed, is in the log as audit_log.verified
	// (the second pass was among the rows the rollback removed).
	for outcome, want := range map[string]int{"success": 1, "failure": 2} {
		q := "action:audit_log.verified outcome:" + outcome
		if got := countEvents(t, base, created.Key, q); got != want {
			t.Errorf("%s: %d events, want %d", q, got, want)
		}
	}
	// A failed verify does not move the trusted checkpoint.
	var after integrity.TrustState
	if b, err := os.ReadFile(state); err != nil || json.Unmarshal(b, &after) != nil {
		t.Fatal(err)
	}
	for origin, l := range after.Logs {
		if l.Size != int64(grown) {
			t.Fatalf("state of %s moved to size %d after failed verifies", origin, l.Size)
		}
	}
}

// TestVerifyBundleOffline exports a bundle with the CLI and verifies it
// offline; an edited bundle fails and says which event.
func TestVerifyBundleOffline(t *testing.T) {
	data := newStoreDir(t)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read", "--json", "--data", data)), &created); err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimSpace(runCLI(t, "checkpoint", "public-key", "--data", data))
	serve, base := startServe(t, data)
	ingestN(t, base, created.Key, 25, 0)
	stopServe(t, serve.Process)

	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(bundle, []byte(runCLI(t, "export", "--format", "bundle", "--data", data, "--account", "acme")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLIErr(t, "", nil, "verify", bundle, "--public-key", pub)
	if code != 0 || !strings.Contains(out, " events, 0 failures") {
		t.Fatalf("verify of an untouched bundle: exit %d:\n%s%s", code, out, stderr)
	}

	// Edit one event's description, as a forger of the export would.
	raw, _ := os.ReadFile(bundle)
	edited := strings.Replace(string(raw), `"login 7"`, `"login 7 (edited)"`, 1)
	if edited == string(raw) {
		t.Fatalf("the bundle has no event described \"login 7\":\n%.2000s", raw)
	}
	var parsed struct {
		Events []struct{ Event stele.Event }
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	seq, id := int64(-1), ""
	for _, e := range parsed.Events {
		if e.Event.Description == "login 7" {
			seq, id = e.Event.Seq, e.Event.ID
		}
	}
	editedPath := filepath.Join(dir, "edited.json")
	os.WriteFile(editedPath, []byte(edited), 0o600)
	out, stderr, code = runCLIErr(t, "", nil, "verify", editedPath, "--public-key", pub)
	if code == 0 || !strings.Contains(out, "FAIL event") || !strings.Contains(out, fmt.Sprintf("(seq %d): event %s is not in the checkpoint's tree", seq, id)) ||
		!strings.Contains(out, "as it is (altered or not logged)") || !strings.Contains(out, " 1 failures") {
		t.Fatalf("verify of an edited bundle: exit %d:\n%s%s", code, out, stderr)
	}

	// A bundle checked against another log's key fails as a whole.
	other, _, err := ledger.NewSigningKey("other.example")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code = runCLIErr(t, "", nil, "verify", bundle, "--public-key", other.VerifierKey)
	if code == 0 || !strings.Contains(out+stderr, "FAIL bundle checkpoint") {
		t.Fatalf("verify under another key: exit %d:\n%s%s", code, out, stderr)
	}
}

// countEvents counts the events of a query through the API.
func countEvents(t *testing.T, base, key, q string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/events?limit=1000&q="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Events []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET events %q: %d %v", q, resp.StatusCode, err)
	}
	return len(page.Events)
}
