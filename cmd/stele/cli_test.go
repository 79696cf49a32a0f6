package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// runCLIErr runs the binary and returns stdout, stderr and the exit code.
func runCLIErr(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(steleBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func get(t *testing.T, url, key string) int {
	t.Helper()
	return send(t, "GET", url, key, "")
}

// send makes a request with key and a JSON body (none if empty) and
// returns its status.
func send(t *testing.T, method, url, key, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminCommandsWorkWhileServeRuns is the tour of the README: accounts
// and keys made with the CLI on the store a running server uses take effect
// at once, and ingest and query talk to that server.
func TestAdminCommandsWorkWhileServeRuns(t *testing.T) {
	data := t.TempDir()
	_, base := startServe(t, data)

	runCLI(t, "accounts", "create", "globex", "--type", "team", "--retention-days", "120", "--data", data)
	var accts []map[string]any
	if err := json.Unmarshal([]byte(runCLI(t, "accounts", "list", "--json", "--data", data)), &accts); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range accts {
		if a["name"] == "globex" {
			found = a["type"] == "team" && a["retention_days"] == 120.0
		}
	}
	if !found {
		t.Fatalf("accounts list: %v", accts)
	}
	if _, stderr, code := runCLIErr(t, "", nil, "accounts", "create", "initech", "--type", "platinum", "--data", data); code != 2 || !strings.Contains(stderr, "type") {
		t.Fatalf("bad type: exit %d, %s", code, stderr)
	}

	// Types configured with --account-types / STELE_ACCOUNT_TYPES can be assigned.
	custom := []string{"STELE_ACCOUNT_TYPES=gold=500,team=100"}
	if _, stderr, code := runCLIErr(t, "", custom, "accounts", "create", "goldco", "--type", "gold", "--data", data); code != 0 {
		t.Fatalf("custom type: exit %d, %s", code, stderr)
	}
	listed, _, _ := runCLIErr(t, "", custom, "accounts", "list", "--json", "--data", data)
	if err := json.Unmarshal([]byte(listed), &accts); err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		if a["name"] == "goldco" && a["retention_days"] != 500.0 || a["name"] == "globex" && a["retention_days"] != 120.0 {
			t.Errorf("with configured types: %v", a)
		}
	}

	var key struct{ ID, Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "globex", "--scopes", "events:write,events:read", "--json", "--data", data)), &key); err != nil {
		t.Fatal(err)
	}
	if code := get(t, base+"/v1/events", key.Key); code != 200 {
		t.Fatalf("a key made while serve runs: %d", code)
	}

	env := []string{"STELE_URL=" + base, "STELE_KEY=" + key.Key}
	lines := `{"action":"user.login","actor":{"id":"u_1","email":"ada@globex.io"},"ip":"203.0.113.7"}
{"action":"user.role_changed","actor":{"id":"u_1"},"target":{"id":"u_2"},"metadata":{"role_before":"member","role_after":"admin","score":1.50}}

{"action":"user.logout","actor":{"id":"u_1"}}
`
	out, stderr, code := runCLIErr(t, lines, env, "ingest", "-")
	if code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, stderr)
	}
	_ = out
	file := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(file, []byte(`{"action":"user.login"}`+"\n"+`{"action":"Not An Action"}`+"\n"), 0o600)
	if _, stderr, code := runCLIErr(t, "", env, "ingest", file); code == 0 || !strings.Contains(stderr, "line 2") {
		t.Fatalf("bad line: exit %d, %s", code, stderr)
	}

	out, stderr, code = runCLIErr(t, "", env, "query", "--json", "actor:ada@globex.io")
	if code != 0 {
		t.Fatalf("query: exit %d: %s", code, stderr)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ev); err != nil || ev["action"] != "user.login" {
		t.Fatalf("query --json printed %q (%v)", out, err)
	}
	out, _, _ = runCLIErr(t, "", env, "query", "action:user.*")
	if !strings.Contains(out, "user.logout") || !strings.Contains(out, "user.role_changed") {
		t.Fatalf("query table:\n%s", out)
	}
	// OR and repeats, and how the server read them.
	out, _, _ = runCLIErr(t, "", env, "query", "action:user.login OR action:user.logout")
	if !strings.Contains(out, "Read as: action:user.login,user.logout\n") || !strings.Contains(out, "user.logout") || strings.Contains(out, "role_changed") {
		t.Fatalf("query with OR:\n%s", out)
	}
	out, _, _ = runCLIErr(t, "", env, "query", "--", "-(action:user.login OR action:user.logout)")
	if !strings.Contains(out, "Read as: -action:user.login,user.logout\n") || strings.Contains(out, "user.logout ") || !strings.Contains(out, "user.role_changed") {
		t.Fatalf("query with a negated group:\n%s", out)
	}
	// Metadata numbers print as they were sent.
	if out, _, _ = runCLIErr(t, "", env, "query", "--json", "action:user.role_changed"); !strings.Contains(out, `"score":1.50`) {
		t.Fatalf("query --json of a metadata number:\n%s", out)
	}
	// One page, or every page following cursors.
	out, _, _ = runCLIErr(t, "", env, "query", "--limit", "1", "actor:u_1")
	if strings.Count(out, "user.") != 1 || !strings.Contains(out, "(more: run with --all)") {
		t.Fatalf("query of one page:\n%s", out)
	}
	out, _, _ = runCLIErr(t, "", env, "query", "--limit", "1", "--all", "actor:u_1")
	if strings.Count(out, "user.") != 3 || strings.Contains(out, "(more") {
		t.Fatalf("query --all:\n%s", out)
	}

	// Export from the local store, and from the server with an export key.
	csvOut := runCLI(t, "export", "--format", "csv", "--data", data, "--account", "globex", "action:user.*")
	if rows := strings.Count(strings.TrimSpace(csvOut), "\n"); rows != 3 || !strings.Contains(csvOut, "role_after") {
		t.Fatalf("local CSV export has %d rows:\n%s", rows, csvOut)
	}
	var exporter struct{ Key string }
	json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "globex", "--scopes", "events:export", "--json", "--data", data)), &exporter)
	jsonl, stderr, code := runCLIErr(t, "", []string{"STELE_URL=" + base, "STELE_KEY=" + exporter.Key}, "export", "--format", "jsonl", "actor:u_1")
	if code != 0 || strings.Count(jsonl, "\n") != 3 {
		t.Fatalf("remote JSON Lines export: exit %d %s\n%s", code, stderr, jsonl)
	}
	// The server recorded the export with the CLI's name; the local one is
	// recorded as the API and the console record theirs: the same target
	// and metadata, its row count a number.
	out, _, _ = runCLIErr(t, "", env, "query", "--json", "action:audit_log.exported")
	if !strings.Contains(out, `"user_agent":"stele-cli"`) {
		t.Fatalf("the recorded export:\n%s", out)
	}
	vias := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e stele.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		via, _ := e.Metadata["via"].(string)
		vias[via] = true
		if e.Target == nil || e.Target.Type != "audit_log" || fmt.Sprint(e.Metadata["rows"]) != "3" || e.Metadata["complete"] != true ||
			e.Metadata["query"] != "actor:u_1" && e.Metadata["query"] != "action:user.*" {
			t.Errorf("recorded export %+v %+v", e.Target, e.Metadata)
		}
	}
	if !vias["cli"] || !vias["api"] {
		t.Errorf("exports recorded via %v, want the CLI's and the API's", vias)
	}

	// The key wrote events above, so the server has it cached: a write
	// after the revocation must still be refused and store nothing.
	runCLI(t, "keys", "revoke", key.ID, "--data", data)
	if code := send(t, "POST", base+"/v1/events", key.Key, `{"action":"user.login","actor":{"id":"u_9"}}`); code != 401 {
		t.Fatalf("a key revoked while serve runs wrote events: %d", code)
	}
	if code := get(t, base+"/v1/events", key.Key); code != 401 {
		t.Fatalf("a key revoked while serve runs: %d", code)
	}
	if out := runCLI(t, "export", "--format", "jsonl", "--data", data, "--account", "globex", "actor:u_9"); strings.Contains(out, "u_9") {
		t.Fatalf("the revoked key's event was stored:\n%s", out)
	}
}

func TestGivenOnCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		name string
		want bool
	}{
		{[]string{"--data", "d"}, "data", true},
		{[]string{"-data=d"}, "data", true},
		{[]string{"--database", "d"}, "data", false},
		{[]string{"x", "--key", "k"}, "key", true},
		{[]string{"--", "--key"}, "key", false},
		{nil, "url", false},
	} {
		if got := givenOnCommandLine(tc.args, tc.name); got != tc.want {
			t.Errorf("givenOnCommandLine(%q, %q) = %v", tc.args, tc.name, got)
		}
	}
}

func TestDispatchRunsHelpsAndRefuses(t *testing.T) {
	var ran []string
	subs := []subcommand{{"make", func(_ context.Context, args []string, _ io.Writer) error {
		ran = append(ran, strings.Join(args, " "))
		return nil
	}}}
	var out bytes.Buffer
	if err := dispatch(t.Context(), "things", "Usage: stele things make", subs, []string{"make", "a", "--b"}, &out); err != nil || len(ran) != 1 || ran[0] != "a --b" {
		t.Fatalf("run: %v %q", err, ran)
	}
	if err := dispatch(t.Context(), "things", "Usage: stele things make", subs, []string{"--help"}, &out); err != nil || !strings.Contains(out.String(), "Usage: stele things make") {
		t.Fatalf("help: %v %q", err, out.String())
	}
	for _, args := range [][]string{nil, {"break"}} {
		if err := dispatch(t.Context(), "things", "", subs, args, &out); stele.ErrorCode(err) != stele.EINVALID {
			t.Errorf("%q: %v", args, err)
		}
	}
}

