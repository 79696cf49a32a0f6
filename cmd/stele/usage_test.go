package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stele-audit/stele/internal/query"
)

// TestUsageErrorsArePrintedOnceAndExit2: a wrong flag, a bad value from the
// environment, an unknown command or none at all print one message (no
// usage dump) and exit 2, as every other usage error does; --help prints
// the usage and exits 0. Nothing is created on the way.
func TestUsageErrorsArePrintedOnceAndExit2(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"keys", "create", "--bogus"}, "flag provided but not defined: -bogus (stele keys create --help lists the flags)"},
		{[]string{"STELE_BATCH=x"}, []string{"ingest"}, "STELE_BATCH is not a valid --batch"},
		{nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{nil, nil, "a command is required"},
		{nil, []string{"accounts", "list", "--data", filepath.Join(dir, "d"), "--json=maybe"}, "invalid boolean value"},
	} {
		stdout, stderr, code := runCLIErr(t, "", tc.env, tc.args...)
		if code != 2 || strings.Count(stderr, tc.want) != 1 || strings.Contains(stderr, "Flags (each") {
			t.Errorf("%v: exit %d\nstderr: %s", tc.args, code, stderr)
		}
		if strings.Contains(stdout, "Flags (each") {
			t.Errorf("%v: printed the usage on an error:\n%s", tc.args, stdout)
		}
	}
	stdout, _, code := runCLIErr(t, "", nil, "keys", "create", "--help")
	if code != 0 || !strings.Contains(stdout, "Usage: stele keys create") || !strings.Contains(stdout, "-scopes") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors created %v", entries)
	}
}

// TestKeysCreateNeedsScopes: a key made without --scopes would silently
// write only; it is an error that lists the scopes, and nothing is made.
func TestKeysCreateNeedsScopes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	_, stderr, code := runCLIErr(t, "", nil, "keys", "create", "--account", "acme", "--data", data)
	if code != 2 || !strings.Contains(stderr, "--scopes is required: one or more of events:write, events:read, events:export") ||
		!strings.Contains(stderr, "scopes: required") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("keys create without scopes made %s (%v)", data, err)
	}
}

// TestAFailedExportLeavesNothing: an export the server refuses (a key
// without events:export, as the README's keys once were) writes no file
// with --output and nothing to standard output; a bundle from a failed
// export redirected by the shell is an empty file, which verify names as
// such rather than "EOF".
func TestAFailedExportLeavesNothing(t *testing.T) {
	data := newStoreDir(t)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read", "--json", "--data", data)), &created); err != nil {
		t.Fatal(err)
	}
	serve, base := startServe(t, data)
	defer serve.Process.Kill()
	out := filepath.Join(t.TempDir(), "changes.json")
	for _, format := range []string{"csv", "bundle"} {
		stdout, stderr, code := runCLIErr(t, "", nil, "export", "--url", base, "--key", created.Key, "--format", format, "--output", out)
		if code == 0 || !strings.Contains(stderr, "events:export") || stdout != "" {
			t.Fatalf("%s export without the scope: exit %d\nstdout %q\nstderr %s", format, code, stdout, stderr)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("a refused %s export left %s (%v)", format, out, err)
		}
		if stdout, _, code := runCLIErr(t, "", nil, "export", "--url", base, "--key", created.Key, "--format", format); code == 0 || stdout != "" {
			t.Fatalf("a refused %s export to standard output wrote %q", format, stdout)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*part")); len(files) != 0 {
		t.Fatalf("temporary files left: %v", files)
	}
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimSpace(runCLI(t, "checkpoint", "public-key", "--data", data))
	_, stderr, code := runCLIErr(t, "", nil, "verify", empty, "--public-key", pub)
	if code == 0 || !strings.Contains(stderr, "the file is empty") || strings.Contains(stderr, "EOF") {
		t.Fatalf("verify of an empty bundle: exit %d\n%s", code, stderr)
	}
}

