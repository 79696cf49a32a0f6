package users_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/users"
)

type env struct {
	db   *sqlite.DB
	path *datapath.Path
	svc  *users.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{5}, 32))
	path := datapath.Start(db, sqlitetest.Keys(t), master, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterConfig{})
	t.Cleanup(func() { path.Stop(); db.Close() })
	for _, name := range []string{stele.SystemAccount, "acme"} {
		if err := db.CreateAccount(ctx, &stele.Account{Name: name, Type: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	return &env{db: db, path: path, svc: &users.Service{Store: db, Audit: &audit.Recorder{Sink: path.Ingest}}}
}

func (e *env) account(t *testing.T, name string) *stele.Account {
	t.Helper()
	a, err := e.db.AccountByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// events returns the account's events matching q.
func (e *env) events(t *testing.T, account, q string) []stele.Event {
	t.Helper()
	pq, err := query.Parse(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out []stele.Event
	if _, err := e.path.Search.Each(t.Context(), e.account(t, account), pq, func(ev *stele.Event) error {
		out = append(out, *ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCreateStoresTheUserAndRecordsWhoMadeIt: a created user can sign in
// with the password returned, and its account's log says who created it.
func TestCreateStoresTheUserAndRecordsWhoMadeIt(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u, password, err := e.svc.Create(ctx, audit.CLI(), e.account(t, "acme"), " Ada@Acme.Example ", "", stele.RoleAuditor, "")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.db.UserByEmail(ctx, "ada@acme.example")
	if err != nil || stored.ID != u.ID || stored.Name != "ada" || !users.CheckPassword(stored.PasswordHash, password) || len(password) < users.MinPasswordLen {
		t.Fatalf("stored %+v (%v)", stored, err)
	}
	got := e.events(t, "acme", "action:user.created")
	if len(got) != 1 || got[0].Target.ID != u.ID || got[0].Actor.Type != "operator" || got[0].Metadata["role_after"] != "auditor" {
		t.Fatalf("user.created %+v", got)
	}
	for _, bad := range []struct {
		email, password string
		role            stele.Role
		field           string
	}{
		{"not an email", "", stele.RoleMember, "email"},
		{"bob@acme.example", "short", stele.RoleMember, "password"},
		{"bob@acme.example", "", "boss", "role"},
	} {
		_, _, err := e.svc.Create(ctx, audit.CLI(), e.account(t, "acme"), bad.email, "", bad.role, bad.password)
		var se *stele.Error
		if !errors.As(err, &se) || se.Code != stele.EINVALID || len(se.Details) != 1 || se.Details[0].Field != bad.field {
			t.Errorf("%+v: %v, want EINVALID naming %s", bad, err, bad.field)
		}
	}
	if n, _ := e.db.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users after the refusals", n)
	}
}

// TestAUserStoredButNotRecordedIsReturnedWithARecordError: the caller
// learns both that the user exists and that its record was not kept.
func TestAUserStoredButNotRecordedIsReturnedWithARecordError(t *testing.T) {
	e := newEnv(t)
	down := errors.New("log unavailable")
	e.svc.Audit = &audit.Recorder{Sink: audit.SinkFunc(func(context.Context, ...stele.Event) ([]stele.Receipt, error) { return nil, down })}
	u, _, err := e.svc.Create(t.Context(), audit.CLI(), e.account(t, "acme"), "ada@acme.example", "", stele.RoleOwner, "")
	var re *audit.RecordError
	if u == nil || !errors.As(err, &re) || !errors.Is(err, down) {
		t.Fatalf("user %v, error %v", u, err)
	}
}

// TestEnsureOperatorMakesOneOperatorOnce: on an empty store, however many
// nodes start at once, one operator is made and one password printed;
// afterwards nothing is.
func TestEnsureOperatorMakesOneOperatorOnce(t *testing.T) {
	e := newEnv(t)
	sys := e.account(t, stele.SystemAccount)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		made []*stele.User
	)
	for range 4 {
		wg.Go(func() {
			u, password, err := e.svc.EnsureOperator(t.Context(), audit.CLI(), sys)
			if err != nil {
				t.Error(err)
			}
			if u != nil {
				if password == "" || u.Email != users.OperatorEmail || u.Role != stele.RoleOwner || u.Account != stele.SystemAccount {
					t.Errorf("operator %+v with password %q", u, password)
				}
				mu.Lock()
				made = append(made, u)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(made) != 1 {
		t.Fatalf("%d operators made", len(made))
	}
	if u, _, err := e.svc.EnsureOperator(t.Context(), audit.CLI(), sys); u != nil || err != nil {
		t.Fatalf("again: %v %v", u, err)
	}
	if got := e.events(t, stele.SystemAccount, "action:user.created"); len(got) != 1 {
		t.Fatalf("%d user.created in _system", len(got))
	}
}
