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

// TestIngestNamesTheLinesTheServerRefuses: `stele ingest` sends JSON Lines
// in batches; a line whose event gives a name twice, or is over the size
// limit, is named by its line number with the field and rule, and the
// batch holding it is stored not at all. An error about a whole event
// names its line and the rule, with no empty field between.
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
	if code != 2 || !strings.Contains(out, "stored 0 events") {
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
		t.Fatalf("the refused batch stored events:\n%s", out)
	}
}
