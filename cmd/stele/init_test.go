package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
	"github.com/stele-audit/stele/internal/sqlite"
)

// newStoreDir makes a SQLite store with `stele init` in a new directory and
// returns the directory: what a test that starts with admin commands
// needs, now that they refuse a directory without a store.
func newStoreDir(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	runCLI(t, "init", "--data", data)
	return data
}

// makeStore makes the store sf names as serve does on first start, with
// the keys of the environment or, on SQLite, new ones in the data
// directory (init refuses keys in its environment, which tests of
// PostgreSQL set).
func makeStore(t *testing.T, sf storeFlags) {
	t.Helper()
	a, err := openAppIn(t.Context(), sf, storeIfMissing, nil, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

// runAt runs the binary as a user types it, in dir, with env added, and
// returns stdout, stderr and the exit code.
func runAt(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(steleBin(t), args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
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

// runPrinted runs the "  stele …" lines of text, as printed, in a shell in
// dir with env added (the binary first on PATH), except serve, and fails
// the test on any that fails. It returns how many it ran.
func runPrinted(t *testing.T, text, dir string, env []string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(text, "\n") {
		cmdline, ok := strings.CutPrefix(line, "  stele ")
		if !ok || strings.HasPrefix(cmdline, "serve") {
			continue
		}
		sh := exec.Command("sh", "-c", "stele "+cmdline)
		sh.Dir = dir
		sh.Env = append(append(os.Environ(), "PATH="+filepath.Dir(steleBin(t))+":"+os.Getenv("PATH")), env...)
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("the printed %q failed: %v\n%s", strings.TrimSpace(line), err, out)
		}
		n++
	}
	return n
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// serveAt starts serve in dir with env added and returns its base URL and
// what it printed up to its next steps.
func serveAt(t *testing.T, dir string, env []string, args ...string) (base, printed string) {
	t.Helper()
	cmd := exec.Command(steleBin(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var out lockedBuffer
	base, err = listeningURL(io.TeeReader(pipe, &out))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "/v1/events") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return base, out.String()
}

// TestServeOnAnEmptyDirectoryMakesTheStoreAndPrintsStepsThatRun: the
// two-command start stays: serve makes a store where there is none, and
// the next steps it prints run as printed.
func TestServeOnAnEmptyDirectoryMakesTheStoreAndPrintsStepsThatRun(t *testing.T) {
	dir := t.TempDir()
	base, welcome := serveAt(t, dir, nil)
	if !strings.Contains(welcome, "--data stele-data") || !strings.Contains(welcome, "password: ") {
		t.Fatalf("serve printed:\n%s", welcome)
	}
	if n := runPrinted(t, welcome, dir, nil); n != 2 {
		t.Fatalf("ran %d printed commands of:\n%s", n, welcome)
	}
	if code := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
}

// TestLocalCommandsRefuseAPlaceWithoutAStore: pointed at a directory (or a
// PostgreSQL database) that holds no store, every local command but serve
// and init says where it looked and how to point elsewhere or make one,
// exits 1, and creates nothing: no data directory, key or database.
func TestLocalCommandsRefuseAPlaceWithoutAStore(t *testing.T) {
	commands := [][]string{
		{"accounts", "list"},
		{"accounts", "create", "acme", "--type", "team"},
		{"accounts", "set", "acme", "--retention-days", "30"},
		{"accounts", "delete", "acme", "--yes"},
		{"keys", "create", "--account", "acme", "--scopes", "events:write"},
		{"keys", "list", "--account", "acme"},
		{"keys", "revoke", "key_0123456789abcdef"},
		{"users", "create", "--account", "_system", "--email", "ada@acme.io", "--role", "owner"},
		{"users", "list", "--account", "_system"},
		{"checkpoint", "public-key"},
		{"checkpoint", "sign"},
		{"verify", "--data", "stele-data"},
		{"export", "--account", "acme", "--format", "csv"},
		{"retention", "run"},
		{"crypto", "rotate", "--master"},
		{"crypto", "reencrypt"},
		{"demo"},
	}
	dir := t.TempDir()
	for _, args := range commands {
		_, stderr, code := runAt(t, dir, nil, args...)
		if code != 1 || strings.Count(stderr, "no Stele store at "+filepath.Join(dir, "stele-data", "stele.db")) != 1 ||
			!strings.Contains(stderr, "--data DIR") || !strings.Contains(stderr, "--db URL") || !strings.Contains(stderr, "stele init --data stele-data") {
			t.Errorf("%v: exit %d\n%s", args, code, stderr)
		}
		if made := entries(t, dir); len(made) != 0 {
			t.Fatalf("%v made %v", args, made)
		}
	}

	// A PostgreSQL database without Stele's tables: the same, and the
	// database stays empty.
	db := pgtest.NewDatabase(t)
	env := []string{"STELE_DATABASE_URL=" + db, "STELE_MASTER_KEY=", "STELE_SIGNING_KEY="}
	for _, args := range [][]string{{"accounts", "list"}, {"checkpoint", "public-key"}, {"keys", "create", "--account", "acme", "--scopes", "events:write"}} {
		_, stderr, code := runAt(t, dir, env, args...)
		if code != 1 || !strings.Contains(stderr, "no Stele store in the PostgreSQL database") || !strings.Contains(stderr, `stele init --db "$STELE_DATABASE_URL"`) {
			t.Errorf("%v on PostgreSQL: exit %d\n%s", args, code, stderr)
		}
		if strings.Contains(stderr, "postgres@") {
			t.Errorf("%v printed the database URL's user: %s", args, stderr)
		}
	}
	if made := entries(t, dir); len(made) != 0 {
		t.Fatalf("commands on PostgreSQL made %v", made)
	}
	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("the database has %d tables (%v)", tables, err)
	}
}

// TestInitMakesASQLiteStoreOnce: stele init makes the store, its keys (mode
// 0600) and its operator, signs its first checkpoint under the origin
// chosen, prints next steps that run as printed, and refuses to run again.
func TestInitMakesASQLiteStoreOnce(t *testing.T) {
	dir := t.TempDir()
	// The operator's password may be given rather than printed.
	out, stderr, code := runAt(t, dir, []string{"STELE_OPERATOR_PASSWORD=a long passphrase of mine"}, "init", "--data", "given", "--operator-email", "ops@example.com")
	if code != 0 || strings.Contains(out, "password:") || strings.Contains(out, "a long passphrase") || !strings.Contains(out, "ops@example.com") {
		t.Fatalf("init with a password: exit %d\n%s%s", code, out, stderr)
	}
	if users := runCLI(t, "users", "list", "--account", "_system", "--data", filepath.Join(dir, "given")); !strings.Contains(users, "ops@example.com") {
		t.Fatalf("users: %s", users)
	}
	os.RemoveAll(filepath.Join(dir, "given"))

	out, stderr, code = runAt(t, dir, nil, "init", "--origin", "audit.example.com")
	if code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"master.key", "signing.key", "stele.db"} {
		fi, err := os.Stat(filepath.Join(dir, "stele-data", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	verifier, _, code := runAt(t, dir, nil, "checkpoint", "public-key")
	if code != 0 || !strings.HasPrefix(verifier, "audit.example.com+") || !strings.Contains(out, strings.TrimSpace(verifier)) {
		t.Fatalf("public-key %q (exit %d); init printed:\n%s", verifier, code, out)
	}
	if !strings.Contains(out, "password: ") || !strings.Contains(out, "operator@stele.local") {
		t.Fatalf("init printed no operator:\n%s", out)
	}
	if n := runPrinted(t, out, dir, nil); n != 2 {
		t.Fatalf("ran %d printed commands of:\n%s", n, out)
	}
	// The first checkpoint names the origin, and init is in _system's log.
	verified, stderr, code := runAt(t, dir, nil, "verify", "--data", "stele-data", "--json")
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, verified, stderr)
	}
	events := exportLocal(t, dir, "stele-data", "_system", "action:system.initialized")
	if len(events) != 1 || events[0]["target"].(map[string]any)["name"] != "audit.example.com" {
		t.Fatalf("system.initialized: %v", events)
	}

	// A copy of the data directory without its signing key (kept in a
	// secret store, say) verifies against the published key; what signs
	// or prints the key refuses, saying what is missing.
	os.Rename(filepath.Join(dir, "stele-data", "signing.key"), filepath.Join(dir, "signing.key"))
	if out, stderr, code := runAt(t, dir, nil, "verify", "--data", "stele-data", "--public-key", strings.TrimSpace(verifier)); code != 0 {
		t.Fatalf("verify without the signing key: exit %d\n%s%s", code, out, stderr)
	}
	for _, args := range [][]string{{"checkpoint", "public-key"}, {"serve", "--addr", "127.0.0.1:0"}, {"verify", "--data", "stele-data"}} {
		if _, stderr, code := runAt(t, dir, nil, args...); code != 1 || !strings.Contains(stderr, "has no checkpoint signing key") || !strings.Contains(stderr, "stele init") {
			t.Fatalf("%v without the signing key: exit %d\n%s", args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "stele-data", "signing.key")); !os.IsNotExist(err) {
		t.Fatalf("a command made a signing key (%v)", err)
	}
	os.Rename(filepath.Join(dir, "signing.key"), filepath.Join(dir, "stele-data", "signing.key"))

	before, _ := os.ReadFile(filepath.Join(dir, "stele-data", "master.key"))
	_, stderr, code = runAt(t, dir, nil, "init")
	if code != 1 || !strings.Contains(stderr, "already holds a Stele store") {
		t.Fatalf("init again: exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "stele-data", "master.key")); !bytes.Equal(before, after) {
		t.Fatal("init again changed the master key")
	}
	// Key files in the way are not overwritten either.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "signing.key"), []byte("mine\n"), 0o600)
	if _, stderr, code := runAt(t, dir, nil, "init", "--data", filepath.Join(dir, "fresh"), "--keys-dir", other); code != 1 || !strings.Contains(stderr, "signing.key exists") {
		t.Fatalf("init over a key file: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh")); !os.IsNotExist(err) {
		t.Fatalf("a refused init made its data directory (%v)", err)
	}
}

// exportLocal returns the account's events matching q, from the local
// store data, exported in dir.
func exportLocal(t *testing.T, dir, data, account, q string) []map[string]any {
	t.Helper()
	out, stderr, code := runAt(t, dir, nil, "export", "--data", data, "--account", account, "--format", "jsonl", q)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	return events
}

// TestInitOnPostgresPrintsTheKeysAndNextStepsThatRun: on PostgreSQL, init
// prints the keys as environment lines (and only them on stdout), writes
// no file, and what it prints next runs as printed with the URL taken from
// the environment; a node started with those lines serves, and the next
// steps serve prints run too. A node missing the keys refuses, saying how
// to make them, and writes nothing. When the database stops answering the
// node is unready (503, with the reason) but alive, and ready again after.
func TestInitOnPostgresPrintsTheKeysAndNextStepsThatRun(t *testing.T) {
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	urlEnv := []string{"STELE_DATABASE_URL=" + db}

	_, stderr, code := runAt(t, dir, urlEnv, "serve", "--addr", "127.0.0.1:0")
	if code != 2 || !strings.Contains(stderr, "STELE_MASTER_KEY") || !strings.Contains(stderr, `stele init --db "$STELE_DATABASE_URL" --origin NAME --print-env`) {
		t.Fatalf("serve without keys: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := runAt(t, dir, urlEnv, "init"); code != 2 || !strings.Contains(stderr, "--print-env") {
		t.Fatalf("init on PostgreSQL without --print-env or --keys-dir: exit %d\n%s", code, stderr)
	}
	if made := entries(t, dir); len(made) != 0 {
		t.Fatalf("refusals made %v", made)
	}

	stdout, stderr, code := runAt(t, dir, nil, "init", "--db", db, "--origin", "audit.example.com", "--print-env")
	if code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "STELE_MASTER_KEY=") || !strings.HasPrefix(lines[1], "STELE_SIGNING_KEY=PRIVATE+KEY+audit.example.com+") {
		t.Fatalf("init --print-env printed on stdout:\n%s", stdout)
	}
	if strings.Contains(stderr, db) || !strings.Contains(stderr, `--db "$STELE_DATABASE_URL"`) {
		t.Fatalf("init's next steps:\n%s", stderr)
	}
	env := append(urlEnv, lines...)
	if n := runPrinted(t, stderr, dir, env); n != 2 {
		t.Fatalf("ran %d printed commands of:\n%s", n, stderr)
	}
	if made := entries(t, dir); len(made) != 0 {
		t.Fatalf("init and its next steps on PostgreSQL made %v", made)
	}
	if _, stderr, code := runAt(t, dir, urlEnv, "init", "--print-env"); code != 1 || !strings.Contains(stderr, "already holds a Stele store") {
		t.Fatalf("init again: exit %d\n%s", code, stderr)
	}

	// A node with the printed lines serves; what it prints next runs.
	base, welcome := serveAt(t, dir, env)
	if strings.Contains(welcome, "--data") || strings.Contains(welcome, db) {
		t.Fatalf("serve on PostgreSQL printed:\n%s", welcome)
	}
	// acme exists now: the printed accounts create is a conflict; the key is made.
	runAt(t, dir, env, "accounts", "delete", "acme", "--yes")
	if n := runPrinted(t, welcome, dir, env); n != 2 {
		t.Fatalf("ran %d printed commands of:\n%s", n, welcome)
	}
	if code := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	if made := entries(t, dir); len(made) != 0 {
		t.Fatalf("a PostgreSQL node made %v", made)
	}

	// The database stops answering: the node is unready, with the reason,
	// and alive; it is ready again once the database is back.
	name := strings.TrimPrefix(mustParseURL(t, db).Path, "/")
	admin, err := pgx.Connect(t.Context(), pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for _, q := range []string{`ALTER DATABASE ` + name + ` ALLOW_CONNECTIONS false`,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + name + `'`} {
		if _, err := admin.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	waitHealth(t, base, http.StatusServiceUnavailable, "the store does not answer")
	if code := get(t, base+"/livez", ""); code != http.StatusOK {
		t.Fatalf("/livez with the database away: %d", code)
	}
	if _, err := admin.Exec(t.Context(), `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, base, http.StatusOK, "")
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// waitHealth polls /healthz until it answers status with reason, for at
// most 15 seconds.
func waitHealth(t *testing.T, base string, status int, reason string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode == status && body["reason"] == reason {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz: %d %v, want %d %q", resp.StatusCode, body, status, reason)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWrongMasterKeyRefusesToStartAndABrokenKeyIsUnready: a node given
// another master key than its store's refuses to start, saying so; a key
// that stops unwrapping while the node serves makes /healthz answer 503
// with the reason, while /livez stays 200.
func TestWrongMasterKeyRefusesToStartAndABrokenKeyIsUnready(t *testing.T) {
	data := newStoreDir(t)
	_, stderr, code := runCLIErr(t, "", []string{"STELE_MASTER_KEY=" + strings.Repeat("ab", 32)}, "serve", "--addr", "127.0.0.1:0", "--data", data)
	if code != 2 || !strings.Contains(stderr, "the master key does not unwrap this store's account keys") || !strings.Contains(stderr, "STELE_MASTER_KEY_FILE") {
		t.Fatalf("serve with the wrong master key: exit %d\n%s", code, stderr)
	}

	_, stderr, code = runCLIErr(t, "", []string{"STELE_MASTER_KEY=not-a-key"}, "accounts", "list", "--data", data)
	if code != 2 || !strings.Contains(stderr, "STELE_MASTER_KEY: a master key is 32 bytes in base64 or hex") || !strings.Contains(stderr, "stele init --print-env") {
		t.Fatalf("a malformed master key: exit %d\n%s", code, stderr)
	}

	_, base := startServe(t, data)
	if code := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz before: %d", code)
	}
	// A key version that the master key does not unwrap appears in the
	// key store, as after a rotation under a master key this node lacks.
	db, err := sqlite.Open(t.Context(), filepath.Join(data, "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	sys, err := db.AccountByName(t.Context(), stele.SystemAccount)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sqlite.OpenKeys(t.Context(), filepath.Join(data, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.AddWrappedKeys(t.Context(), []stele.WrappedKey{{AccountID: sys.ID, Purpose: "data", Version: 99, MasterVersion: 1,
		Wrapped: bytes.Repeat([]byte{7}, 60), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}}); err != nil {
		t.Fatal(err)
	}
	keys.Close()
	waitHealth(t, base, http.StatusServiceUnavailable, "the master key does not unwrap the account keys")
	if code := get(t, base+"/livez", ""); code != http.StatusOK {
		t.Fatalf("/livez: %d", code)
	}
}

// TestASigningKeyOfAnotherNameIsRefusedUnlessChangedOnPurpose: a store
// whose checkpoints are signed by one key refuses to serve, sign, purge,
// export a bundle or print the verifier key of another (here named
// otherwise), naming both; started once with --accept-new-origin it
// records the change and the new key is the store's from then on, the old
// one refused; verify --data then trusts both keys given together.
func TestASigningKeyOfAnotherNameIsRefusedUnlessChangedOnPurpose(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	runCLI(t, "init", "--data", data, "--origin", "audit.example.com")
	oldVerifier := strings.TrimSpace(runCLI(t, "checkpoint", "public-key", "--data", data))
	_, skey, err := ledger.NewSigningKey("elsewhere.example.com")
	if err != nil {
		t.Fatal(err)
	}
	newKey := []string{"STELE_SIGNING_KEY=" + skey}
	for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0"}, {"checkpoint", "public-key"}, {"checkpoint", "sign"},
		{"retention", "run"}, {"export", "--account", "_system", "--format", "bundle"}} {
		_, stderr, code := runCLIErr(t, "", newKey, append(args, "--data", data)...)
		if code != 2 || !strings.Contains(stderr, "named elsewhere.example.com, but this store's checkpoints are signed by a key named audit.example.com") ||
			!strings.Contains(stderr, "--accept-new-origin") {
			t.Fatalf("%v with another key: exit %d\n%s", args, code, stderr)
		}
	}

	_, sameName, err := ledger.NewSigningKey("audit.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLIErr(t, "", []string{"STELE_SIGNING_KEY=" + sameName}, "serve", "--addr", "127.0.0.1:0", "--data", data); code != 2 ||
		!strings.Contains(stderr, "the checkpoint signing key named audit.example.com is not the key that signed this store's checkpoints") {
		t.Fatalf("another key of the same name: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := runCLIErr(t, "", []string{"STELE_ORIGIN_PREFIX=other.example.com"}, "checkpoint", "sign", "--data", data); code != 2 ||
		!strings.Contains(stderr, "origin other.example.com/ACCOUNT (STELE_ORIGIN_PREFIX), but this store's carry audit.example.com/ACCOUNT") {
		t.Fatalf("another origin prefix: exit %d\n%s", code, stderr)
	}

	cmd, _ := serveWith(t, data, newKey, "--accept-new-origin")
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	out, stderr, code := runCLIErr(t, "", newKey, "checkpoint", "public-key", "--data", data)
	if code != 0 || !strings.HasPrefix(out, "elsewhere.example.com+") {
		t.Fatalf("the new key after the change: exit %d %s\n%s", code, out, stderr)
	}
	newVerifier := strings.TrimSpace(out)
	// The store's checkpoints verify under both keys together, not under the new one alone.
	if out, _, code := runCLIErr(t, "", newKey, "verify", "--data", data, "--public-key", newVerifier); code != 1 || !strings.Contains(out, "not signed by elsewhere.example.com") {
		t.Fatalf("verify with the new key alone: exit %d\n%s", code, out)
	}
	if out, stderr, code := runCLIErr(t, "", newKey, "verify", "--data", data, "--public-key", oldVerifier, "--public-key", newVerifier); code != 0 {
		t.Fatalf("verify with both keys: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := runCLIErr(t, "", nil, "checkpoint", "public-key", "--data", data); code != 2 || !strings.Contains(stderr, "signed by a key named elsewhere.example.com") {
		t.Fatalf("the old key after the change: exit %d\n%s", code, stderr)
	}
	events := exportLocal(t, t.TempDir(), data, "_system", "action:crypto.key_rotated")
	if len(events) != 1 || events[0]["metadata"].(map[string]any)["previous_signer"] != "audit.example.com" {
		t.Fatalf("the change recorded: %v", events)
	}
}

// TestANodeOnAnEmptyDatabaseMakesTheStore: serve given the keys in its
// environment and an empty PostgreSQL database makes the store there, as
// before stele init, and names its checkpoints after the signing key.
func TestANodeOnAnEmptyDatabaseMakesTheStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	_, skey, err := ledger.NewSigningKey("nodes.example.com")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"STELE_DATABASE_URL=" + db, "STELE_MASTER_KEY=" + strings.Repeat("cd", 32), "STELE_SIGNING_KEY=" + skey}
	dir := t.TempDir()
	base, _ := serveAt(t, dir, env)
	if code := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	if out, stderr, code := runAt(t, dir, env, "checkpoint", "sign", "--account", "_system"); code != 0 || !strings.HasPrefix(out, "nodes.example.com/_system\n") {
		t.Fatalf("checkpoint sign: exit %d\n%s%s", code, out, stderr)
	}
	if made := entries(t, dir); len(made) != 0 {
		t.Fatalf("a PostgreSQL node made %v", made)
	}
}
