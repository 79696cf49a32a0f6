package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// proofEnv is the API with tamper evidence on, behind a real listener.
type proofEnv struct {
	srv *httptest.Server
	key string
	sk  *ledger.SigningKey
	cp  *integrity.Checkpointer
}

func newProofEnv(t *testing.T) *proofEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	sk, _, _ := ledger.NewSigningKey("stele.test")
	cp := &integrity.Checkpointer{Accounts: db, Events: db, Store: db, Key: sk, OriginPrefix: "stele.test", Logger: logger}
	s := &api.Server{Ingest: c.Ingest, Search: c.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping, Checkpoints: cp}
	e := &proofEnv{srv: httptest.NewServer(s.Handler()), sk: sk, cp: cp}
	t.Cleanup(func() {
		e.srv.Close()
		c.Stop()
		db.Close()
	})
	// A century's retention, as newEnv's: TestOpenAPIMatchesTheAPI sends an
	// event at a fixed date, which team's 90 days would hide some months on.
	century := stele.MaxRetentionDays
	acct := &stele.Account{Name: "acme", Type: "team", RetentionDays: &century}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	_, e.key, err = apikey.Issue(ctx, db, acct, []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead, stele.ScopeEventsExport}, false, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *proofEnv) get(t *testing.T, path, accept string, v any) string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return string(b)
}

func (e *proofEnv) post(t *testing.T, n, from int) {
	t.Helper()
	var evs []string
	for i := range n {
		evs = append(evs, fmt.Sprintf(`{"action":"user.login","actor":{"id":"u_%d","email":"u%d@acme.io"},"metadata":{"n":%d,"ok":true}}`, from+i, from+i, from+i))
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/events", strings.NewReader(`{"events":[`+strings.Join(evs, ",")+`]}`))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
}

func unb64(t *testing.T, ss ...string) []ledger.Hash {
	t.Helper()
	out := make([]ledger.Hash, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("bad hash %q", s)
		}
		out[i] = ledger.Hash(b)
	}
	return out
}

func TestCheckpointAndProofsVerify(t *testing.T) {
	e := newProofEnv(t)
	e.post(t, 10, 0)
	note10 := e.get(t, "/v1/checkpoint", "", nil)
	c10, err := ledger.OpenCheckpoint([]byte(note10), e.sk.Verifier)
	if err != nil || c10.Size != 10 || c10.Origin != "stele.test/acme" {
		t.Fatalf("checkpoint %+v, %v", c10, err)
	}
	e.post(t, 27, 10)
	if _, err := e.cp.SignAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	var cj struct {
		Size int64  `json:"size"`
		Note string `json:"note"`
	}
	e.get(t, "/v1/checkpoint", "application/json", &cj)
	c37, err := ledger.OpenCheckpoint([]byte(cj.Note), e.sk.Verifier)
	if err != nil || cj.Size != 37 || c37.Size != 37 {
		t.Fatalf("latest checkpoint %+v, %v", cj, err)
	}
	if old := e.get(t, "/v1/checkpoint?size=10", "", nil); old != note10 {
		t.Fatal("?size=10 is not the first checkpoint")
	}
	var inc struct {
		Seq      int64    `json:"seq"`
		Size     int64    `json:"size"`
		LeafHash string   `json:"leaf_hash"`
		Proof    []string `json:"proof"`
	}
	e.get(t, "/v1/proofs/inclusion?seq=21&size=37", "", &inc)
	if err := ledger.VerifyInclusion(unb64(t, inc.LeafHash)[0], 21, 37, unb64(t, inc.Proof...), c37.Root); err != nil {
		t.Fatal(err)
	}
	var cons struct {
		Proof []string `json:"proof"`
	}
	e.get(t, "/v1/proofs/consistency?from=10&to=37", "", &cons)
	if err := ledger.VerifyConsistency(10, 37, c10.Root, c37.Root, unb64(t, cons.Proof...)); err != nil {
		t.Fatal(err)
	}
	// An event newer than the latest checkpoint gets a fresh one.
	e.post(t, 1, 37)
	var ev struct {
		Event      stele.Event `json:"event"`
		Proof      struct{ Proof []string }
		Checkpoint string `json:"checkpoint"`
	}
	e.get(t, "/v1/events/"+stele.EventID(1, 37)+"?proof=true", "", &ev)
	if ev.Event.Seq != 37 {
		t.Fatalf("event %+v (account id 1 assumed for acme? check)", ev.Event)
	}
	bundleText := e.get(t, "/v1/export?format=bundle&q=action:user.login", "", nil)
	b, err := export.DecodeBundle(strings.NewReader(bundleText))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := export.VerifyBundle(b, e.sk.Verifier)
	if err != nil || len(rep.Failures) != 0 || rep.Events != 38 || rep.Size != 38 {
		t.Fatalf("bundle report %+v, %v", rep, err)
	}
	// An altered event in the bundle is caught.
	b.Events[3].Event.Description = "nothing to see"
	if rep, _ := export.VerifyBundle(b, e.sk.Verifier); len(rep.Failures) != 1 {
		t.Fatalf("altered bundle: %+v", rep)
	}
}
