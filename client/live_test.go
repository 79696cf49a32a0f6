package client_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

// liveServer is Stele's API on a SQLite file behind a real listener that
// can be stopped and started again on the same address, the store kept.
// Every POST /v1/events it serves is reported on posts with the number of
// events its body held.
type liveServer struct {
	t      *testing.T
	dbPath string
	addr   string
	sk     *ledger.SigningKey
	keys   map[string]string
	posts  chan int
	// intercept, when set, answers a request instead of Stele (or returns
	// false to let Stele answer).
	mu        sync.Mutex
	intercept func(w http.ResponseWriter, r *http.Request, stele http.Handler) bool

	running bool
	db      *sqlite.DB
	keyDB   *sqlite.KeyDB
	path    *datapath.Path
	hs      *http.Server
}

func startLive(t *testing.T) *liveServer {
	t.Helper()
	sk, _, err := ledger.NewSigningKey("stele.test")
	if err != nil {
		t.Fatal(err)
	}
	s := &liveServer{t: t, dbPath: filepath.Join(t.TempDir(), "stele.db"), sk: sk, keys: map[string]string{}, posts: make(chan int, 1000)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	ctx := t.Context()
	acme := &stele.Account{Name: "acme", Type: "team"}
	if err := s.db.CreateAccount(ctx, acme); err != nil {
		t.Fatal(err)
	}
	globex := &stele.Account{Name: "globex", Type: "team"}
	system := &stele.Account{Name: stele.SystemAccount, Type: "enterprise"}
	for _, a := range []*stele.Account{globex, system} {
		if err := s.db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, s.keys["operator"], err = apikey.Issue(ctx, s.db, system, []stele.Scope{stele.ScopeEventsWrite}, true, "operator", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, s.keys["globex"], err = apikey.Issue(ctx, s.db, globex, []stele.Scope{stele.ScopeEventsRead}, false, "globex", time.Now()); err != nil {
		t.Fatal(err)
	}
	for name, scopes := range map[string][]stele.Scope{
		"all":   {stele.ScopeEventsWrite, stele.ScopeEventsRead, stele.ScopeEventsExport},
		"write": {stele.ScopeEventsWrite},
	} {
		_, text, err := apikey.Issue(ctx, s.db, acme, scopes, false, name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.keys[name] = text
	}
	t.Cleanup(s.stop)
	return s
}

func (s *liveServer) URL() string { return "http://" + s.addr }

func (s *liveServer) serve(ln net.Listener) {
	t := s.t
	db, err := sqlite.Open(context.Background(), s.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	keys, err := sqlite.OpenKeys(context.Background(), s.dbPath+".keys")
	if err != nil {
		t.Fatal(err)
	}
	path := datapath.Start(db, keys, master, logger, ingest.WriterConfig{})
	cp := &integrity.Checkpointer{Accounts: db, Events: db, Store: db, Key: s.sk, OriginPrefix: "stele.test", Logger: logger}
	h := (&api.Server{Ingest: path.Ingest, Search: path.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping, Checkpoints: cp}).Handler()
	s.db, s.keyDB, s.path, s.running = db, keys, path, true
	s.hs = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.intercept
		s.mu.Unlock()
		if f != nil && f(w, r, h) {
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/v1/events" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case s.posts <- strings.Count(string(body), `"idempotency_key"`):
			default:
			}
		}
		h.ServeHTTP(w, r)
	})}
	go s.hs.Serve(ln)
}

// stop closes the listener and the store: the client sees connections refused.
func (s *liveServer) stop() {
	if !s.running {
		return
	}
	s.hs.Close()
	s.path.Stop()
	s.db.Close()
	s.keyDB.Close()
	s.running = false
}

// start serves again on the same address.
func (s *liveServer) start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

func (s *liveServer) setIntercept(f func(w http.ResponseWriter, r *http.Request, stele http.Handler) bool) {
	s.mu.Lock()
	s.intercept = f
	s.mu.Unlock()
}

func (s *liveServer) client(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(s.URL(), s.keys["all"], opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stored returns the account's events, oldest first.
func (s *liveServer) stored(t *testing.T) []stele.Event {
	t.Helper()
	c := s.client(t)
	var out []stele.Event
	for e, err := range c.Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b stele.Event) int { return int(a.Seq - b.Seq) })
	return out
}

// nextPost waits for the next POST /v1/events and returns its event count.
func (s *liveServer) nextPost(t *testing.T) int {
	t.Helper()
	select {
	case n := <-s.posts:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no POST /v1/events within 10s")
		return 0
	}
}
