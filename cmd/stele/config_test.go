package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// TestParsersFillTheConfigFromFlagsAndTheEnvironment: a command's flags,
// given after its positional arguments or as STELE_* variables, land in
// its configuration; the command line wins over the environment.
func TestParsersFillTheConfigFromFlagsAndTheEnvironment(t *testing.T) {
	t.Setenv("STELE_DATA", "/from/env")
	t.Setenv("STELE_RETENTION_DAYS", "30")
	t.Setenv("STELE_CHECKPOINT_INTERVAL", "5s")
	c, err := parseAccountsCreate([]string{"acme", "--type", "team", "--retention-days", "120", "--ingest-events-per-second", "unlimited"})
	if err != nil {
		t.Fatal(err)
	}
	if c.store.data != "/from/env" || c.account.Name != "acme" || c.account.Type != "team" || *c.account.RetentionDays != 120 ||
		c.account.Ingest.EventsPerSecond == nil || *c.account.Ingest.EventsPerSecond != 0 {
		t.Fatalf("accounts create: %+v %+v", c, c.account)
	}
	s, err := parseServe([]string{"--addr", "127.0.0.1:0", "--account-types", "gold=500"})
	if err != nil {
		t.Fatal(err)
	}
	if s.addr != "127.0.0.1:0" || s.checkpointEvery != 5*time.Second || s.retentionEvery != time.Hour || s.tls() {
		t.Fatalf("serve: %+v", s)
	}
	gold := false
	for _, typ := range s.types {
		gold = gold || typ.Name == "gold" && typ.RetentionDays == 500
	}
	if !gold {
		t.Fatalf("serve's account types %+v", s.types)
	}
	e, err := parseExport([]string{"--format", "jsonl", "--account", "acme", "action:user.*", "outcome:failure"})
	if err != nil || e.remote || e.query != "action:user.* outcome:failure" || e.format != "jsonl" {
		t.Fatalf("export: %+v (%v)", e, err)
	}
	t.Setenv("STELE_RATE", "250")
	l, err := parseLoadgen([]string{"--key", "sk_x", "--batch", "1"})
	if err != nil || l.Rate != 250 || l.Batch != 1 {
		t.Fatalf("loadgen: %+v (%v)", l, err)
	}
	for _, rate := range []string{"-1", "NaN", "2e6"} {
		var se *stele.Error
		if _, err := parseLoadgen([]string{"--key", "sk_x", "--rate", rate}); !errors.As(err, &se) || len(se.Details) != 1 || se.Details[0].Field != "rate" {
			t.Errorf("loadgen --rate %s: %v, want an error naming rate", rate, err)
		}
	}
}

// TestBadFlagsAreRefusedBeforeTheStoreIsOpened: every command checks its
// flags before it touches the data directory, so a mistyped command
// leaves nothing behind, and says which flag and rule it broke.
func TestBadFlagsAreRefusedBeforeTheStoreIsOpened(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--tls-cert", "cert.pem"},
		{"accounts", "create", "acme", "--type", "platinum"},
		{"accounts", "create", "acme", "--ingest-burst-seconds", "default"},
		{"accounts", "set", "acme"},
		{"accounts", "set", "acme", "--legal-hold", "maybe"},
		{"accounts", "delete", "acme"},
		{"keys", "revoke"},
		{"users", "create", "--account", "acme", "--email", "ada@acme.io"},
		{"crypto", "rotate", "--account", "acme", "--master"},
		{"export", "--format", "xlsx", "--account", "acme"},
		{"export", "--format", "csv"},
		{"retention", "run", "--account-types", "free=-1"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		err := run(t.Context(), append(args, "--data", data), new(nopWriter))
		if stele.ErrorCode(err) != stele.EINVALID {
			t.Errorf("%v: %v, want EINVALID", args, err)
		}
		if _, serr := os.Stat(data); !os.IsNotExist(serr) {
			t.Errorf("%v made the data directory before refusing (%v)", args, err)
		}
	}
}

type nopWriter struct{}

func (*nopWriter) Write(p []byte) (int, error) { return len(p), nil }
