package audit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// stack is a real data path on SQLite whose recorder keeps the receipts of
// what it recorded.
type stack struct {
	db       *sqlite.DB
	search   *search.Service
	rec      *audit.Recorder
	receipts []stele.Receipt
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	path := datapath.Start(db, sqlitetest.Keys(t), master, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterConfig{})
	t.Cleanup(func() { path.Stop(); db.Close() })
	for _, name := range []string{stele.SystemAccount, "acme"} {
		if err := db.CreateAccount(ctx, &stele.Account{Name: name, Type: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	s := &stack{db: db, search: path.Search}
	s.rec = &audit.Recorder{Sink: audit.SinkFunc(func(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
		r, err := path.Ingest.Record(ctx, events...)
		s.receipts = append(s.receipts, r...)
		return r, err
	})}
	return s
}

// stored returns the events the last call recorded, as stored, and empties
// the receipts.
func (s *stack) stored(t *testing.T) []*stele.Event {
	t.Helper()
	var out []*stele.Event
	for _, r := range s.receipts {
		acct, err := s.db.AccountByName(t.Context(), r.Account)
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.search.Event(t.Context(), acct, r.Seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	s.receipts = nil
	return out
}

func TestEveryEventPassesValidationAndLandsWithItsActor(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	acme, err := s.db.AccountByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	ada := &stele.User{ID: "u_ada", Account: "acme", AccountID: acme.ID, Email: "ada@acme.example", Name: "Ada", Role: stele.RoleAdmin}
	bob := &stele.User{ID: "u_bob", Account: "acme", AccountID: acme.ID, Email: "bob@acme.example", Name: "Bob", Role: stele.RoleMember}
	byAda := audit.User(ada, "203.0.113.7", "Mozilla/5.0")
	cli := audit.CLI()
	key := audit.Key(&stele.Principal{Account: "acme", AccountID: acme.ID, KeyID: "key_0123456789abcdef"}, "198.51.100.1", "stele-cli")
	apiKey := &stele.APIKey{ID: "key_0123456789abcdef", Account: "acme", AccountID: acme.ID, Scopes: []stele.Scope{stele.ScopeEventsRead}}
	days := 400
	longer := *acme
	longer.RetentionDays, longer.LegalHold = &days, true
	unlimited := int64(0)
	longer.Ingest.EventsPerSecond = &unlimited
	now := time.Now()
	both := []string{"acme", stele.SystemAccount}

	for _, tc := range []struct {
		action   string
		accounts []string // where the events land, in order
		actor    string   // the stored actor's id, or email when it has no id
		record   func() error
	}{
		{"api_key.created", []string{"acme"}, cli.Ref.ID, func() error { return s.rec.KeyCreated(ctx, cli, apiKey) }},
		{"api_key.revoked", []string{"acme"}, "u_ada", func() error { return s.rec.KeyRevoked(ctx, byAda, apiKey) }},
		{"account.created", []string{stele.SystemAccount}, cli.Ref.ID, func() error { return s.rec.AccountCreated(ctx, cli, acme, nil) }},
		{"account.deleted", []string{stele.SystemAccount}, cli.Ref.ID, func() error { return s.rec.AccountDeleted(ctx, cli, acme, 2, 1000) }},
		{"retention.changed legal_hold.set ingest_quota.changed", []string{"acme", stele.SystemAccount, "acme", stele.SystemAccount, "acme", stele.SystemAccount}, "u_ada",
			func() error { return s.rec.AccountChanged(ctx, byAda, acme, &longer, nil) }},
		{"legal_hold.lifted", both, cli.Ref.ID, func() error {
			return s.rec.AccountChanged(ctx, cli, &longer, &stele.Account{Name: "acme", Type: "team", RetentionDays: &days, Ingest: longer.Ingest}, nil)
		}},
		{"retention.purged", []string{"acme"}, "stele:retention", func() error {
			return s.rec.Purged(ctx, "acme", audit.Purge{Deleted: 10, FromSeq: 0, BelowSeq: 10, Oldest: now.AddDate(0, -3, 0), Newest: now.AddDate(0, -2, 0), Cutoff: now.AddDate(0, -1, 0), RetentionDays: 30, Batches: 1})
		}},
		{"ingest.throttled", []string{"acme"}, "stele:ingest_quota", func() error {
			return s.rec.IngestThrottled(ctx, audit.Throttling{Account: "acme", Quota: stele.IngestQuota{EventsPerSecond: 2, BurstSeconds: 5}, Requests: 3, Events: 30, Bytes: 900, ByEvents: 3,
				First: now.Add(-time.Minute), Last: now, WindowStart: now.Add(-time.Minute), WindowEnd: now})
		}},
		{"user.created", []string{"acme"}, cli.Ref.ID, func() error { return s.rec.UserCreated(ctx, cli, bob) }},
		{"user.role_changed", []string{"acme"}, "u_ada", func() error { return s.rec.UserRoleChanged(ctx, byAda, bob, stele.RoleMember, stele.RoleAuditor) }},
		{"user.password_reset", []string{"acme"}, "u_ada", func() error { return s.rec.UserPasswordReset(ctx, byAda, bob) }},
		{"user.deleted", []string{"acme"}, "u_ada", func() error { return s.rec.UserDeleted(ctx, byAda, bob) }},
		{"user.password_changed", []string{"acme"}, "u_ada", func() error { return s.rec.PasswordChanged(ctx, byAda, ada) }},
		{"user.password_changed", []string{"acme"}, "u_ada", func() error { return s.rec.PasswordChangeRefused(ctx, byAda, ada) }},
		{"user.mfa_enrolled", []string{"acme"}, "u_ada", func() error { return s.rec.MFAEnrolled(ctx, byAda, ada) }},
		{"user.mfa_reset", []string{"acme"}, "u_ada", func() error { return s.rec.MFAReset(ctx, byAda, ada) }},
		{"user.login_failed", []string{"acme"}, "u_ada", func() error { return s.rec.SignInFailed(ctx, byAda, "acme", ada.Email, audit.ReasonBadPassword) }},
		{"user.login_failed", []string{stele.SystemAccount}, "eve@evil.example", func() error {
			return s.rec.SignInFailed(ctx, audit.Attempt("eve@evil.example", "192.0.2.1", "curl"), stele.SystemAccount, "eve@evil.example", audit.ReasonUnknownUser)
		}},
		{"user.locked_out", []string{"acme"}, "u_ada", func() error { return s.rec.LockedOut(ctx, byAda, "acme", "email", 5, 15*time.Minute) }},
		{"user.mfa_challenged", []string{"acme"}, "u_ada", func() error { return s.rec.MFAChallenged(ctx, byAda, ada) }},
		{"user.mfa_failed", []string{"acme"}, "u_ada", func() error { return s.rec.MFAFailed(ctx, byAda, ada) }},
		{"user.mfa_succeeded", []string{"acme"}, "u_ada", func() error { return s.rec.MFASucceeded(ctx, byAda, ada) }},
		{"user.login", []string{"acme"}, "u_ada", func() error { return s.rec.SignedIn(ctx, byAda, ada, true) }},
		{"user.logout", []string{"acme"}, "u_ada", func() error { return s.rec.SignedOut(ctx, byAda, ada) }},
		{"session.expired", []string{"acme"}, "u_ada", func() error { return s.rec.SessionExpired(ctx, byAda, ada, "idle") }},
		{"audit_log.exported", []string{"acme"}, "key_0123456789abcdef", func() error {
			return s.rec.Exported(ctx, key, audit.Export{Account: "acme", Query: "action:user.*", Format: "csv", Rows: 12})
		}},
		{"audit_log.exported", []string{"acme"}, "u_ada", func() error {
			return s.rec.Exported(ctx, byAda, audit.Export{Account: "acme", Format: "jsonl", Rows: 3, Err: context.Canceled})
		}},
		{"audit_log.exported", both, "u_ada", func() error {
			return s.rec.Exported(ctx, byAda, audit.Export{Account: "acme", Reader: stele.SystemAccount, Format: "csv", Rows: 3})
		}},
		{"audit_log.denied", []string{"acme"}, "u_ada", func() error {
			return s.rec.Denied(ctx, byAda, audit.Denial{Account: "acme", Resource: audit.Page("/admin/users"), Permission: string(stele.PermUsersManage), Role: string(ada.Role), Method: "GET"})
		}},
		{"audit_log.denied", []string{"acme"}, "key_0123456789abcdef", func() error {
			return s.rec.Denied(ctx, key, audit.Denial{Account: "acme", Resource: audit.Endpoint("GET /v1/export"), Permission: string(stele.ScopeEventsExport), Method: "GET"})
		}},
		{"audit_log.viewed", []string{"acme"}, "u_ada", func() error {
			return s.rec.Viewed(ctx, byAda, audit.View{Account: "acme", Kind: audit.ViewSearch, Query: "action:user.* after:24h", Results: 50})
		}},
		{"audit_log.viewed", []string{"acme"}, "key_0123456789abcdef", func() error {
			return s.rec.Viewed(ctx, key, audit.View{Account: "acme", Kind: audit.ViewInclusion, Query: "seq:4 size:10", Results: 1})
		}},
		{"audit_log.viewed", both, "key_operator", func() error {
			op := audit.Key(&stele.Principal{Account: stele.SystemAccount, KeyID: "key_operator", Operator: true}, "", "")
			return s.rec.Viewed(ctx, op, audit.View{Account: "acme", Reader: stele.SystemAccount, Kind: audit.ViewEvent, Query: "evt_1_2", Results: 1})
		}},
		{"audit_log.verified", []string{stele.SystemAccount}, cli.Ref.ID, func() error {
			return s.rec.Verified(ctx, cli, audit.Verification{Account: stele.SystemAccount, Mode: "store", Events: 100, Checkpoints: 3})
		}},
		{"crypto.key_rotated", both, cli.Ref.ID, func() error { return s.rec.KeysRotated(ctx, cli, acme, 2, 2) }},
		{"crypto.key_rotated", []string{stele.SystemAccount}, cli.Ref.ID, func() error {
			return s.rec.MasterKeyRotated(ctx, cli, audit.MasterRotation{Version: 2, Rewrapped: 4, Err: errors.New("rewrap key 3: disk full")})
		}},
		{"crypto.reencrypted", []string{"acme"}, cli.Ref.ID, func() error { return s.rec.Reencrypted(ctx, cli, acme, 500, 2) }},
		{"system.initialized", []string{stele.SystemAccount}, cli.Ref.ID, func() error {
			return s.rec.StoreInitialized(ctx, cli, audit.Initialization{Store: "postgres", Origin: "audit.example.com",
				VerifierKey: "audit.example.com+2a1b3c4d+AaBbCc", Keys: "environment lines printed", Operator: "operator@stele.local"})
		}},
		{"crypto.key_rotated", []string{stele.SystemAccount}, cli.Ref.ID, func() error {
			return s.rec.SigningKeyChanged(ctx, cli, audit.SignerChange{FromName: "stele.local", FromPrefix: "stele.local",
				ToName: "audit.example.com", ToPrefix: "stele.local", VerifierKey: "audit.example.com+2a1b3c4d+AaBbCc"})
		}},
	} {
		if err := tc.record(); err != nil {
			t.Fatalf("%s: %v", tc.action, err)
		}
		stored := s.stored(t)
		var accounts, actions []string
		for _, e := range stored {
			accounts, actions = append(accounts, e.Account), append(actions, e.Action)
			if _, ok := e.Metadata["salvaged"]; ok {
				t.Errorf("%s: Stele's own validation refused fields of %+v", tc.action, e.Metadata)
			}
			if e.Category == "" || stele.Catalog[e.Action] != e.Category || e.Outcome == "" {
				t.Errorf("%s: category %q, outcome %q", e.Action, e.Category, e.Outcome)
			}
			if e.Actor == nil || (e.Actor.ID != tc.actor && e.Actor.Email != tc.actor) || e.Actor.Type == "" {
				t.Errorf("%s: actor %+v, want %s", e.Action, e.Actor, tc.actor)
			}
			if e.Description == "" {
				t.Errorf("%s: no description", e.Action)
			}
		}
		if !slices.Equal(accounts, tc.accounts) || !strings.Contains(tc.action, actions[0]) {
			t.Errorf("%s: recorded %v in %v, want %v", tc.action, actions, accounts, tc.accounts)
		}
	}
}

// TestDescriptionsNameTheActor: whoever did it, the CLI's operator, a
// console user, an API key or Stele's own jobs, is named by the
// description, so the same action reads the same from every way in.
func TestDescriptionsNameTheActor(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	acme, _ := s.db.AccountByName(ctx, "acme")
	u := &stele.User{ID: "u_1", Account: "acme", Email: "ada@acme.example", Role: stele.RoleOwner}
	for actor, want := range map[audit.Actor]string{
		audit.CLI():           "(stele CLI)",
		audit.User(u, "", ""): "ada@acme.example",
		audit.Key(&stele.Principal{KeyID: "key_abc"}, "", ""): "API key key_abc",
	} {
		if err := s.rec.Exported(ctx, actor, audit.Export{Account: "acme", Format: "csv", Rows: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.rec.AccountCreated(ctx, actor, acme, nil); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.stored(t) {
			if !strings.Contains(e.Description, want) {
				t.Errorf("%s by %+v: %q does not name %q", e.Action, actor.Ref, e.Description, want)
			}
		}
	}
}

// TestAttemptKeepsWhatCannotBeAnEmail: a sign-in attempt as something no
// event can carry as an email (markup, no @, over-long) is recorded all
// the same, what was typed kept as metadata, never refused or salvaged.
func TestAttemptKeepsWhatCannotBeAnEmail(t *testing.T) {
	s := newStack(t)
	for _, typed := range []string{"<script>@x", "no-at-sign", "a b@c.d", strings.Repeat("a", 400) + "@x.io", "ok@acme.example"} {
		a := audit.Attempt(typed, "192.0.2.9", "curl/8")
		if err := s.rec.SignInFailed(t.Context(), a, stele.SystemAccount, typed, audit.ReasonUnknownUser); err != nil {
			t.Fatalf("%q: %v", typed, err)
		}
		e := s.stored(t)[0]
		if _, salvaged := e.Metadata["salvaged"]; salvaged {
			t.Errorf("%q was salvaged: %+v", typed, e.Metadata)
		}
		valid := stele.IsEmail(typed)
		if got, _ := e.Metadata["attempted_email"].(string); valid != (got == "") || valid != (e.Actor.Email == typed) {
			t.Errorf("%q: actor %+v, attempted_email %q", typed, e.Actor, got)
		}
		if e.IP != "192.0.2.9" || e.UserAgent != "curl/8" {
			t.Errorf("%q: from %q with %q", typed, e.IP, e.UserAgent)
		}
	}
}

// TestAFailureToRecordIsARecordErrorAndIsLoggedWithoutTheEvent: a caller
// learns which action could not be recorded; Log says so without the
// event's contents.
func TestAFailureToRecordIsARecordErrorAndIsLoggedWithoutTheEvent(t *testing.T) {
	var logs bytes.Buffer
	down := errors.New("store down")
	r := &audit.Recorder{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Sink: audit.SinkFunc(func(context.Context, ...stele.Event) ([]stele.Receipt, error) { return nil, down })}
	u := &stele.User{ID: "u_1", Account: "acme", Email: "secret-email@acme.example", Role: stele.RoleOwner}
	err := r.UserCreated(t.Context(), audit.CLI(), u)
	var re *audit.RecordError
	if !errors.As(err, &re) || re.Action != "user.created" || re.Account != "acme" || !errors.Is(err, down) {
		t.Fatalf("error %v", err)
	}
	r.Log(err)
	r.Log(nil)
	if out := logs.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "action=user.created") || strings.Contains(out, "secret-email") {
		t.Fatalf("log: %s", out)
	}
}

// TestAnAccountChangeOfSystemIsRecordedOnce: _system's own changes go to
// its log once, not twice.
func TestAnAccountChangeOfSystemIsRecordedOnce(t *testing.T) {
	s := newStack(t)
	sys, _ := s.db.AccountByName(t.Context(), stele.SystemAccount)
	held := *sys
	held.LegalHold = true
	if err := s.rec.AccountChanged(t.Context(), audit.CLI(), sys, &held, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.stored(t); len(got) != 1 || got[0].Action != "legal_hold.set" {
		t.Fatalf("recorded %+v", got)
	}
	if err := s.rec.AccountChanged(t.Context(), audit.CLI(), sys, sys, nil); err != nil || len(s.receipts) != 0 {
		t.Fatalf("no change recorded %v (%v)", s.receipts, err)
	}
}
