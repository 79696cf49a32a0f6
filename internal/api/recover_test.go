package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stele-audit/stele/internal/api"
)

// TestMiddlewareEndsAPanickingRequestAlone: a panic before the response
// starts is a 500 in the API's error body; one after it has started cuts
// the connection, so that the client cannot take a truncated export for a
// whole one. Either way the log says where, never the panic's value or the
// query string. Before, the value was logged and a truncated body ended
// as if it were complete.
func TestMiddlewareEndsAPanickingRequestAlone(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /before", func(w http.ResponseWriter, r *http.Request) {
		panic("secret event text " + r.URL.RawQuery)
	})
	mux.HandleFunc("GET /after", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		io.WriteString(w, "id,action\r\nevt_1,user.login\r\n")
		http.NewResponseController(w).Flush()
		var events []string
		_ = events[len(r.URL.RawQuery)] // index out of range
	})
	mux.HandleFunc("GET /fine", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(api.Middleware(logger, mux))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/before?q=secret-query")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || err != nil || body.Error.Code != "internal" {
		t.Fatalf("panic before the response: %d %+v %v", resp.StatusCode, body, err)
	}

	resp, err = http.Get(srv.URL + "/after?q=secret-query")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("a body cut by a panic read as whole: %q", got)
	}

	if resp, err := http.Get(srv.URL + "/fine"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after the panics: %v", err)
	}
	out := logs.String()
	for _, want := range []string{"path=/before", "path=/after", "panic=string", "index out of range", "recover_test.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("the log holds the panic's value or the query:\n%s", out)
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
