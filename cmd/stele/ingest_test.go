package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// TestIngestNamesTheLinesTheServerRefuses: `stele ingest` checks every line
// as the server would before it sends any; a line whose event gives a name
// twice, or is over the size limit, is named by its line number with the
// field and rule, and nothing is sent. An error about a whole event names
// its line and the rule, with no empty field between.
func TestIngestNamesTheLinesTheServerRefuses(t *testing.T) {
	data := t.TempDir()
	_, base := startServe(t, data)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read", "--json", "--data", data)), &key); err != nil {
		t.Fatal(err)
	}
	env := []string{"STELE_URL=" + base, "STELE_KEY=" + key.Key}

	// One more byte than the limit, in metadata values each within theirs.
	var vals []string
	for i := range 7 {
		vals = append(vals, fmt.Sprintf(`"k%d":"%s"`, i, strings.Repeat("v", stele.MaxMetadataValue)))
	}
	big := `{"action":"user.login","metadata":{` + strings.Join(vals, ",") + `,"last":""}}`
	big = big[:len(big)-3] + strings.Repeat("v", stele.MaxEventBytes+1-len(big)) + `"}}`
	if len(big) != stele.MaxEventBytes+1 {
		t.Fatalf("made a line of %d bytes", len(big))
	}
	lines := strings.Join([]string{
		`{"action":"user.login","actor":{"id":"u_1"}}`,
		`{"action":"user.login","action":"user.logout","actor":{"id":"u_2"}}`,
		``,
		`{"action":"user.login","actor":{"id":"u_3","id":"u_4"}}`,
		`{"action":"user.role_changed","metadata":{"role":"viewer","role":"admin"}}`,
		big,
	}, "\n") + "\n"
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLIErr(t, "", env, "ingest", file)
	if code != 2 || out != "" || !strings.Contains(stderr, "4 of 5 lines are not events Stele accepts; nothing was sent") {
		t.Fatalf("ingest: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	for _, want := range []string{
		"line 2: action: duplicate_key", "line 4: actor.id: duplicate_key", "line 5: metadata.role: duplicate_key",
		"line 6: max_size", fmt.Sprint(stele.MaxEventBytes),
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, ": :") {
		t.Errorf("stderr names an empty field:\n%s", stderr)
	}
	if strings.Contains(stderr, "line 1:") {
		t.Errorf("stderr blames the good line 1:\n%s", stderr)
	}
	if out, _, _ := runCLIErr(t, "", env, "query", "--json", "action:user.*"); strings.TrimSpace(out) != "" {
		t.Fatalf("the refused file stored events:\n%s", out)
	}
}

// TestIngestIsAllOrNothingAndNeverStoresTwice: the README's `stele ingest`
// as a user types it. A file with bad lines among good ones stores nothing
// and names every bad line (field, rule, limits); --continue stores the
// good lines and says which; running the same file again stores nothing
// twice; a pretty-printed file gets the hint that one event goes per line.
func TestIngestIsAllOrNothingAndNeverStoresTwice(t *testing.T) {
	data := t.TempDir()
	_, base := startServe(t, data)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read", "--json", "--data", data)), &key); err != nil {
		t.Fatal(err)
	}
	env := []string{"STELE_URL=" + base, "STELE_KEY=" + key.Key}
	count := func() int {
		out, _, _ := runCLIErr(t, "", env, "query", "--json", "--all", "--limit", "1000", "action:user.login")
		return strings.Count(out, "\n")
	}
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf(`{"action":"user.login","actor":{"id":"u_%d"}}`, i))
	}
	lines[4] = `{"action":"User Login"}`
	lines[11] = `{"action":"user.login","ip":"not-an-ip"}`
	lines[17] = `{"action":"user.login","metadata":` + strings.Repeat(" ", stele.MaxEventBytes) + `{}}`
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := runCLIErr(t, "", env, "ingest", file)
	if code != 2 || out != "" || count() != 0 {
		t.Fatalf("a file with bad lines: exit %d, stdout %q, %d stored\n%s", code, out, count(), stderr)
	}
	for _, want := range []string{"3 of 20 lines are not events Stele accepts; nothing was sent",
		"line 5: action: pattern", "line 12: ip: ip", "line 18: max_size", "at most 32768 bytes"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	out, stderr, code = runCLIErr(t, "", env, "ingest", "--continue", "--batch", "4", file)
	if code != 2 || !strings.Contains(out, "stored 17 events (lines 1-4, 6-11, 13-17, 19-20)") || count() != 17 ||
		!strings.Contains(stderr, "3 of 20 lines are not events Stele accepts; 17 events stored") {
		t.Fatalf("--continue: exit %d, %d stored\nstdout %s\nstderr %s", code, count(), out, stderr)
	}
	// Again, from standard input this time: the same content, the same keys.
	content, _ := os.ReadFile(file)
	out, _, _ = runCLIErr(t, string(content), env, "ingest", "--continue", "-")
	if !strings.Contains(out, "stored 0 events") || !strings.Contains(out, "17 events were stored before") || count() != 17 {
		t.Fatalf("the same file again: %d stored\n%s", count(), out)
	}

	pretty := "[\n  {\n    \"action\": \"user.login\"\n  }\n]\n"
	_, stderr, code = runCLIErr(t, pretty, env, "ingest", "-")
	if code != 2 || !strings.Contains(stderr, "pretty-printed") || !strings.Contains(stderr, "one event per line") {
		t.Fatalf("a pretty-printed file: exit %d\n%s", code, stderr)
	}
}
