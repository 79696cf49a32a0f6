package apikey

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlite"
)

// counting counts the key lookups that reach the store.
type counting struct {
	*sqlite.DB
	lookups atomic.Int64
}

func (c *counting) APIKey(ctx context.Context, id string) (*stele.APIKey, error) {
	c.lookups.Add(1)
	return c.DB.APIKey(ctx, id)
}

func openDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestCacheFollowsChangesFromAnotherProcess: the server's cache serves
// repeated requests without reading the key again, yet a key revoked or
// created through another handle on the file (the CLI while serve runs)
// counts from the very next request.
func TestCacheFollowsChangesFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stele.db")
	server := &counting{DB: openDB(t, path)}
	cli := openDB(t, path)
	acct := &stele.Account{Name: "acme", Type: "team"}
	if err := cli.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	k, secret, err := Issue(ctx, cli, acct, []stele.Scope{stele.ScopeEventsWrite}, false, "ci", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(server)
	for range 5 {
		p, err := c.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if p.KeyID != k.ID || p.Account != "acme" || !p.Can(stele.ScopeEventsWrite) || p.Can(stele.ScopeEventsRead) {
			t.Fatalf("principal %+v", p)
		}
	}
	if n := server.lookups.Load(); n != 1 {
		t.Fatalf("5 requests read the key %d times, want 1", n)
	}
	// The secret is checked on every request, cached or not.
	wrong := secret[:len(secret)-1] + "x"
	if secret[len(secret)-1] == 'x' { // the secret's own last letter
		wrong = secret[:len(secret)-1] + "y"
	}
	if _, err := c.Authenticate(ctx, wrong); stele.ErrorCode(err) != stele.EUNAUTHORIZED {
		t.Fatalf("wrong secret: %v", err)
	}

	if err := cli.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, secret); stele.ErrorCode(err) != stele.EUNAUTHORIZED {
		t.Fatalf("revoked key: %v, want unauthorized", err)
	}

	_, secret2, err := Issue(ctx, cli, acct, []stele.Scope{stele.ScopeEventsRead}, false, "new", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.Authenticate(ctx, secret2); err != nil || !p.Can(stele.ScopeEventsRead) {
		t.Fatalf("new key: %+v, %v", p, err)
	}
	if _, err := c.Authenticate(ctx, secret); stele.ErrorCode(err) != stele.EUNAUTHORIZED {
		t.Fatalf("revoked key after another change: %v", err)
	}
	for _, bad := range []string{"", "stele_", "stele_key_0123456789abcdef_", "bearer", "stele_key_zzzzzzzzzzzzzzzz_secret"} {
		if _, err := c.Authenticate(ctx, bad); stele.ErrorCode(err) != stele.EUNAUTHORIZED {
			t.Fatalf("%q: %v, want unauthorized", bad, err)
		}
	}
}

// generations counts the generation reads that reach the store.
type generations struct {
	*sqlite.DB
	reads atomic.Int64
}

func (g *generations) APIKeyGeneration(ctx context.Context) (int64, error) {
	g.reads.Add(1)
	return g.DB.APIKeyGeneration(ctx)
}

// TestAuthenticateForWriteReadsNothingForACachedKey: a write's key comes
// from the cache with no read of the store at all, and its principal
// carries the generation the entry was read at, for the commit to confirm;
// a key not cached yet is read with the generation, as Authenticate does.
func TestAuthenticateForWriteReadsNothingForACachedKey(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "stele.db"))
	acct := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	_, secret, err := Issue(ctx, db, acct, []stele.Scope{stele.ScopeEventsWrite}, false, "w", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gen, err := db.APIKeyGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store := &generations{DB: db}
	c := NewCache(store)
	first, err := c.AuthenticateForWrite(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if store.reads.Load() != 1 || !first.HasGeneration || first.Generation != gen {
		t.Fatalf("first use: %d generation reads, principal %+v; want 1 read and generation %d", store.reads.Load(), first, gen)
	}
	for range 5 {
		p, err := c.AuthenticateForWrite(ctx, secret)
		if err != nil || !p.HasGeneration || p.Generation != gen {
			t.Fatalf("cached: %+v, %v", p, err)
		}
	}
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d generation reads for 6 writes, want 1", n)
	}
	wrong := secret[:len(secret)-1] + map[bool]string{true: "a", false: "b"}[secret[len(secret)-1] != 'a']
	if _, err := c.AuthenticateForWrite(ctx, wrong); stele.ErrorCode(err) != stele.EUNAUTHORIZED {
		t.Fatalf("a wrong secret against a cached key: %v", err)
	}
}
