package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// server is Stele's API on a real SQLite store behind a real listener,
// with tamper evidence on, and keys of the account acme.
type server struct {
	srv  *httptest.Server
	cp   *integrity.Checkpointer
	sk   *ledger.SigningKey
	keys map[string]string // all, read, write → key text
}

func newServer(t *testing.T) *server {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	sk, _, err := ledger.NewSigningKey("stele.test")
	if err != nil {
		t.Fatal(err)
	}
	cp := &integrity.Checkpointer{Accounts: db, Events: db, Store: db, Key: sk, OriginPrefix: "stele.test", Logger: logger}
	api := &api.Server{Ingest: path.Ingest, Search: path.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping, Checkpoints: cp}
	s := &server{srv: httptest.NewServer(api.Handler()), cp: cp, sk: sk, keys: map[string]string{}}
	t.Cleanup(func() {
		s.srv.Close()
		path.Stop()
		db.Close()
	})
	// A century's retention: the tests send events at fixed dates, which
	// team's 90 days would hide some months on.
	century := stele.MaxRetentionDays
	acme := &stele.Account{Name: "acme", Type: "team", RetentionDays: &century}
	if err := db.CreateAccount(ctx, acme); err != nil {
		t.Fatal(err)
	}
	for name, scopes := range map[string][]stele.Scope{
		"all":   {stele.ScopeEventsWrite, stele.ScopeEventsRead, stele.ScopeEventsExport},
		"read":  {stele.ScopeEventsRead},
		"write": {stele.ScopeEventsWrite},
	} {
		_, text, err := apikey.Issue(ctx, db, acme, scopes, false, name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.keys[name] = text
	}
	return s
}

func (s *server) client(t *testing.T, key string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(s.srv.URL, s.keys[key], opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendN stores n events user.login with actor u_from … through the client.
func sendN(t *testing.T, c *client.Client, n, from int) []stele.Receipt {
	t.Helper()
	events := make([]stele.Event, n)
	for i := range events {
		events[i] = stele.Event{Action: "user.login", Actor: &stele.Ref{ID: fmt.Sprintf("u_%d", from+i)},
			Description: fmt.Sprintf("login %d", from+i), Metadata: map[string]any{"n": from + i}}
	}
	r, err := c.Send(t.Context(), events...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSendStoresEventsAndEventReadsThemBack(t *testing.T) {
	s := newServer(t)
	c := s.client(t, "all")
	ctx := t.Context()
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.FixedZone("CET", 3600))
	one, err := c.Send(ctx, stele.Event{Time: at, Action: "user.role_changed", Outcome: stele.OutcomeSuccess,
		Actor:  &stele.Ref{Type: "user", ID: "u_123", Name: "Ada Lovelace", Email: "ada@acme.io"},
		Target: &stele.Ref{Type: "user", ID: "u_456", Name: "Bob"}, IP: "203.0.113.7",
		Description: "Ada changed Bob's role", IdempotencyKey: "k-1",
		Metadata: map[string]any{"role_before": "viewer", "attempt": json.Number("1.50"), "mfa": true, "note": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].ID == "" || one[0].Seq != 0 || one[0].Account != "acme" || one[0].LeafHash == "" {
		t.Fatalf("receipts %+v", one)
	}
	e, err := c.Event(ctx, one[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(at) || e.Action != "user.role_changed" || e.Category != "user_management" || e.Actor.Email != "ada@acme.io" ||
		e.Target.Name != "Bob" || e.IP != "203.0.113.7" || e.IdempotencyKey != "k-1" || e.ReceivedAt.IsZero() {
		t.Fatalf("event read back: %+v", e)
	}
	// Metadata numbers come back exact, as the leaf hash commits to them.
	if got := e.Metadata["attempt"]; got != json.Number("1.50") || e.Metadata["mfa"] != true || e.Metadata["note"] != nil {
		t.Fatalf("metadata read back: %#v", e.Metadata)
	}

	// A replayed idempotency key gets the original receipt.
	again, err := c.Send(ctx, stele.Event{Action: "user.role_changed", IdempotencyKey: "k-1"})
	if err != nil || len(again) != 1 || again[0].ID != one[0].ID || !again[0].Replayed {
		t.Fatalf("replay: %+v %v", again, err)
	}

	// A batch is stored in order; a zero time is the server's.
	before := time.Now()
	batch := sendN(t, c, 3, 0)
	for i, r := range batch {
		if r.Seq != int64(1+i) {
			t.Fatalf("batch receipts %+v", batch)
		}
	}
	if e, err := c.Event(ctx, batch[2].ID); err != nil || e.Description != "login 2" || e.Time.Before(before.Add(-time.Second)) {
		t.Fatalf("batch event: %+v %v", e, err)
	}

	raw, err := c.SendRaw(ctx, []byte(`{"events":[{"action":"user.logout"},{"action":"user.login"}]}`))
	if err != nil || len(raw) != 2 || raw[0].Seq != 4 || raw[1].Seq != 5 {
		t.Fatalf("raw batch: %+v %v", raw, err)
	}
	if raw, err := c.SendRaw(ctx, []byte(`{"action":"user.logout"}`)); err != nil || len(raw) != 1 || raw[0].Seq != 6 {
		t.Fatalf("raw event: %+v %v", raw, err)
	}
	if _, err := c.Send(ctx); stele.ErrorCode(err) != stele.EINVALID {
		t.Fatalf("no events: %v", err)
	}
}

func TestEventsPagesAndAllFollowsCursors(t *testing.T) {
	s := newServer(t)
	c := s.client(t, "all")
	ctx := t.Context()
	sendN(t, c, 25, 0)
	if _, err := c.Send(ctx, stele.Event{Action: "user.logout", Actor: &stele.Ref{ID: "u_3"}}); err != nil {
		t.Fatal(err)
	}

	p, err := c.Events(ctx, "action:user.login", 10, "")
	if err != nil || len(p.Events) != 10 || p.NextCursor == "" || p.Events[0].Description != "login 24" {
		t.Fatalf("first page: %v %+v", err, p)
	}
	p2, err := c.Events(ctx, "action:user.login", 10, p.NextCursor)
	if err != nil || len(p2.Events) != 10 || p2.Events[0].Description != "login 14" {
		t.Fatalf("second page: %v %+v", err, p2)
	}
	if p, err := c.Events(ctx, "actor:u_3", 0, ""); err != nil || len(p.Events) != 2 || p.NextCursor != "" {
		t.Fatalf("a last page: %v %+v", err, p)
	}

	var got []string
	for e, err := range c.All(ctx, "action:user.login", 7) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Description)
	}
	if len(got) != 25 || got[0] != "login 24" || got[24] != "login 0" {
		t.Fatalf("All yielded %d events: %q", len(got), got)
	}
	n := 0
	for range c.All(ctx, "", 5) {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("breaking out of All: %d", n)
	}

	// A bad query ends the sequence with the API's error, naming the field.
	for _, err := range c.All(ctx, "after:yesterday-ish", 0) {
		var se *stele.Error
		if !errors.As(err, &se) || se.Code != stele.EINVALID {
			t.Fatalf("bad query: %v", err)
		}
	}
}

func TestAPIErrorsComeBackAsSteleErrors(t *testing.T) {
	s := newServer(t)
	ctx := t.Context()

	// Every bad event of a batch, by index and field, with the status.
	_, err := s.client(t, "all").SendRaw(ctx, []byte(`{"events":[{"action":"user.login"},{"action":"Not An Action"},{"action":"user.login","ip":"nope"}]}`))
	var status *client.StatusError
	var se *stele.Error
	if !errors.As(err, &status) || status.StatusCode != http.StatusBadRequest || !errors.As(err, &se) || se.Code != stele.EINVALID {
		t.Fatalf("invalid batch: %T %v", err, err)
	}
	if len(se.Details) != 2 || se.Details[0].Index != 1 || se.Details[0].Field != "action" || se.Details[1].Index != 2 || se.Details[1].Field != "ip" {
		t.Fatalf("details %+v", se.Details)
	}
	if !strings.HasPrefix(err.Error(), "400 Bad Request: ") {
		t.Errorf("error text %q", err)
	}

	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   stele.Code
	}{
		{"wrong key", func() error {
			c, _ := client.New(s.srv.URL, "stele_wrong")
			_, err := c.Events(ctx, "", 0, "")
			return err
		}, 401, stele.EUNAUTHORIZED},
		{"read key writes", func() error {
			_, err := s.client(t, "read").Send(ctx, stele.Event{Action: "user.login"})
			return err
		}, 403, stele.EFORBIDDEN},
		{"write key exports", func() error {
			_, err := s.client(t, "write").Export(ctx, io.Discard, "", "csv")
			return err
		}, 403, stele.EFORBIDDEN},
		{"unknown event", func() error {
			acct, _, _ := stele.ParseEventID(sendN(t, s.client(t, "all"), 1, 0)[0].ID)
			_, err := s.client(t, "read").Event(ctx, stele.EventID(acct, 999))
			return err
		}, 404, stele.ENOTFOUND},
		{"unknown format", func() error {
			_, err := s.client(t, "all").Export(ctx, io.Discard, "", "xls")
			return err
		}, 400, stele.EINVALID},
		{"proof of a seq beyond the tree", func() error {
			_, err := s.client(t, "read").InclusionProof(ctx, 5, 0)
			return err
		}, 400, stele.EINVALID},
	} {
		err := tc.call()
		if !errors.As(err, &status) || status.StatusCode != tc.status || stele.ErrorCode(err) != tc.code || stele.ErrorMessage(err) == "" {
			t.Errorf("%s: %T %v, want %d %s", tc.name, err, err, tc.status, tc.code)
		}
	}
}

func TestAnswersThatAreNotTheAPIsStillGiveAnError(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/events":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<h1>Bad gateway</h1>\x1b]0;pwned\x07\r\nupstream down")
		case "/v1/checkpoint":
			io.WriteString(w, `{"origin":"x","size":1,"root":"not base64!","note":""}`)
		default:
			io.WriteString(w, `{"events": [`) // cut short
		}
	}))
	defer proxy.Close()
	c, err := client.New(proxy.URL, "k")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(t.Context(), stele.Event{Action: "user.login"})
	var status *client.StatusError
	if !errors.As(err, &status) || status.StatusCode != 502 || stele.ErrorCode(err) != stele.EINTERNAL {
		t.Fatalf("a proxy's 502: %T %v", err, err)
	}
	if msg := stele.ErrorMessage(err); !strings.Contains(msg, "502 Bad Gateway") || !strings.Contains(msg, "upstream down") || strings.ContainsAny(msg, "\x1b\x07\r\n") {
		t.Fatalf("message %q", msg)
	}
	if _, err := c.Checkpoint(t.Context()); err == nil || !strings.Contains(err.Error(), "not a base64 SHA-256 hash") {
		t.Fatalf("a checkpoint with a bad root: %v", err)
	}
	if _, err := c.Event(t.Context(), "evt_1"); err == nil || !strings.Contains(err.Error(), "GET /v1/events/evt_1: reading the answer") {
		t.Fatalf("a cut answer: %v", err)
	}
}

