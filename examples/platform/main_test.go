package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
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

func TestPlatformRecordsEventsOfSeveralKinds(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	srv := httptest.NewServer((&api.Server{Ingest: path.Ingest, Search: path.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping}).Handler())
	t.Cleanup(func() {
		srv.Close()
		path.Stop()
		db.Close()
	})
	acme := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, acme); err != nil {
		t.Fatal(err)
	}
	_, key, err := apikey.Issue(ctx, db, acme, []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead}, false, "platform", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	if err := run(ctx, srv.URL, key); err != nil {
		t.Fatal(err)
	}

	c, err := client.New(srv.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for e, err := range c.Query(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, e.Action)
		if e.Action == "project.deleted" && (e.Actor == nil || e.Actor.ID != "u_ada" || e.IP != "127.0.0.1" || e.RequestID == "") {
			t.Errorf("the handler's event %+v", e)
		}
	}
	for _, want := range []string{"user.login", "user.logout", "user.login_failed", "user.role_changed", "user.permissions_changed",
		"user.created", "integration.added", "settings.updated", "finding.generated", "finding.deleted", "project.deleted", "system.api_latency"} {
		if !slices.Contains(actions, want) {
			t.Errorf("no %s among %q", want, actions)
		}
	}
}
