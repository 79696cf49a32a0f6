// Package storetest is the contract suite every Stele store must pass: one
// set of behaviours, run against SQLite and PostgreSQL alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// Run runs the suite; open returns a new, empty store for each subtest and
// arranges its closing with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) stele.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s stele.Store)
	}{
		{"AccountsCreateReadList", testAccountsCreateReadList},
		{"AccountNameConflict", testAccountNameConflict},
		{"AccountNotFound", testAccountNotFound},
		{"AccountUpdateRetentionAndLegalHold", testAccountUpdate},
		{"AccountUpdatesChainBeforeAndAfter", testAccountUpdateChain},
		{"AccountIngestQuotaOverrides", testAccountIngestOverrides},
		{"APIKeysCreateGetListRevoke", testAPIKeys},
		{"APIKeyNotFoundAndConflict", testAPIKeyErrors},
		{"APIKeyGenerationMovesOnEveryKeyChange", testAPIKeyGeneration},
		{"LegacyKeysDropped", testLegacyKeysDropped},
		{"AccountIDsNeverReused", testAccountIDsNeverReused},
		{"AppendReadsBackExactly", testAppendReadsBack},
		{"AppendRollsBackFailingTransaction", testAppendRollsBack},
		{"ClaimIdempotencyAllOrNothing", testClaimIdempotency},
		{"AppendRejectsUnknownCategory", testAppendUnknownCategory},
		{"AppendRejectsDuplicateSeq", testAppendDuplicateSeq},
		{"RowsNewestFirstTiesBrokenBySeq", testRowsOrder},
		{"RowsPagingVisitsEveryRowOnce", testRowsPaging},
		{"RowsFilters", testRowsFilters},
		{"ActionsByPrefix", testActions},
		{"RowsTenancy", testTenancy},
		{"ConcurrentAppendsSerialise", testConcurrentAppends},
		{"LeafHashesAndTreeNodeRanges", testRanges},
		{"CheckpointsKeptByAccountAndSize", testCheckpoints},
		{"PurgesAndRowsBySeq", testPurgesAndRowsBySeq},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
	runConsole(t, open)
	runRetention(t, open)
	runLoginThrottle(t, open)
	runStreams(t, open)
	runAlerts(t, open)
}

func ctx(t *testing.T) context.Context { return t.Context() }

