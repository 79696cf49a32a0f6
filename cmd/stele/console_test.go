package main

import (
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

func TestConsoleIntegrityStatusFollowsCheckpoints(t *testing.T) {
	ctx := t.Context()
	a, err := openApp(ctx, storeFlags{data: t.TempDir()}, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	acct := &stele.Account{Name: "acme", Type: "team"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := a.record(ctx, stele.Event{Account: "acme", Action: "user.login", Outcome: stele.OutcomeSuccess,
			Description: strings.Repeat("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	check := integrityStatus(a.checkpoints)
	e, err := a.search.Event(ctx, acct, 3)
	if err != nil {
		t.Fatal(err)
	}
	st, err := check(ctx, acct, e)
	if err != nil || !st.Pending {
		t.Fatalf("before any checkpoint: %+v %v", st, err)
	}
	if _, err := a.checkpoints.Sign(ctx, acct); err != nil {
		t.Fatal(err)
	}
	st, err = check(ctx, acct, e)
	if err != nil || !st.Verified || !strings.Contains(st.Checkpoint, "tree size 5") {
		t.Fatalf("after a checkpoint: %+v %v", st, err)
	}
	e.Description = "edited"
	st, err = check(ctx, acct, e)
	if err != nil || st.Verified || !strings.Contains(st.Detail, "altered") {
		t.Fatalf("an edited event: %+v %v", st, err)
	}
}
