package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// runConsole runs the console's part of the suite: users, sessions, counts.
func runConsole(t *testing.T, open func(t *testing.T) stele.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s stele.Store)
	}{
		{"UsersCreateReadUpdateDelete", testUsers},
		{"UserEmailUniqueAcrossAccounts", testUserEmailUnique},
		{"TOTPStepIsUsedOnce", testTOTPStep},
		{"SessionsCreateTouchExpireRevoke", testSessions},
		{"CountByBucketGroupsByTimeAndCategory", testCountByBucket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func mustUser(t *testing.T, s stele.Store, acct *stele.Account, id, email string, role stele.Role) *stele.User {
	t.Helper()
	u := &stele.User{ID: id, AccountID: acct.ID, Email: email, Name: "N " + id, Role: role, PasswordHash: "$argon2id$x"}
	if err := s.CreateUser(ctx(t), u); err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func testUsers(t *testing.T, s stele.Store) {
	acme := mustAccount(t, s, "acme")
	mustUser(t, s, acme, "u_2", "bob@acme.io", stele.RoleMember)
	mustUser(t, s, acme, "u_1", "Ada@Acme.io", stele.RoleOwner)
	got, err := s.UserByEmail(ctx(t), "ADA@acme.io")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "u_1" || got.Email != "ada@acme.io" || got.Account != "acme" || got.Role != stele.RoleOwner || got.CreatedAt.IsZero() {
		t.Fatalf("user by email: %+v", got)
	}
	list, err := s.Users(ctx(t), acme.ID)
	if err != nil || len(list) != 2 || list[0].Email != "ada@acme.io" {
		t.Fatalf("users: %v %v", list, err)
	}
	role, hash, secret := stele.RoleAuditor, "$argon2id$y", "JBSWY3DPEHPK3PXP"
	u, err := s.UpdateUser(ctx(t), "u_2", stele.UserUpdate{Role: &role, PasswordHash: &hash, TOTPSecret: &secret})
	if err != nil || u.Role != role || u.PasswordHash != hash || !u.MFAEnabled() {
		t.Fatalf("update: %+v %v", u, err)
	}
	if n, err := s.CountUsers(ctx(t)); err != nil || n != 2 {
		t.Fatalf("count: %d %v", n, err)
	}
	if err := s.DeleteUser(ctx(t), "u_2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.User(ctx(t), "u_2")
	wantCode(t, err, stele.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx(t), "u_2"), stele.ENOTFOUND)
	_, err = s.UpdateUser(ctx(t), "u_9", stele.UserUpdate{Role: &role})
	wantCode(t, err, stele.ENOTFOUND)
}

func testUserEmailUnique(t *testing.T, s stele.Store) {
	acme, globex := mustAccount(t, s, "acme"), mustAccount(t, s, "globex")
	mustUser(t, s, acme, "u_1", "ada@acme.io", stele.RoleOwner)
	err := s.CreateUser(ctx(t), &stele.User{ID: "u_2", AccountID: globex.ID, Email: "ADA@acme.io", Role: stele.RoleMember, PasswordHash: "x"})
	wantCode(t, err, stele.ECONFLICT)
	err = s.CreateUser(ctx(t), &stele.User{ID: "u_3", AccountID: 999, Email: "x@y.z", Role: stele.RoleMember, PasswordHash: "x"})
	wantCode(t, err, stele.ENOTFOUND)
}

func testTOTPStep(t *testing.T, s stele.Store) {
	acme := mustAccount(t, s, "acme")
	mustUser(t, s, acme, "u_1", "ada@acme.io", stele.RoleOwner)
	for _, c := range []struct {
		step int64
		ok   bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		ok, err := s.UseTOTPStep(ctx(t), "u_1", c.step)
		if err != nil || ok != c.ok {
			t.Fatalf("step %d: %v %v, want %v", c.step, ok, err, c.ok)
		}
	}
}

func testSessions(t *testing.T, s stele.Store) {
	acme := mustAccount(t, s, "acme")
	mustUser(t, s, acme, "u_1", "ada@acme.io", stele.RoleOwner)
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	hash := func(tok string) []byte { h := sha256.Sum256([]byte(tok)); return h[:] }
	for i, tok := range []string{"a", "b", "c"} {
		at := now.Add(-time.Duration(i) * time.Hour)
		if err := s.CreateSession(ctx(t), &stele.Session{TokenHash: hash(tok), UserID: "u_1", CreatedAt: at, LastSeenAt: at,
			MFAPending: true, IP: "203.0.113.7", UserAgent: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Session(ctx(t), hash("a"))
	if err != nil || got.UserID != "u_1" || !got.MFAPending || !got.CreatedAt.Equal(now) || !bytes.Equal(got.TokenHash, hash("a")) {
		t.Fatalf("session: %+v %v", got, err)
	}
	if err := s.CompleteMFA(ctx(t), hash("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx(t), hash("a"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Session(ctx(t), hash("a"))
	if got.MFAPending || !got.LastSeenAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("after MFA and touch: %+v", got)
	}
	n, err := s.DeleteSessionsBefore(ctx(t), now.Add(-90*time.Minute), now.Add(-90*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if err := s.DeleteSession(ctx(t), hash("b")); err != nil {
		t.Fatal(err)
	}
	_, err = s.Session(ctx(t), hash("b"))
	wantCode(t, err, stele.ENOTFOUND)
	if err := s.DeleteUserSessions(ctx(t), "u_1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Session(ctx(t), hash("a"))
	wantCode(t, err, stele.ENOTFOUND)
}

func testCountByBucket(t *testing.T, s stele.Store) {
	acme, other := mustAccount(t, s, "acme"), mustAccount(t, s, "other")
	var rows []stele.EventRow
	for seq := range int64(10) {
		r := eventRow(acme.ID, seq)
		r.Time = base + seq*int64(30*time.Minute/time.Microsecond) // two per hour
		if seq%2 == 1 {
			r.Category, r.Action, r.Outcome = stele.CategoryAudit, "audit_log.exported", stele.OutcomeFailure
		}
		rows = append(rows, r)
	}
	appendRows(t, s, acme.ID, rows, nil)
	appendRows(t, s, other.ID, []stele.EventRow{eventRow(other.ID, 0)}, nil)
	hour := int64(time.Hour / time.Microsecond)
	got, err := s.CountByBucket(ctx(t), stele.RowQuery{AccountID: acme.ID}, hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("got %d buckets, want 10 (5 hours × 2 categories): %+v", len(got), got)
	}
	for i, c := range got {
		wantCat := stele.CategoryAuthentication
		if i%2 == 1 {
			wantCat = stele.CategoryAudit
		}
		if c.Start != base/hour*hour+int64(i/2)*hour || c.Category != wantCat || c.Count != 1 {
			t.Fatalf("bucket %d: %+v", i, c)
		}
	}
	got, err = s.CountByBucket(ctx(t), stele.RowQuery{AccountID: acme.ID,
		Filters: []stele.RowFilter{{Field: stele.FieldCategory, Values: []string{stele.CategoryAudit}}}}, 24*hour)
	if err != nil || len(got) != 1 || got[0].Count != 5 || got[0].Category != stele.CategoryAudit {
		t.Fatalf("category audit by day: %+v %v", got, err)
	}
	got, err = s.CountByBucket(ctx(t), stele.RowQuery{AccountID: acme.ID,
		Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{1003, 1004, 1005}}}}, 24*hour)
	if err != nil || len(got) != 2 || got[0].Count+got[1].Count != 3 {
		t.Fatalf("actor tokens by day: %+v %v", got, err)
	}
	got, err = s.CountByBucket(ctx(t), stele.RowQuery{AccountID: acme.ID, After: base + hour,
		Filters: []stele.RowFilter{{Field: stele.FieldOutcome, Values: []string{stele.OutcomeFailure}}}}, 24*hour)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range got {
		total += c.Count
	}
	if total != 4 { // seqs 3, 5, 7 and 9
		t.Fatalf("filtered total %d, want 4", total)
	}

	// An event that arrives late with an old time is counted; a range that
	// starts mid-hour counts only what is in it.
	late := eventRow(acme.ID, 10)
	late.Time, late.Category, late.Action, late.Outcome = base+5*60_000_000, stele.CategoryAudit, "audit_log.exported", stele.OutcomeFailure
	appendRows(t, s, acme.ID, []stele.EventRow{late}, nil)
	got, err = s.CountByBucket(ctx(t), stele.RowQuery{AccountID: acme.ID, After: base + 60_000_000,
		Filters: []stele.RowFilter{{Field: stele.FieldOutcome, Values: []string{stele.OutcomeFailure}}}}, hour)
	if err != nil {
		t.Fatal(err)
	}
	total = 0
	for _, c := range got {
		if c.Category != stele.CategoryAudit {
			t.Fatalf("filtered bucket %+v", c)
		}
		total += c.Count
	}
	if total != 6 { // seqs 1 (at 30 min), 3, 5, 7, 9 and the late one (at 5 min)
		t.Fatalf("from minute one: total %d, want 6", total)
	}
}