// TestExportOutputIsWrittenWhole: --output gets the whole export under its
// name, and standard output the same bytes.
func TestExportOutputIsWrittenWhole(t *testing.T) {
	data := newStoreDir(t)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:export", "--json", "--data", data)), &created); err != nil {
		t.Fatal(err)
	}
	serve, base := startServe(t, data)
	defer serve.Process.Kill()
	var lines strings.Builder
	for i := range 3000 { // beyond what standard output holds back
		lines.WriteString(`{"action":"user.login","actor":{"id":"u_` + strings.Repeat("x", i%50) + `"}}` + "\n")
	}
	if _, stderr, code := runCLIErr(t, lines.String(), nil, "ingest", "--url", base, "--key", created.Key, "-"); code != 0 {
		t.Fatalf("ingest: %s", stderr)
	}
	out := filepath.Join(t.TempDir(), "all.jsonl")
	runCLI(t, "export", "--url", base, "--key", created.Key, "--format", "jsonl", "--output", out)
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	stdout := runCLI(t, "export", "--url", base, "--key", created.Key, "--format", "jsonl")
	// The second export also holds the first's audit_log.exported.
	logins := func(s string) int { return strings.Count(s, `"action":"user.login"`) }
	if logins(string(file)) != 3000 || logins(stdout) != 3000 || !strings.HasSuffix(stdout, string(file)[strings.Index(string(file), "\n")+1:]) {
		t.Fatalf("--output holds %d logins in %d bytes; standard output %d in %d bytes", logins(string(file)), len(file), logins(stdout), len(stdout))
	}

	// A pipe or a device (/dev/null, /dev/stdout) is written to, never
	// replaced by a file renamed over it.
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	read := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo)
		read <- b
	}()
	runCLI(t, "export", "--url", base, "--key", created.Key, "--format", "jsonl", "--output", fifo)
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("--output replaced the pipe (%v): its reader waits on it for ever", err)
	}
	if b := <-read; logins(string(b)) != 3000 {
		t.Errorf("--output to a pipe: %d logins in %d bytes", logins(string(b)), len(b))
	}
	if _, stderr, code := runCLIErr(t, "", nil, "export", "--url", base, "--key", created.Key, "--output", t.TempDir()); code == 0 || !strings.Contains(stderr, "is a directory") {
		t.Errorf("--output to a directory: exit %d\n%s", code, stderr)
	}
}

// TestLocalOrRemoteIsTheCommandLinesChoice: STELE_URL and STELE_KEY in the
// environment (as the README's tour exports them) never turn a command
// given the local store into a remote one; a server without a key is told
// the key is missing, not the account; naming both is refused.
func TestLocalOrRemoteIsTheCommandLinesChoice(t *testing.T) {
	data := newStoreDir(t)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	env := []string{"STELE_URL=http://127.0.0.1:9", "STELE_KEY=stele_key_0123456789abcdef_x"}
	for _, args := range [][]string{
		{"verify", "--account", "acme", "--data", data},
		{"export", "--account", "acme", "--data", data, "--format", "jsonl"},
	} {
		if _, stderr, code := runCLIErr(t, "", env, args...); code != 0 {
			t.Errorf("%v with a server in the environment: exit %d\n%s", args, code, stderr)
		}
	}
	_, stderr, code := runCLIErr(t, "", nil, "export", "--url", "http://127.0.0.1:9", "--format", "csv")
	if code != 2 || !strings.Contains(stderr, "an API key is required with a server") || !strings.Contains(stderr, "key: required") ||
		strings.Contains(stderr, "--account is required") {
		t.Errorf("export --url without a key: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runCLIErr(t, "", nil, "export", "--data", data, "--url", "http://127.0.0.1:9")
	if code != 2 || !strings.Contains(stderr, "give one or the other") {
		t.Errorf("export --data --url: exit %d\n%s", code, stderr)
	}
	if stdout, _, _ := runCLIErr(t, "", nil, "export", "--help"); !strings.Contains(stdout, "Works on the local store when") {
		t.Errorf("export --help does not say when it is local:\n%s", stdout)
	}
}

// TestQueryHelpListsTheLanguageWithExamples: stele query --help shows the
// language and every documented example (each finds events in the demo
// data: internal/demo's tests run them).
func TestQueryHelpListsTheLanguageWithExamples(t *testing.T) {
	stdout, _, code := runCLIErr(t, "", nil, "query", "--help")
	if code != 0 || !strings.Contains(stdout, "t1 OR t2") || !strings.Contains(stdout, "a repeated qualifier means any") {
		t.Fatalf("query --help: exit %d\n%s", code, stdout)
	}
	for _, ex := range query.Examples {
		if !strings.Contains(stdout, "stele query '"+ex.Query+"'") {
			t.Errorf("query --help does not show %q", ex.Query)
		}
	}
}
