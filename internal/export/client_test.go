package export_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/goldentest"
)

// TestClientEncodesEventsAsAppendEventJSON: the public client may import
// nothing internal, so its encoder of events (client/encode.go, which
// the recorder sends with) is a copy of this package's (metadata.go's
// JSON strings and values). Both must write the same JSON of the same
// event: here the client's body, as a server receives it, and
// AppendEventJSON read back alike, less the fields only Stele sets.
func TestClientEncodesEventsAsAppendEventJSON(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	evs := []stele.Event{*goldentest.RoleChange()}
	for _, e := range events() {
		evs = append(evs, *e)
	}
	evs = append(evs,
		stele.Event{Action: "a\x7f", Time: t0, Description: "<b>&</b> \u2028\u2029 \x00\x01\x1f\b\f\n\r\t \"\\ \xff\xfe é 😀 \xed\xa0\x80"},
		stele.Event{Action: "user.login", Time: t0, Account: "globex", Actor: &stele.Ref{ID: "u_1", Email: "e\bf\f"},
			Metadata: map[string]any{"z": nil, "a": false, "<": "&\b\f", "n": json.Number("-1.5e+3"), "s": "\x00\u2028"}},
	)

	for i := range evs {
		if evs[i].IdempotencyKey == "" { // the recorder would make one up
			evs[i].IdempotencyKey = fmt.Sprintf("k-%d", i)
		}
	}

	var mu sync.Mutex
	var sent []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("the client's body: %v", err)
		}
		mu.Lock()
		sent = append(sent, body.Events...)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"events":[]}`))
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "key")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := c.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(sent) != len(evs) {
		t.Fatalf("the client sent %d events, want %d", len(sent), len(evs))
	}
	for i := range evs {
		b, err := export.AppendEventJSON(nil, &evs[i])
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if k == "id" || k == "seq" || k == "received_at" || v == nil || v == "" {
				delete(want, k) // Stele's, or left out by a producer
			}
		}
		if !reflect.DeepEqual(sent[i], want) {
			t.Errorf("event %d:\nclient:           %v\nAppendEventJSON: %v", i, sent[i], want)
		}
	}
}
