package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// TestRunStoresWhatItReportsOnTheRealAPI drives Stele's API on a real
// SQLite store: every event the report counts is stored, and no other.
func TestRunStoresWhatItReportsOnTheRealAPI(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{4}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	defer path.Stop()
	srv := httptest.NewServer((&api.Server{Ingest: path.Ingest, Search: path.Search, Accounts: db, APIKeys: db, Logger: logger}).Handler())
	defer srv.Close()
	acme := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, acme); err != nil {
		t.Fatal(err)
	}
	_, key, err := apikey.Issue(ctx, db, acme, []stele.Scope{stele.ScopeEventsWrite}, false, "load", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 40} {
		before, err := db.CurrentHead(ctx, acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(ctx, Config{URL: srv.URL, Key: key, Concurrency: 3, Batch: batch, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		after, err := db.CurrentHead(ctx, acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 0 || res.Events == 0 || after.Size-before.Size != res.Events || res.Events != int64(batch)*res.Requests {
			t.Fatalf("batch %d: %+v; the store grew by %d events", batch, res, after.Size-before.Size)
		}
	}
}

func TestConnCarriesRequestsOneAtATime(t *testing.T) {
	s, srv := newIngestServer(t)
	c := &conn{t: mustTarget(t, srv.URL)}
	defer c.close()
	api, err := client.New(srv.URL, "sk_test", client.WithTransport(c))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := api.SendRaw(t.Context(), []byte(`{"action":"user.login","time":"`+time.Now().UTC().Format(time.RFC3339Nano)+`"}`)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if s.requests.Load() != 40 || s.conns.Load() != 1 {
		t.Fatalf("%d requests on %d connections, want 40 on 1", s.requests.Load(), s.conns.Load())
	}
}

func TestConnEndsARequestWhenTheCallerGivesUp(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c := &conn{t: mustTarget(t, srv.URL)}
	defer c.close()
	api, err := client.New(srv.URL, "k", client.WithTransport(c))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-arrived; cancel() }()
	if _, err := api.SendRaw(ctx, []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("a request the caller gave up on: %v", err)
	}
	if c.nc != nil {
		t.Fatal("the connection of an abandoned request stays open")
	}
}

func TestConnRefusesARequestForAnotherServer(t *testing.T) {
	c := &conn{t: mustTarget(t, "http://127.0.0.1:1")}
	api, err := client.New("http://127.0.0.2:1", "k", client.WithTransport(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.SendRaw(t.Context(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "on the connection to 127.0.0.1:1") {
		t.Fatalf("a request for another server: %v", err)
	}
}

func mustTarget(t testing.TB, url string) *target {
	t.Helper()
	tg, err := newTarget(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
