package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestExportsAreRecordedWhateverTheClientSends: the record of an export
// (and of a refused one) is kept when the client's User-Agent is longer
// than an event may carry; before, validation refused the record and the
// export left no trace in the audit log.
func TestExportsAreRecordedWhateverTheClientSends(t *testing.T) {
	e := newEnv(t)
	e.mustPost("acme", loginEvent)
	agent := strings.Repeat("Mozilla/5.0 ", 200) // 2400 bytes
	for key, want := range map[string]int{"acme": http.StatusOK, "acme-read": http.StatusForbidden} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/export?format=jsonl", nil)
		req.Header.Set("Authorization", "Bearer "+e.keys[key])
		req.Header.Set("User-Agent", agent)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: %d, want %d", key, resp.StatusCode, want)
		}
	}
	for _, action := range []string{"audit_log.exported", "audit_log.denied"} {
		got := e.list("acme", "action:"+action, 10, "").Events
		if len(got) != 1 {
			t.Fatalf("%d %s events, want 1", len(got), action)
		}
		if ua, _ := got[0].Metadata["invalid.user_agent"].(string); !strings.HasPrefix(agent, ua) || ua == "" || got[0].UserAgent != "" {
			t.Fatalf("%s: user agent %q, metadata %v", action, got[0].UserAgent, got[0].Metadata)
		}
	}
}
