package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/users"
)

// Recorder stores events as Stele does its own (ingest.Service.Record):
// validated, never throttled.
type Recorder interface {
	Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error)
}

// KeyAccount is the demo account the demo's API key and console users
// belong to.
const KeyAccount = "acme"

// Empty reports whether the store has no account but _system: a store
// Seed fills.
func Empty(ctx context.Context, accounts stele.AccountStore) (bool, error) {
	accts, err := accounts.Accounts(ctx)
	return len(accts) <= 1, err
}

// Seeded is one demo account Seed filled, and how many events it holds.
type Seeded struct {
	AccountSpec
	Events int
}

// Seed creates gen's demo accounts in an empty store (Empty) and records
// their activity through rec, in batches, calling done after each account.
// acme has no ingest quota: the demo key writes to it and stele loadgen
// measures the server with it, so no quota of acme's may bind first; the
// other accounts keep their types'. It returns the events stored.
func Seed(ctx context.Context, accounts stele.AccountStore, rec Recorder, gen *Generator, done func(Seeded)) (int, error) {
	total := 0
	for _, spec := range gen.Accounts() {
		acct := &stele.Account{Name: spec.Name, Type: spec.Type}
		if spec.Name == KeyAccount {
			unlimited := int64(0)
			acct.Ingest = stele.IngestOverride{EventsPerSecond: &unlimited, BytesPerSecond: &unlimited}
		}
		if err := accounts.CreateAccount(ctx, acct); err != nil {
			return total, fmt.Errorf("demo account %s: %w", spec.Name, err)
		}
		n, err := seedAccount(ctx, rec, gen, spec.Name)
		total += n
		if err != nil {
			return total, fmt.Errorf("demo account %s: %w", spec.Name, err)
		}
		if done != nil {
			done(Seeded{AccountSpec: spec, Events: n})
		}
	}
	return total, nil
}

// seedAccount records the account's activity in batches of the API's
// largest.
func seedAccount(ctx context.Context, rec Recorder, gen *Generator, account string) (int, error) {
	batch := make([]stele.Event, 0, stele.MaxBatchEvents)
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := rec.Record(ctx, batch...); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err := gen.Events(account, func(e stele.Event) error {
		e.Account = account
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// Key issues a fresh key of acme that writes, reads and exports events,
// and returns its text; "" when the store has no acme.
func Key(ctx context.Context, accounts stele.AccountStore, keys stele.APIKeyStore, now time.Time) (string, error) {
	acme, err := accounts.AccountByName(ctx, KeyAccount)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	_, text, err := apikey.Issue(ctx, keys, acme, []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead, stele.ScopeEventsExport}, false, "demo", now)
	return text, err
}

// Login is a demo console user and the password it signs in with.
type Login struct {
	User     *stele.User
	Password string
}

// Users gives acme an owner, an auditor and a member to sign in as, made
// by by, and returns them with their passwords; none when the store has no
// acme or acme has users already.
func Users(ctx context.Context, accounts stele.AccountStore, svc *users.Service, by audit.Actor) ([]Login, error) {
	acme, err := accounts.AccountByName(ctx, KeyAccount)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	existing, err := svc.Store.Users(ctx, acme.ID)
	if err != nil || len(existing) > 0 {
		return nil, err
	}
	var out []Login
	for _, d := range []struct {
		email, name string
		role        stele.Role
	}{
		{"owner@acme.example", "Olivia Owner", stele.RoleOwner},
		{"auditor@acme.example", "Arun Auditor", stele.RoleAuditor},
		{"member@acme.example", "Mia Member", stele.RoleMember},
	} {
		u, password, err := svc.Create(ctx, by, acme, d.email, d.name, d.role, "")
		if err != nil {
			return out, err
		}
		out = append(out, Login{User: u, Password: password})
	}
	return out, nil
}
