package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/metrics"
)

// TestServedHandlerEndsAPanicAlone: whatever serve serves beside the API
// and the console ends a panicking request with a 500, and is measured.
func TestServedHandlerEndsAPanicAlone(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	j := &serveJobs{metrics: metrics.New(metrics.Config{Logger: logger}), logger: logger}
	srv := httptest.NewServer(j.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("secret")
		}
		io.WriteString(w, "fine")
	}), ""))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/boom?q=secret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("panicking request: %d", resp.StatusCode)
	}
	if resp, err := http.Get(srv.URL + "/other"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after it: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, "path=/boom") || strings.Contains(out, "secret") {
		t.Fatalf("log: %s", out)
	}
}

// panickingAccounts panics whenever the accounts are listed.
type panickingAccounts struct{ stele.AccountStore }

func (panickingAccounts) Accounts(context.Context) ([]*stele.Account, error) { panic("secret") }

// TestCheckpointJobStopsCleanlyAfterPanics: the signing rounds and the last
// signing at shutdown may panic; the job logs them and stops as asked.
func TestCheckpointJobStopsCleanlyAfterPanics(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	cp := &integrity.Checkpointer{Accounts: panickingAccounts{}, Logger: logger}
	stop := startCheckpointJob(t.Context(), leader.Local{Logger: logger}, cp, time.Hour)
	stop()
	if out := logs.String(); !strings.Contains(out, "sign checkpoints at shutdown") || !strings.Contains(out, "panic=string") || strings.Contains(out, "secret") {
		t.Fatalf("log: %s", out)
	}
}

// lockedBuffer is a log the server's goroutines write while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
