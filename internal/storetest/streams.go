package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func runStreams(t *testing.T, open func(t *testing.T) stele.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s stele.Store)
	}{
		{"StreamsCreateReadListUpdateDelete", testStreamsCRUD},
		{"StreamsKeepNoHeaderValueInTheClear", testStreamHeaderValues},
		{"StreamsTenancy", testStreamsTenancy},
		{"StreamCursorsStartAtTheHeadOrTheOldest", testStreamCursorStart},
		{"StreamCursorsOnlyMoveForward", testStreamAdvance},
		{"StreamHealthOfAnOldVersionIsDropped", testStreamHealthVersion},
		{"StreamReplaysCreateListUpdate", testStreamReplays},
		{"StreamsGoWithTheirAccount", testStreamsDeleteAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var streamSeq int

func newStream(a *stele.Account, name string) *stele.Stream {
	streamSeq++
	return &stele.Stream{ID: fmt.Sprintf("str_test%08d", streamSeq), AccountID: a.ID, Account: a.Name, Name: name,
		Query: "action:user.* -outcome:failure", Enabled: true,
		Destination: stele.StreamDestination{Type: "syslog", Address: "siem.example.com:6514", TLS: true, Format: "cef"}}
}

func mustStream(t *testing.T, s stele.Store, st *stele.Stream, start string) *stele.Stream {
	t.Helper()
	if err := s.CreateStream(ctx(t), st, start); err != nil {
		t.Fatalf("create stream %s: %v", st.Name, err)
	}
	return st
}

// equalStream compares everything but the health.
func equalStream(t *testing.T, got, want *stele.Stream) {
	t.Helper()
	g, w := *got, *want
	g.Health, w.Health = stele.StreamHealth{}, stele.StreamHealth{}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("stream\n got %+v\nwant %+v", g, w)
	}
}

func testStreamsCRUD(t *testing.T, s stele.Store) {
	acme := mustAccount(t, s, "acme")
	before := time.Now().Add(-time.Second)
	a := mustStream(t, s, newStream(acme, "siem"), stele.StreamStartNow)
	if a.Version != 1 || a.CreatedAt.Before(before) || !a.CreatedAt.Equal(a.UpdatedAt) || a.CreatedAt.Location() != time.UTC ||
		!a.CreatedAt.Equal(a.CreatedAt.Truncate(stele.TimeUnit)) {
		t.Fatalf("created stream: version %d, created %v, updated %v", a.Version, a.CreatedAt, a.UpdatedAt)
	}
	b := newStream(acme, "archive")
	b.Query, b.Enabled = "", false
	b.Destination = stele.StreamDestination{Type: "https", URL: "https://hec.example.com/services/collector/event", Format: "splunk_hec"}
	mustStream(t, s, b, stele.StreamStartOldest)

	got, err := s.Stream(ctx(t), acme.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalStream(t, got, a)
	if got.Health.Paused() || got.Health.LastError != "" || !got.Health.LastSentAt.IsZero() {
		t.Fatalf("new stream's health %+v", got.Health)
	}
	list, err := s.Streams(ctx(t), acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "archive" || list[1].Name != "siem" {
		t.Fatalf("Streams = %v, want archive and siem by name", names(list))
	}
	equalStream(t, list[0], b)
	all, err := s.AllStreams(ctx(t))
	if err != nil || len(all) != 2 {
		t.Fatalf("AllStreams = %v, %v", names(all), err)
	}

	// A second stream of the same name in the account conflicts.
	wantCode(t, s.CreateStream(ctx(t), newStream(acme, "siem"), stele.StreamStartNow), stele.ECONFLICT)

	// An update replaces the settings, moves the version and the update
	// time, clears a pause and returns the stream as it was.
	if err := s.AdvanceStream(ctx(t), a.ID, 1, nil, &stele.StreamHealth{PausedAt: time.Now(), LastError: "401 Unauthorized", LastErrorAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	up := *a
	up.Name, up.Query, up.Enabled = "siem (prod)", "category:authentication", false
	up.Destination = stele.StreamDestination{Type: "syslog", Address: "10.0.0.9:514", Format: "json"}
	old, err := s.UpdateStream(ctx(t), &up)
	if err != nil {
		t.Fatal(err)
	}
	if old.Name != "siem" || old.Version != 1 || !old.Health.Paused() {
		t.Fatalf("before = %+v, want the stream as it was, paused", old)
	}
	if up.Version != 2 || up.UpdatedAt.Before(a.UpdatedAt) || !up.CreatedAt.Equal(a.CreatedAt) || up.Health.Paused() ||
		up.Name != "siem (prod)" || up.Query != "category:authentication" || up.Enabled || up.Destination.Address != "10.0.0.9:514" {
		t.Fatalf("after = %+v", up)
	}
	if up.Health.LastError != "401 Unauthorized" {
		t.Fatalf("the update lost the last error: %+v", up.Health)
	}
	got, err = s.Stream(ctx(t), acme.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalStream(t, got, &up)
	clash := up
	clash.Name = "archive"
	_, err = s.UpdateStream(ctx(t), &clash)
	wantCode(t, err, stele.ECONFLICT)
	missing := up
	missing.ID = "str_missing"
	_, err = s.UpdateStream(ctx(t), &missing)
	wantCode(t, err, stele.ENOTFOUND)

	// Delete returns the stream; its cursors and replays go with it.
	if err := s.AdvanceStream(ctx(t), a.ID, 2, []stele.StreamProgress{{AccountID: acme.ID, NextSeq: 5, Forwarded: 5}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStreamReplay(ctx(t), &stele.StreamReplay{ID: "rpl_crud", StreamID: a.ID, AccountID: acme.ID,
		After: time.Unix(0, 0), Before: time.Now(), State: stele.ReplayPending}); err != nil {
		t.Fatal(err)
	}
	gone, err := s.DeleteStream(ctx(t), acme.ID, a.ID)
	if err != nil || gone.ID != a.ID || gone.Name != "siem (prod)" {
		t.Fatalf("DeleteStream = %+v, %v", gone, err)
	}
	_, err = s.Stream(ctx(t), acme.ID, a.ID)
	wantCode(t, err, stele.ENOTFOUND)
	_, err = s.DeleteStream(ctx(t), acme.ID, a.ID)
	wantCode(t, err, stele.ENOTFOUND)
	if ps, err := s.StreamPositions(ctx(t), a.ID); err != nil || len(ps) != 0 {
		t.Fatalf("positions of a deleted stream: %v, %v", ps, err)
	}
	if rs, err := s.StreamReplays(ctx(t), a.ID, 10); err != nil || len(rs) != 0 {
		t.Fatalf("replays of a deleted stream: %v, %v", rs, err)
	}
	wantCode(t, s.AdvanceStream(ctx(t), a.ID, 2, []stele.StreamProgress{{AccountID: acme.ID, NextSeq: 9}}, nil), stele.ENOTFOUND)
	wantCode(t, s.CreateStreamReplay(ctx(t), &stele.StreamReplay{ID: "rpl_gone", StreamID: a.ID, AccountID: acme.ID,
		After: time.Unix(0, 0), Before: time.Now(), State: stele.ReplayPending}), stele.ENOTFOUND)
}

func names(list []*stele.Stream) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.Name)
	}
	return out
}

// testStreamHeaderValues: whatever header values a caller leaves in the
// destination, the store keeps the names only; the sealed text is kept
// as given.
func testStreamHeaderValues(t *testing.T, s stele.Store) {
	acme := mustAccount(t, s, "acme")
	st := newStream(acme, "hec")
	st.Destination = stele.StreamDestination{Type: "https", URL: "https://hec.example.com/services/collector/event", Format: "splunk_hec",
		Headers: map[string]string{"Authorization": "Splunk s3cr3t-token-value", "X-Splunk-Request-Channel": "guid-value"}}
	st.SealedHeaders = "sealed1.1.opaque"
	mustStream(t, s, st, stele.StreamStartNow)
	if st.Destination.Headers["Authorization"] != "Splunk s3cr3t-token-value" {
		t.Fatal("CreateStream changed the caller's destination")
	}
	got, err := s.Stream(ctx(t), acme.ID, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Authorization": "", "X-Splunk-Request-Channel": ""}
	if !reflect.DeepEqual(got.Destination.Headers, want) || got.SealedHeaders != "sealed1.1.opaque" {
		t.Fatalf("stored headers %v, sealed %q", got.Destination.Headers, got.SealedHeaders)
	}
	up := *got
	up.Destination.Headers = map[string]string{"Authorization": "Splunk other-token"}
	up.SealedHeaders = "sealed1.1.other"
	if _, err := s.UpdateStream(ctx(t), &up); err != nil {
		t.Fatal(err)
	}
	got, err = s.Stream(ctx(t), acme.ID, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Destination.Headers, map[string]string{"Authorization": ""}) || got.SealedHeaders != "sealed1.1.other" {
		t.Fatalf("updated headers %v, sealed %q", got.Destination.Headers, got.SealedHeaders)
	}
	for _, v := range []string{"s3cr3t", "other-token"} {
		if strings.Contains(fmt.Sprintf("%+v", got), v) {
			t.Fatalf("header value %q came back from the store", v)
		}
	}
}

// testStreamsTenancy: an account reads, updates and deletes only its own
// streams.
func testStreamsTenancy(t *testing.T, s stele.Store) {
	acme, globex := mustAccount(t, s, "acme"), mustAccount(t, s, "globex")
	a := mustStream(t, s, newStream(acme, "siem"), stele.StreamStartNow)
	g := mustStream(t, s, newStream(globex, "siem"), stele.StreamStartNow) // the same name in another account
	_, err := s.Stream(ctx(t), globex.ID, a.ID)
	wantCode(t, err, stele.ENOTFOUND)
	list, err := s.Streams(ctx(t), globex.ID)
	if err != nil || len(list) != 1 || list[0].ID != g.ID {
		t.Fatalf("globex's streams: %v, %v", names(list), err)
	}
	steal := *a
	steal.AccountID = globex.ID
	_, err = s.UpdateStream(ctx(t), &steal)
	wantCode(t, err, stele.ENOTFOUND)
	_, err = s.DeleteStream(ctx(t), globex.ID, a.ID)
	wantCode(t, err, stele.ENOTFOUND)
	if got, err := s.Stream(ctx(t), acme.ID, a.ID); err != nil || got.Version != 1 {
		t.Fatalf("acme's stream after globex's attempts: %+v, %v", got, err)
	}
}

// testStreamCursorStart: a stream that starts now has a cursor at the
// head of each account it reads that has events; one that starts at the
// oldest event has none.
func testStreamCursorStart(t *testing.T, s stele.Store) {
	sys := mustAccount(t, s, stele.SystemAccount)
	acme, globex := mustAccount(t, s, "acme"), mustAccount(t, s, "globex")
	mustAccount(t, s, "empty")
	wantPositions(t, s, "str_unknown")
	appendRows(t, s, acme.ID, []stele.EventRow{eventRow(acme.ID, 0), eventRow(acme.ID, 1), eventRow(acme.ID, 2)}, nil)
	appendRows(t, s, globex.ID, []stele.EventRow{eventRow(globex.ID, 0)}, nil)

	now := mustStream(t, s, newStream(acme, "now"), stele.StreamStartNow)
	wantPositions(t, s, now.ID, pos(acme, 3, 0, 0, 3))
	oldest := mustStream(t, s, newStream(acme, "oldest"), stele.StreamStartOldest)
	wantPositions(t, s, oldest.ID, pos(acme, 0, 0, 0, 3))
	appendRows(t, s, acme.ID, []stele.EventRow{eventRow(acme.ID, 3)}, nil)
	wantPositions(t, s, now.ID, pos(acme, 3, 0, 0, 4))

	every := newStream(sys, "platform")
	every.AllAccounts = true
	mustStream(t, s, every, stele.StreamStartNow)
	empty, err := s.AccountByName(ctx(t), "empty")
	if err != nil {
		t.Fatal(err)
	}
	wantPositions(t, s, every.ID, pos(sys, 0, 0, 0, 0), pos(acme, 4, 0, 0, 4), pos(globex, 1, 0, 0, 1), pos(empty, 0, 0, 0, 0))
	got, err := s.Stream(ctx(t), sys.ID, every.ID)
	if err != nil || !got.AllAccounts || got.Account != stele.SystemAccount {
		t.Fatalf("all-accounts stream read back as %+v, %v", got, err)
	}
	wantCode(t, s.CreateStream(ctx(t), newStream(acme, "odd"), "yesterday"), stele.EINTERNAL)
}

// pos is a position: account, name, cursor, counts, head.
func pos(a *stele.Account, next, forwarded, skipped, head int64) stele.StreamPosition {
	return stele.StreamPosition{StreamCursor: stele.StreamCursor{AccountID: a.ID, NextSeq: next, Forwarded: forwarded, Skipped: skipped},
		Account: a.Name, Head: head}
}

func wantPositions(t *testing.T, s stele.Store, id string, want ...stele.StreamPosition) {
	t.Helper()
	got, err := s.StreamPositions(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if want == nil {
		want = []stele.StreamPosition{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("positions of %s = %+v, want %+v", id, got, want)
	}
}

// testStreamAdvance: a report moves each cursor forward, never back (a
// node that lost the lead may report late), adds to the counts, creates a
// cursor where there was none, and leaves out an account that is gone.
func testStreamAdvance(t *testing.T, s stele.Store) {
	sys := mustAccount(t, s, stele.SystemAccount)
	acme, globex := mustAccount(t, s, "acme"), mustAccount(t, s, "globex")
	st := newStream(sys, "platform")
	st.AllAccounts = true
	mustStream(t, s, st, stele.StreamStartOldest)
	if err := s.AdvanceStream(ctx(t), st.ID, 1, []stele.StreamProgress{
		{AccountID: acme.ID, NextSeq: 10, Forwarded: 7, Skipped: 3}, {AccountID: globex.ID, NextSeq: 2, Forwarded: 2}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceStream(ctx(t), st.ID, 1, []stele.StreamProgress{
		{AccountID: acme.ID, NextSeq: 6, Forwarded: 4}, {AccountID: globex.ID, NextSeq: 5, Forwarded: 1, Skipped: 2},
		{AccountID: 1 << 40, NextSeq: 9, Forwarded: 9}}, nil); err != nil {
		t.Fatal(err)
	}
	wantPositions(t, s, st.ID, pos(sys, 0, 0, 0, 0), pos(acme, 10, 11, 3, 0), pos(globex, 5, 3, 2, 0))
	// A report without progress still stores the health.
	sent := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	h := stele.StreamHealth{LastSentAt: sent, EventsPerSecond: 1234.5, ReportedAt: sent.Add(time.Second),
		LastError: "syslog siem:514: connect: refused", LastErrorAt: sent.Add(-time.Minute)}
	if err := s.AdvanceStream(ctx(t), st.ID, 1, nil, &h); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stream(ctx(t), sys.ID, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Health, h) {
		t.Fatalf("health = %+v, want %+v", got.Health, h)
	}
	// An error longer than the limit is cut, on a character boundary.
	long := stele.StreamHealth{LastError: strings.Repeat("é", stele.MaxStreamErrorLen)}
	if err := s.AdvanceStream(ctx(t), st.ID, 1, nil, &long); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Stream(ctx(t), sys.ID, st.ID); err != nil {
		t.Fatal(err)
	}
	if len(got.Health.LastError) > stele.MaxStreamErrorLen || !strings.HasPrefix(strings.Repeat("é", stele.MaxStreamErrorLen), got.Health.LastError) {
		t.Fatalf("a long error was stored as %d bytes: %q…", len(got.Health.LastError), got.Health.LastError[:16])
	}
	wantCode(t, s.AdvanceStream(ctx(t), "str_unknown", 1, nil, &h), stele.ENOTFOUND)
}

// testStreamHealthVersion: the report of a forwarder still running the
// version before an update moves the cursors but does not touch the
// health: it must not pause the stream its owner just fixed.
func testStreamHealthVersion(t *testing.T, s stele.Store) {
	acme := mustAccount(t, s, "acme")
	st := mustStream(t, s, newStream(acme, "siem"), stele.StreamStartOldest)
	up := *st
	up.Destination.Address = "siem2.example.com:6514"
	if _, err := s.UpdateStream(ctx(t), &up); err != nil {
		t.Fatal(err)
	}
	stale := stele.StreamHealth{PausedAt: time.Now(), LastError: "403 Forbidden", LastErrorAt: time.Now()}
	if err := s.AdvanceStream(ctx(t), st.ID, 1, []stele.StreamProgress{{AccountID: acme.ID, NextSeq: 4, Forwarded: 4}}, &stale); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stream(ctx(t), acme.ID, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Health.Paused() || got.Health.LastError != "" {
		t.Fatalf("an old version's report paused the stream: %+v", got.Health)
	}
	wantPositions(t, s, st.ID, pos(acme, 4, 4, 0, 0))
	if err := s.AdvanceStream(ctx(t), st.ID, 2, nil, &stale); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Stream(ctx(t), acme.ID, st.ID); err != nil || !got.Health.Paused() {
		t.Fatalf("the current version's report did not pause: %+v, %v", got.Health, err)
	}
}

func testStreamReplays(t *testing.T, s stele.Store) {
	acme := mustAccount(t, s, "acme")
	st := mustStream(t, s, newStream(acme, "siem"), stele.StreamStartNow)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var made []*stele.StreamReplay
	for i := range 3 {
		r := &stele.StreamReplay{ID: fmt.Sprintf("rpl_%d", i), StreamID: st.ID, AccountID: acme.ID,
			After: t0.Add(time.Duration(i) * time.Hour), Before: t0.Add(time.Duration(i+1) * time.Hour), State: stele.ReplayPending}
		if err := s.CreateStreamReplay(ctx(t), r); err != nil {
			t.Fatal(err)
		}
		if r.CreatedAt.IsZero() {
			t.Fatal("CreateStreamReplay left CreatedAt zero")
		}
		made = append(made, r)
	}
	list, err := s.StreamReplays(ctx(t), st.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "rpl_2" || list[1].ID != "rpl_1" {
		t.Fatalf("replays %v, want the newest two, newest first", list)
	}
	if !reflect.DeepEqual(list[0], made[2]) {
		t.Fatalf("replay read back as %+v, want %+v", list[0], made[2])
	}
	r := made[0]
	r.State, r.CursorAccount, r.NextSeq, r.UntilSeq, r.Sent = stele.ReplayDone, acme.ID, 40, 40, 12
	r.Error, r.FinishedAt = "", t0.Add(48*time.Hour)
	if err := s.UpdateStreamReplay(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	list, err = s.StreamReplays(ctx(t), st.ID, 10)
	if err != nil || len(list) != 3 {
		t.Fatalf("replays %v, %v", list, err)
	}
	if !reflect.DeepEqual(list[2], r) {
		t.Fatalf("updated replay read back as %+v, want %+v", list[2], r)
	}
	wantCode(t, s.UpdateStreamReplay(ctx(t), &stele.StreamReplay{ID: "rpl_none", State: stele.ReplayDone}), stele.ENOTFOUND)
}

// testStreamsDeleteAccount: deleting an account deletes its streams (with
// their cursors and replays) and the cursors other streams kept of it.
func testStreamsDeleteAccount(t *testing.T, s stele.Store) {
	sys := mustAccount(t, s, stele.SystemAccount)
	acme, globex := mustAccount(t, s, "acme"), mustAccount(t, s, "globex")
	appendRows(t, s, acme.ID, []stele.EventRow{eventRow(acme.ID, 0)}, nil)
	appendRows(t, s, globex.ID, []stele.EventRow{eventRow(globex.ID, 0)}, nil)
	own := mustStream(t, s, newStream(acme, "siem"), stele.StreamStartNow)
	if err := s.CreateStreamReplay(ctx(t), &stele.StreamReplay{ID: "rpl_acme", StreamID: own.ID, AccountID: acme.ID,
		After: time.Unix(0, 0), Before: time.Now(), State: stele.ReplayPending}); err != nil {
		t.Fatal(err)
	}
	every := newStream(sys, "platform")
	every.AllAccounts = true
	mustStream(t, s, every, stele.StreamStartNow)
	if _, err := s.DeleteAccountEvents(ctx(t), acme.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx(t), acme.ID); err != nil {
		t.Fatal(err)
	}
	all, err := s.AllStreams(ctx(t))
	if err != nil || len(all) != 1 || all[0].ID != every.ID {
		t.Fatalf("streams after deleting acme: %v, %v", names(all), err)
	}
	wantPositions(t, s, own.ID)
	wantPositions(t, s, every.ID, pos(sys, 0, 0, 0, 0), pos(globex, 1, 0, 0, 1))

	if rs, err := s.StreamReplays(ctx(t), own.ID, 10); err != nil || len(rs) != 0 {
		t.Fatalf("replays of a deleted account's stream: %v, %v", rs, err)
	}
}