func TestNetworkErrorsNameTheRequest(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := client.New(url+"/prefix/", "k")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(t.Context(), stele.Event{Action: "user.login"})
	if err == nil || !strings.Contains(err.Error(), "POST "+url+"/prefix/v1/events: ") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("refused connection: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Events(ctx, "", 0, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestExportWritesTheFormatAsked(t *testing.T) {
	s := newServer(t)
	c := s.client(t, "all")
	sendN(t, c, 4, 0)
	var csv, jsonl bytes.Buffer
	n, err := c.Export(t.Context(), &csv, "actor:u_1", client.FormatCSV)
	if err != nil || n != int64(csv.Len()) || strings.Count(csv.String(), "\n") != 2 || !strings.Contains(csv.String(), "login 1") {
		t.Fatalf("CSV export (%d bytes, %v):\n%s", n, err, csv.String())
	}
	// The CSV export is in the log, and in the JSON Lines export after it.
	if _, err := c.Export(t.Context(), &jsonl, "", ""); err != nil || strings.Count(jsonl.String(), "\n") != 5 {
		t.Fatalf("JSON Lines export (%v):\n%s", err, jsonl.String())
	}
	// The export was recorded in the account's log, with the client's name.
	p, err := c.Events(t.Context(), "action:audit_log.exported", 0, "")
	if err != nil || len(p.Events) != 2 || p.Events[0].UserAgent != client.DefaultUserAgent {
		t.Fatalf("recorded exports: %v %+v", err, p)
	}
}

func TestCheckpointAndProofsVerifyAgainstTheSigningKey(t *testing.T) {
	s := newServer(t)
	c := s.client(t, "all")
	ctx := t.Context()
	first := sendN(t, c, 10, 0)
	cp10, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body10, err := ledger.OpenCheckpoint([]byte(cp10.Note), s.sk.Verifier)
	if err != nil || body10.Size != 10 || first[9].Seq != 9 || cp10.Size != 10 || cp10.Origin != body10.Origin || cp10.Root != body10.Root {
		t.Fatalf("checkpoint %+v: %+v %v", cp10, body10, err)
	}
	later := sendN(t, c, 17, 10)
	if _, err := s.cp.SignAll(ctx); err != nil {
		t.Fatal(err)
	}
	cp27, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body27, err := ledger.OpenCheckpoint([]byte(cp27.Note), s.sk.Verifier)
	if err != nil || body27.Size != 27 {
		t.Fatalf("checkpoint 27: %+v %v", body27, err)
	}

	inc, err := c.InclusionProof(ctx, 13, 27)
	if err != nil || inc.Seq != 13 || inc.Size != 27 || inc.Root != body27.Root {
		t.Fatalf("inclusion: %+v %v", inc, err)
	}
	if err := ledger.VerifyInclusion(inc.LeafHash, 13, 27, inc.Hashes, body27.Root); err != nil {
		t.Fatal(err)
	}
	if latest, err := c.InclusionProof(ctx, 3, 0); err != nil || latest.Size != 27 {
		t.Fatalf("inclusion in the latest tree: %+v %v", latest, err)
	}
	cons, err := c.ConsistencyProof(ctx, 10, 0)
	if err != nil || cons.From != 10 || cons.To != 27 || cons.FromRoot != body10.Root || cons.ToRoot != body27.Root {
		t.Fatalf("consistency: %+v %v", cons, err)
	}
	if err := ledger.VerifyConsistency(10, 27, body10.Root, body27.Root, cons.Hashes); err != nil {
		t.Fatal(err)
	}

	// An event with its proof: the leaf recomputed from the event as the
	// client decoded it is the one the proof starts from.
	ep, err := c.EventWithProof(ctx, later[10].ID)
	if err != nil {
		t.Fatal(err)
	}
	leaf := ledger.LeafHash(record.AppendCanonical(nil, &ep.Event))
	epBody, err := ledger.OpenCheckpoint([]byte(ep.Checkpoint), s.sk.Verifier)
	if err != nil || leaf != ep.Proof.LeafHash || ep.Event.Seq != 20 {
		t.Fatalf("event with proof: %+v %v", ep, err)
	}
	if err := ledger.VerifyInclusion(leaf, 20, epBody.Size, ep.Proof.Hashes, epBody.Root); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesWhatCannotBeSent(t *testing.T) {
	for _, tc := range []struct {
		url, key, ua string
		field        string
	}{
		{"127.0.0.1:8080", "k", "", "url"},
		{"ftp://host", "k", "", "url"},
		{"http://", "k", "", "url"},
		{"http://user:pw@host", "k", "", "url"},
		{"http://host/?q=1", "k", "", "url"},
		{"http://host", "", "", "key"},
		{"http://host", "k\r\nX-Evil: 1", "", "key"},
		{"http://host", "k", "ua\n", "user_agent"},
	} {
		var opts []client.Option
		if tc.ua != "" {
			opts = append(opts, client.WithUserAgent(tc.ua))
		}
		_, err := client.New(tc.url, tc.key, opts...)
		var se *stele.Error
		if !errors.As(err, &se) || se.Code != stele.EINVALID || len(se.Details) != 1 || se.Details[0].Field != tc.field {
			t.Errorf("New(%q, %q, ua %q): %v, want an error on %s", tc.url, tc.key, tc.ua, err, tc.field)
		}
	}
}

func TestEventIDCannotReachAnotherEndpoint(t *testing.T) {
	s := newServer(t)
	c := s.client(t, "all")
	sendN(t, c, 2, 0)
	for _, id := range []string{"", "../export", "x?format=csv", "../../healthz"} {
		if e, err := c.Event(t.Context(), id); err == nil || stele.ErrorCode(err) == stele.EINTERNAL {
			t.Errorf("Event(%q) = %+v, %v", id, e, err)
		}
	}
}

// countingTransport counts the requests through it and the User-Agents they carried.
type countingTransport struct {
	n      atomic.Int64
	agents atomic.Value
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	c.agents.Store(r.Header.Get("User-Agent"))
	return http.DefaultTransport.RoundTrip(r)
}

func TestOptionsChooseTheTransportAndUserAgent(t *testing.T) {
	s := newServer(t)
	rt := &countingTransport{}
	c := s.client(t, "all", client.WithTransport(rt), client.WithUserAgent("acme-backend/2.1"))
	sendN(t, c, 1, 0)
	if _, err := c.Events(t.Context(), "", 0, ""); err != nil {
		t.Fatal(err)
	}
	if rt.n.Load() != 2 || rt.agents.Load() != "acme-backend/2.1" {
		t.Fatalf("%d requests through the transport, User-Agent %v", rt.n.Load(), rt.agents.Load())
	}
}

func TestRedirectsAreReportedNotFollowed(t *testing.T) {
	// Followed, the POST would become a GET of a list that reads as
	// receipts of events that were never stored.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/events" {
			http.Redirect(w, r, "/elsewhere/v1/events", http.StatusMovedPermanently)
			return
		}
		io.WriteString(w, `{"events":[{"id":"evt_1","seq":1,"account":"acme"}],"next_cursor":null}`)
	}))
	defer srv.Close()
	for name, opt := range map[string]client.Option{
		"the default transport":            client.WithTransport(nil),
		"an http.Client that follows them": client.WithHTTPClient(&http.Client{}),
	} {
		c, err := client.New(srv.URL, "k", opt)
		if err != nil {
			t.Fatal(err)
		}
		receipts, err := c.Send(t.Context(), stele.Event{Action: "user.login"})
		var status *client.StatusError
		if !errors.As(err, &status) || status.StatusCode != http.StatusMovedPermanently || !strings.Contains(err.Error(), "to /elsewhere/v1/events") {
			t.Errorf("%s: a redirected POST: %+v %v", name, receipts, err)
		}
	}
}