func wantCode(t *testing.T, err error, code stele.Code) {
	t.Helper()
	if got := stele.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func mustAccount(t *testing.T, s stele.Store, name string) *stele.Account {
	t.Helper()
	a := &stele.Account{Name: name, Type: "team"}
	if err := s.CreateAccount(ctx(t), a); err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
	return a
}

func intp(n int) *int { return &n }

func testAccountsCreateReadList(t *testing.T, s stele.Store) {
	before := time.Now().Add(-time.Second)
	a := &stele.Account{Name: "acme", Type: "business", RetentionDays: intp(45)}
	if err := s.CreateAccount(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 {
		t.Fatal("CreateAccount left ID zero")
	}
	if a.CreatedAt.Before(before) || a.CreatedAt.Location() != time.UTC || !a.CreatedAt.Equal(a.CreatedAt.Truncate(stele.TimeUnit)) {
		t.Fatalf("CreatedAt %v: want now, UTC, whole microseconds", a.CreatedAt)
	}
	b := mustAccount(t, s, "beta")
	if b.ID == a.ID {
		t.Fatal("two accounts with one ID")
	}
	got, err := s.Account(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalAccount(t, got, a)
	got, err = s.AccountByName(ctx(t), "beta")
	if err != nil {
		t.Fatal(err)
	}
	equalAccount(t, got, b)
	all, err := s.Accounts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range all {
		names = append(names, x.Name)
	}
	if !slices.Contains(names, "acme") || !slices.Contains(names, "beta") {
		t.Fatalf("Accounts = %v, want acme and beta", names)
	}
}

func equalAccount(t *testing.T, got, want *stele.Account) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Type != want.Type || got.LegalHold != want.LegalHold ||
		!got.CreatedAt.Equal(want.CreatedAt) || fmt.Sprint(deref(got.RetentionDays)) != fmt.Sprint(deref(want.RetentionDays)) ||
		ingestOf(got) != ingestOf(want) {
		t.Fatalf("account = %+v (retention %v, ingest %s), want %+v (retention %v, ingest %s)",
			got, deref(got.RetentionDays), ingestOf(got), want, deref(want.RetentionDays), ingestOf(want))
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// ingestOf shows an account's ingest overrides.
func ingestOf(a *stele.Account) string {
	o := a.Ingest
	return fmt.Sprintf("events/s %v, bytes/s %v, burst %v", deref(o.EventsPerSecond), deref(o.BytesPerSecond), deref(o.BurstSeconds))
}

func i64p(n int64) *int64 { return &n }

// testAccountIngestOverrides: an account's own ingest quota settings are
// stored, read back and listed as given (0, unlimited, apart from none),
// and an update sets and clears each one on its own.
func testAccountIngestOverrides(t *testing.T, s stele.Store) {
	a := &stele.Account{Name: "acme", Type: "team", Ingest: stele.IngestOverride{EventsPerSecond: i64p(0), BytesPerSecond: i64p(1 << 40)}}
	if err := s.CreateAccount(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	plain := mustAccount(t, s, "beta")
	got, err := s.Account(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalAccount(t, got, a)
	if got, err = s.AccountByName(ctx(t), "beta"); err != nil {
		t.Fatal(err)
	}
	equalAccount(t, got, plain)
	all, err := s.Accounts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range all {
		if x.Name == "acme" {
			equalAccount(t, x, a)
		}
	}

	u := stele.AccountUpdate{IngestEventsPerSecond: stele.SettingChange{Clear: true}, IngestBurstSeconds: stele.SettingChange{Set: i64p(60)}}
	before, after, err := s.UpdateAccount(ctx(t), a.ID, u)
	if err != nil {
		t.Fatal(err)
	}
	equalAccount(t, before, a)
	want := a.Clone()
	want.Ingest = stele.IngestOverride{BytesPerSecond: i64p(1 << 40), BurstSeconds: i64p(60)}
	equalAccount(t, after, want)
	if got, err = s.Account(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	equalAccount(t, got, want)
	if q := got.IngestQuota(stele.DefaultAccountTypes); q.EventsPerSecond != 1000 || q.BytesPerSecond != 1<<40 || q.BurstSeconds != 60 {
		t.Fatalf("the quota of %s is %+v", ingestOf(got), q)
	}
}

func testAccountNameConflict(t *testing.T, s stele.Store) {
	mustAccount(t, s, "acme")
	err := s.CreateAccount(ctx(t), &stele.Account{Name: "acme", Type: "free"})
	wantCode(t, err, stele.ECONFLICT)
}

// testAccountUpdateChain: concurrent updates each report the account as it
// was just before them, so that their befores and afters form one chain:
// every update's before is the initial state or another update's after,
// and no two updates saw the same before.
func testAccountUpdateChain(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	const n = 8
	type change struct{ before, after int }
	changes := make(chan change, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			before, after, err := s.UpdateAccount(ctx(t), a.ID, stele.AccountUpdate{RetentionDays: intp(100 + i)})
			if err != nil {
				errs <- err
				return
			}
			b := 0
			if before.RetentionDays != nil {
				b = *before.RetentionDays
			}
			changes <- change{b, *after.RetentionDays}
		})
	}
	wg.Wait()
	close(changes)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	next := map[int]int{} // before → after
	for c := range changes {
		if _, dup := next[c.before]; dup {
			t.Fatalf("two updates both saw retention %d before them", c.before)
		}
		next[c.before] = c.after
	}
	at, steps := 0, 0 // the account starts with no override
	for ; steps < n; steps++ {
		after, ok := next[at]
		if !ok {
			break
		}
		at = after
	}
	if steps != n {
		t.Fatalf("the updates' befores and afters do not chain: %v", next)
	}
	got, err := s.Account(ctx(t), a.ID)
	if err != nil || got.RetentionDays == nil || *got.RetentionDays != at {
		t.Fatalf("account after the updates: %+v, %v; the chain ends at %d", got, err, at)
	}
}

func testAccountNotFound(t *testing.T, s stele.Store) {
	_, err := s.Account(ctx(t), 424242)
	wantCode(t, err, stele.ENOTFOUND)
	_, err = s.AccountByName(ctx(t), "nobody")
	wantCode(t, err, stele.ENOTFOUND)
	typ := "free"
	_, _, err = s.UpdateAccount(ctx(t), 424242, stele.AccountUpdate{Type: &typ})
	wantCode(t, err, stele.ENOTFOUND)
}

func testAccountUpdate(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	typ, hold := "enterprise", true
	before, got, err := s.UpdateAccount(ctx(t), a.ID, stele.AccountUpdate{Type: &typ, RetentionDays: intp(400), LegalHold: &hold})
	if err == nil {
		equalAccount(t, before, a)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := *a
	want.Type, want.RetentionDays, want.LegalHold = "enterprise", intp(400), true
	equalAccount(t, got, &want)
	reread, err := s.Account(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalAccount(t, reread, &want)

	// Fields not named stay as they are; ClearRetention drops the override.
	_, got, err = s.UpdateAccount(ctx(t), a.ID, stele.AccountUpdate{ClearRetention: true})
	if err != nil {
		t.Fatal(err)
	}
	want.RetentionDays = nil
	equalAccount(t, got, &want)
	if got.Retention(stele.DefaultAccountTypes) != 730 {
		t.Fatalf("retention after clearing = %d, want the type's 730", got.Retention(stele.DefaultAccountTypes))
	}

	hold = false
	if _, _, err := s.UpdateAccount(ctx(t), a.ID, stele.AccountUpdate{RetentionDays: intp(10)}); err != nil {
		t.Fatal(err)
	}
	_, got, err = s.UpdateAccount(ctx(t), a.ID, stele.AccountUpdate{RetentionDays: intp(0), LegalHold: &hold})
	if err != nil {
		t.Fatal(err)
	}
	want.LegalHold = false
	equalAccount(t, got, &want)
}

func testAPIKeys(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	other := mustAccount(t, s, "other")
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	k1 := &stele.APIKey{ID: "key_one", AccountID: a.ID, Account: a.Name, Name: "ci",
		Scopes: []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead}, SecretHash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: now}
	k2 := &stele.APIKey{ID: "key_two", AccountID: a.ID, Account: a.Name, Scopes: []stele.Scope{stele.ScopeEventsExport},
		Operator: true, SecretHash: []byte("fedcba9876543210fedcba9876543210"), CreatedAt: now.Add(time.Second)}
	was := now.Add(-time.Minute)
	k3 := &stele.APIKey{ID: "key_three", AccountID: other.ID, Account: other.Name, Scopes: []stele.Scope{stele.ScopeEventsRead},
		SecretHash: []byte("x"), CreatedAt: now.Add(-time.Hour), RevokedAt: &was} // stored already revoked
	for _, k := range []*stele.APIKey{k1, k2, k3} {
		if err := s.CreateAPIKey(ctx(t), k); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.APIKey(ctx(t), "key_one")
	if err != nil {
		t.Fatal(err)
	}
	equalKey(t, got, k1)
	if got, err := s.APIKey(ctx(t), "key_three"); err != nil {
		t.Fatal(err)
	} else {
		equalKey(t, got, k3)
	}
	list, err := s.APIKeys(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("APIKeys = %d keys, want 2", len(list))
	}
	equalKey(t, list[0], k1)
	equalKey(t, list[1], k2)

	at := now.Add(time.Hour)
	if err := s.RevokeAPIKey(ctx(t), "key_two", at); err != nil {
		t.Fatal(err)
	}
	got, err = s.APIKey(ctx(t), "key_two")
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
		t.Fatalf("RevokedAt = %v, want %v", got.RevokedAt, at)
	}
	k2.RevokedAt = &at
	equalKey(t, got, k2)
	got, err = s.APIKey(ctx(t), "key_one")
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt != nil {
		t.Fatal("revoking one key revoked another")
	}
}

func equalKey(t *testing.T, got, want *stele.APIKey) {
	t.Helper()
	ok := got.ID == want.ID && got.AccountID == want.AccountID && got.Account == want.Account && got.Name == want.Name &&
		slices.Equal(got.Scopes, want.Scopes) && got.Operator == want.Operator && string(got.SecretHash) == string(want.SecretHash) &&
		got.CreatedAt.Equal(want.CreatedAt) && (got.RevokedAt == nil) == (want.RevokedAt == nil) &&
		(got.RevokedAt == nil || got.RevokedAt.Equal(*want.RevokedAt))
	if !ok {
		t.Fatalf("key = %+v, want %+v", got, want)
	}
}

// generationMoved fails t unless the store's API key generation differs
// from before, and returns the new one.
func generationMoved(t *testing.T, s stele.APIKeyGenerationStore, before int64, what string) int64 {
	t.Helper()
	g, err := s.APIKeyGeneration(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if g == before {
		t.Fatalf("API key generation still %d after %s", g, what)
	}
	return g
}

func testAPIKeyGeneration(t *testing.T, s stele.Store) {
	g, err := s.APIKeyGeneration(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	a := mustAccount(t, s, "acme")
	// Events, accounts and their settings are not key changes.
	if _, _, err := s.UpdateAccount(ctx(t), a.ID, stele.AccountUpdate{LegalHold: new(true)}); err != nil {
		t.Fatal(err)
	}
	appendRows(t, s, a.ID, []stele.EventRow{eventRow(a.ID, 0)}, nil)
	if now, _ := s.APIKeyGeneration(ctx(t)); now != g {
		t.Fatalf("API key generation moved from %d to %d without a key change", g, now)
	}
	k := &stele.APIKey{ID: "key_gen", AccountID: a.ID, Account: a.Name, Scopes: []stele.Scope{stele.ScopeEventsRead},
		SecretHash: []byte("h"), CreatedAt: time.Now()}
	if err := s.CreateAPIKey(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	g = generationMoved(t, s, g, "a key was created")
	if err := s.RevokeAPIKey(ctx(t), k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	g = generationMoved(t, s, g, "a key was revoked")
	// An append reads the same generation in its transaction, which is how
	// the ingest writer confirms the keys of the events it stores.
	var inTx int64
	if err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		var err error
		inTx, err = tx.APIKeyGeneration(ctx(t))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inTx != g {
		t.Fatalf("AppendTx.APIKeyGeneration read %d, the store's is %d", inTx, g)
	}
}

func testAPIKeyErrors(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	_, err := s.APIKey(ctx(t), "key_missing")
	wantCode(t, err, stele.ENOTFOUND)
	err = s.RevokeAPIKey(ctx(t), "key_missing", time.Now())
	wantCode(t, err, stele.ENOTFOUND)
	k := &stele.APIKey{ID: "key_dup", AccountID: a.ID, Scopes: []stele.Scope{stele.ScopeEventsRead}, SecretHash: []byte("h"), CreatedAt: time.Now()}
	if err := s.CreateAPIKey(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	dup := *k
	err = s.CreateAPIKey(ctx(t), &dup)
	wantCode(t, err, stele.ECONFLICT)
	list, err := s.APIKeys(ctx(t), a.ID+1000)
	if err != nil || len(list) != 0 {
		t.Fatalf("APIKeys of an unknown account = %v, %v; want none", list, err)
	}
}

// errRollback is the error a test's append function fails with.
var errRollback = errors.New("storetest: roll back")
