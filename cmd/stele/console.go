package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/console"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/retention"
)

// withConsole serves the web console beside the API: the console's routes
// are method-and-path patterns, everything else goes to the API handler.
// types are the account types of --account-types.
func withConsole(ctx context.Context, a *app, logger *slog.Logger, tls bool, types []stele.AccountType, apiHandler http.Handler) (http.Handler, error) {
	c := &console.Server{
		Accounts: a.db, Users: a.db, Sessions: a.db, APIKeys: a.db, Counter: a.db,
		Search: a.search, Ingest: a.ingest, Logger: logger, TLS: tls, Secrets: a.keyring, AccountTypes: types,
		Throttle:  a.db, // shared by every node on the database
		Retention: &retention.Settings{Accounts: a.db, Recorder: a.ingest, Types: types},
	}
	if a.checkpoints != nil {
		c.Integrity = integrityStatus(a.checkpoints)
	}
	if err := c.Init(); err != nil {
		return nil, err
	}
	go c.ExpireSessions(ctx, 10*time.Minute)
	mux := http.NewServeMux()
	mux.Handle("/", apiHandler)
	c.Routes(mux)
	return mux, nil
}

// ensureOperator creates the first operator user on a store with no users
// and prints its credentials, once. It returns the operator's email, or ""
// when users existed already.
func ensureOperator(ctx context.Context, a *app, out io.Writer, base string) error {
	n, err := a.db.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	sys, err := a.db.AccountByName(ctx, stele.SystemAccount)
	if err != nil {
		return err
	}
	email := "operator@stele.local"
	u, password, err := createUser(ctx, a, sys, email, "Operator", stele.RoleOwner, "")
	if stele.ErrorCode(err) == stele.ECONFLICT {
		return nil // another node sharing the database, starting at once, made it
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Sign in to the console at %s/login as the operator (shown once; change it under your email):\n  email:    %s\n  password: %s\n\n", base, u.Email, password)
	return nil
}

// seedDemoUsers gives the demo account acme an owner, an auditor and a
// member to sign in as, unless it has users already.
func seedDemoUsers(ctx context.Context, a *app, out io.Writer, base string) error {
	acme, err := a.db.AccountByName(ctx, "acme")
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	users, err := a.db.Users(ctx, acme.ID)
	if err != nil || len(users) > 0 {
		return err
	}
	fmt.Fprintf(out, "Demo console users of acme (%s/login; passwords shown once):\n", base)
	for _, d := range []struct {
		email, name string
		role        stele.Role
	}{
		{"owner@acme.example", "Olivia Owner", stele.RoleOwner},
		{"auditor@acme.example", "Arun Auditor", stele.RoleAuditor},
		{"member@acme.example", "Mia Member", stele.RoleMember},
	} {
		u, password, err := createUser(ctx, a, acme, d.email, d.name, d.role, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-8s %-22s %s\n", u.Role, u.Email, password)
	}
	fmt.Fprintln(out)
	return nil
}

// createUser makes a user (with a generated password when password is
// empty), stores it and records user.created in its account.
func createUser(ctx context.Context, a *app, acct *stele.Account, email, name string, role stele.Role, password string) (*stele.User, string, error) {
	u, password, err := console.NewUser(acct, email, name, role, password)
	if err != nil {
		return nil, "", err
	}
	if err := a.db.CreateUser(ctx, u); err != nil {
		return nil, "", err
	}
	if err := a.record(ctx, console.UserCreatedEvent(u, operatorActor())); err != nil {
		return nil, "", err
	}
	return u, password, nil
}

// integrityStatus checks an event shown in the console against the latest
// signed checkpoint of its account: the leaf hash recomputed from the
// decrypted event must be the stored one, and the inclusion proof must lead
// from it to the checkpoint's root.
func integrityStatus(cp *integrity.Checkpointer) console.IntegrityChecker {
	return func(ctx context.Context, account *stele.Account, e *stele.Event) (console.IntegrityStatus, error) {
		c, err := cp.Store.LatestCheckpoint(ctx, account.ID)
		if stele.ErrorCode(err) == stele.ENOTFOUND || (err == nil && c.Size <= e.Seq) {
			return console.IntegrityStatus{Pending: true, Detail: "This event is newer than the latest signed checkpoint; the next one, signed within a minute while events arrive, will include it."}, nil
		}
		if err != nil {
			return console.IntegrityStatus{}, err
		}
		where := fmt.Sprintf("checkpoint of %s at tree size %d", cp.Origin(account.Name), c.Size)
		proof, err := integrity.ProveInclusion(ctx, cp.Events, account.ID, e.Seq, c.Size)
		if err != nil {
			return console.IntegrityStatus{Checkpoint: where, Detail: "No inclusion proof could be built: " + stele.ErrorMessage(err)}, nil
		}
		leaf := ledger.LeafHash(record.AppendCanonical(nil, e))
		if leaf != proof.LeafHash {
			return console.IntegrityStatus{Checkpoint: where, Detail: "The event as decrypted does not match its leaf hash in the tree: it was altered after it was recorded."}, nil
		}
		if err := ledger.VerifyInclusion(leaf, e.Seq, c.Size, proof.Hashes, c.Root); err != nil {
			if errors.Is(err, ledger.ErrProof) {
				return console.IntegrityStatus{Checkpoint: where, Detail: "The inclusion proof does not lead to the signed root: " + err.Error()}, nil
			}
			return console.IntegrityStatus{}, err
		}
		return console.IntegrityStatus{Verified: true, Checkpoint: where,
			Detail: fmt.Sprintf("Leaf %x… is included in the signed tree of %d events (proof of %d hashes); stele verify checks the same offline.", leaf[:6], c.Size, len(proof.Hashes))}, nil
	}
}
