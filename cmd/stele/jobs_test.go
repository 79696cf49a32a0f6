package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
