package integrity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/search"
)

// liveServer is the API on a real store, behind a listener that can be
// made to lie: rewrite, when set, changes an answer before it leaves.
type liveServer struct {
	*stack
	key     *ledger.SigningKey
	api     *client.Client
	mu      sync.Mutex
	rewrite func(r *http.Request, body []byte) []byte
}

func newLiveServer(t *testing.T) *liveServer {
	t.Helper()
	ctx := t.Context()
	key, _, err := ledger.NewSigningKey("stele.local")
	if err != nil {
		t.Fatal(err)
	}
	s := &liveServer{stack: openStack(t, filepath.Join(t.TempDir(), "stele.db"), key), key: key}
	t.Cleanup(s.stop)
	acme := &stele.Account{Name: "acme", Type: "team"}
	if err := s.db.CreateAccount(ctx, acme); err != nil {
		t.Fatal(err)
	}
	_, text, err := apikey.Issue(ctx, s.db, acme, []stele.Scope{stele.ScopeEventsRead}, false, "auditor", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := (&api.Server{Ingest: s.ingest, Search: search.New(s.db, s.keys), Accounts: s.db, APIKeys: s.db,
		Logger: testLogger, Checkpoints: s.cp}).Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		s.mu.Lock()
		rw := s.rewrite
		s.mu.Unlock()
		if rw != nil && rec.Code == http.StatusOK {
			body = rw(r, body)
		}
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	if s.api, err = client.New(srv.URL, text); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *liveServer) lie(rw func(r *http.Request, body []byte) []byte) {
	s.mu.Lock()
	s.rewrite = rw
	s.mu.Unlock()
}

// editJSON decodes a JSON answer, lets edit change it, and encodes it again.
func editJSON(t *testing.T, body []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRemoteVerifierTrustsAKeyThenRequiresEveryCheckpointToExtendTheLast(t *testing.T) {
	ctx := t.Context()
	s := newLiveServer(t)
	s.record(t, "acme", 30, 0)
	v := &integrity.RemoteVerifier{API: s.api, Samples: 5}
	state := &integrity.TrustState{}

	for key, rule := range map[string]string{"": "required", "not a key": "format"} {
		if _, err := v.Verify(ctx, state, key); stele.ErrorCode(err) != stele.EINVALID || !strings.Contains(err.Error(), "public-key "+rule) {
			t.Errorf("public key %q: %v", key, err)
		}
	}
	other, _, _ := ledger.NewSigningKey("stele.local")
	rep, err := v.Verify(ctx, state, other.VerifierKey)
	if err != nil || rep.OK() || !errors.Is(rep.Signature, ledger.ErrSignature) || len(state.Logs) != 0 {
		t.Fatalf("another key: %+v %v; state %+v", rep, err, state)
	}

	rep, err = v.Verify(ctx, state, s.key.VerifierKey)
	if err != nil || !rep.OK() || rep.Size != 30 || rep.Trusted != 0 || len(rep.Events) != 5 {
		t.Fatalf("first verify: %+v %v", rep, err)
	}
	origin := s.cp.Origin("acme")
	if l := state.Logs[origin]; l.Size != 30 || l.PublicKey != s.key.VerifierKey || l.Note == "" {
		t.Fatalf("state after the first verify: %+v", state)
	}
	path := filepath.Join(t.TempDir(), "stele", "verify-state.json")
	if err := state.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := integrity.LoadTrustState(path)
	if fi, _ := os.Stat(path); err != nil || !reflect.DeepEqual(back, state) || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state saved and loaded: %+v %v", back, err)
	}

	// The log grows: the key comes from the state, consistency is proven.
	s.record(t, "acme", 10, 30)
	if _, err := s.cp.SignAll(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = v.Verify(ctx, state, "")
	if err != nil || !rep.OK() || rep.Trusted != 30 || rep.Size != 40 || state.Logs[origin].Size != 40 {
		t.Fatalf("after growth: %+v %v", rep, err)
	}

	// A state that trusted another tree of the same size (a fork shown to
	// someone else), or a longer one (a rollback since), refuses the log
	// and keeps what it trusted.
	forked := &integrity.TrustState{Logs: map[string]integrity.TrustedLog{origin: state.Logs[origin]}}
	l := forked.Logs[origin]
	l.Root = base64.StdEncoding.EncodeToString(make([]byte, 32))
	forked.Logs[origin] = l
	rep, err = v.Verify(ctx, forked, "")
	if err != nil || rep.OK() || !errors.Is(rep.Consistency, ledger.ErrProof) || forked.Logs[origin] != l {
		t.Fatalf("a fork: %+v %v", rep, err)
	}
	l.Size = 100
	forked.Logs[origin] = l
	rep, err = v.Verify(ctx, forked, "")
	if err != nil || rep.OK() || rep.Consistency == nil || !strings.Contains(rep.Consistency.Error(), "rollback: the log shrank from 100 to 40 events") {
		t.Fatalf("a rollback: %+v %v", rep, err)
	}
}

func TestRemoteVerifierFollowsACheckpointSignedSinceTheOneVerified(t *testing.T) {
	s := newLiveServer(t)
	s.record(t, "acme", 12, 0)
	// Between the checkpoint and the listing, five more events arrive: their
	// proofs lead to a checkpoint signed for them, which must extend it.
	var once sync.Once
	s.lie(func(r *http.Request, body []byte) []byte {
		if r.URL.Path == "/v1/checkpoint" {
			once.Do(func() { s.record(t, "acme", 5, 12) })
		}
		return body
	})
	v := &integrity.RemoteVerifier{API: s.api, Samples: 200}
	rep, err := v.Verify(t.Context(), &integrity.TrustState{}, s.key.VerifierKey)
	if err != nil || !rep.OK() || rep.Size != 12 || len(rep.Events) != 17 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestRemoteVerifierCatchesEventsTheServerAltered(t *testing.T) {
	s := newLiveServer(t)
	s.record(t, "acme", 20, 0)
	if _, err := s.cp.SignAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	proven := func(edit func(e map[string]any)) func(r *http.Request, body []byte) []byte {
		return func(r *http.Request, body []byte) []byte {
			if !strings.HasPrefix(r.URL.Path, "/v1/events/") {
				return body
			}
			return editJSON(t, body, func(m map[string]any) { edit(m["event"].(map[string]any)) })
		}
	}
	for _, tc := range []struct {
		name    string
		rewrite func(r *http.Request, body []byte) []byte
		want    string
	}{
		{"the description of the event with its proof", proven(func(e map[string]any) { e["description"] = "nothing happened" }), ""},
		{"metadata no stored event can hold", proven(func(e map[string]any) { e["metadata"] = map[string]any{"n": map[string]any{"deep": true}} }), `metadata "n"`},
		{"the time it was received", proven(func(e map[string]any) { e["received_at"] = "2020-01-01T00:00:00Z" }), ""},
		{"the event as listed", func(r *http.Request, body []byte) []byte {
			if r.URL.Path != "/v1/events" {
				return body
			}
			return editJSON(t, body, func(m map[string]any) {
				for _, e := range m["events"].([]any) {
					e.(map[string]any)["outcome"] = "failure"
				}
			})
		}, "as listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.lie(tc.rewrite)
			defer s.lie(nil)
			state := &integrity.TrustState{}
			rep, err := (&integrity.RemoteVerifier{API: s.api, Samples: 200}).Verify(t.Context(), state, s.key.VerifierKey)
			if err != nil || rep.OK() || len(rep.Events) != 20 || len(state.Logs) != 0 {
				t.Fatalf("%+v %v; state %+v", rep, err, state)
			}
			for _, e := range rep.Events {
				if e.Err == nil || tc.want == "" && !errors.Is(e.Err, integrity.ErrEventAltered) || !strings.Contains(e.Err.Error(), tc.want) {
					t.Fatalf("event %s (seq %d): %v", e.ID, e.Seq, e.Err)
				}
			}
		})
	}
	rep, err := (&integrity.RemoteVerifier{API: s.api, Samples: 200}).Verify(context.Background(), &integrity.TrustState{}, s.key.VerifierKey)
	if err != nil || !rep.OK() {
		t.Fatalf("the honest server: %+v %v", rep, err)
	}
}