// TestMetricsToken: with STELE_METRICS_TOKEN set, serve's /metrics answers
// only a scrape that carries the token.
func TestMetricsToken(t *testing.T) {
	t.Setenv("STELE_METRICS_TOKEN", "scrape-me")
	_, base := startServe(t, t.TempDir())
	if code := get(t, base+"/metrics", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong token: %d, want 401", code)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %d, want 401", resp.StatusCode)
	}
	if code := get(t, base+"/metrics", "scrape-me"); code != http.StatusOK {
		t.Fatalf("/metrics with the token: %d, want 200", code)
	}
	if code := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true, "127.0.0.2:1": true,
		":8080": false, "0.0.0.0:8080": false, "10.0.0.5:8080": false, "example.com:80": false, "nonsense": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestAccountCommandsNeedTheAccount: the commands on one account name the
// missing flag, before they touch the store.
func TestAccountCommandsNeedTheAccount(t *testing.T) {
	data := t.TempDir()
	for _, args := range [][]string{{"keys", "list"}, {"keys", "create"}, {"users", "list"}} {
		_, stderr, code := runCLIErr(t, "", nil, append(args, "--data", data)...)
		if code != 2 || !strings.Contains(stderr, "--account is required") || !strings.Contains(stderr, "account: required") {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
	}
}

// TestAccountSettingsAreValidatedInOnePlace: accounts create and set check
// an account with the domain's rules, the ones the console applies: every
// problem is named with its field and rule, and a setting the command
// leaves alone (a type the configuration has since dropped) does not stop
// it changing another.
func TestAccountSettingsAreValidatedInOnePlace(t *testing.T) {
	data := newStoreDir(t)
	_, stderr, code := runCLIErr(t, "", nil, "accounts", "create", "initech", "--type", "platinum", "--retention-days", "40000", "--data", data)
	if code != 2 || !strings.Contains(stderr, "type: enum") || !strings.Contains(stderr, "retention_days: range") {
		t.Fatalf("create with two bad settings: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLIErr(t, "", nil, "accounts", "create", "Init!ech", "--data", data); code != 2 || !strings.Contains(stderr, "name: pattern") {
		t.Fatalf("create with a bad name: exit %d, %s", code, stderr)
	}
	gold := []string{"STELE_ACCOUNT_TYPES=gold=500"}
	if _, stderr, code := runCLIErr(t, "", gold, "accounts", "create", "goldco", "--type", "gold", "--data", data); code != 0 {
		t.Fatalf("create with a configured type: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLIErr(t, "", nil, "accounts", "set", "goldco", "--retention-days", "0", "--data", data); code != 2 || !strings.Contains(stderr, "retention_days: range") {
		t.Fatalf("set 0 days: exit %d, %s", code, stderr)
	}
	// Without STELE_ACCOUNT_TYPES gold is unknown, but the legal hold is
	// not the type.
	if _, stderr, code := runCLIErr(t, "", nil, "accounts", "set", "goldco", "--legal-hold", "on", "--data", data); code != 0 {
		t.Fatalf("set the legal hold of an account of a dropped type: exit %d, %s", code, stderr)
	}
}
