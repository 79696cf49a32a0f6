package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// eventOfSize returns a valid event whose JSON text is exactly n bytes.
func eventOfSize(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"action":"user.login","metadata":{`, `}}`
	var parts []string
	room := n - len(head) - len(tail)
	for k := 0; room > 0; k++ {
		if k > 0 {
			room-- // the comma
		}
		member := fmt.Sprintf(`"k%02d":`, k)
		v := min(room-len(member)-2, stele.MaxMetadataValue)
		if v < 0 || k == stele.MaxMetadataKeys {
			t.Fatalf("cannot make an event of %d bytes", n)
		}
		parts = append(parts, member+`"`+strings.Repeat("x", v)+`"`)
		room -= len(member) + 2 + v
	}
	ev := head + strings.Join(parts, ",") + tail
	if len(ev) != n {
		t.Fatalf("made an event of %d bytes, want %d", len(ev), n)
	}
	return ev
}

// TestEventSizeLimitOverHTTP: an event over stele.MaxEventBytes of JSON is
// refused with a 400 naming the event, the rule and the limit, alone or in
// a batch, and nothing of the request is stored.
func TestEventSizeLimitOverHTTP(t *testing.T) {
	e := newEnv(t)
	atLimit, over := eventOfSize(t, stele.MaxEventBytes), eventOfSize(t, stele.MaxEventBytes+1)
	e.mustPost("acme", atLimit)
	e.mustPost("acme", `{"events":[`+atLimit+`,`+atLimit+`]}`)
	for _, tt := range []struct {
		name, body string
		index      int
	}{
		{"single", over, 0},
		{"batch", `{"events":[` + atLimit + `,` + loginEvent + `,` + over + `]}`, 2},
	} {
		r := e.post("acme", tt.body)
		_, msg, d := r.errorBody(t)
		if r.Status != http.StatusBadRequest || len(d) != 1 || d[0].Index != tt.index || d[0].Rule != "max_size" ||
			!strings.Contains(msg, fmt.Sprint(stele.MaxEventBytes)) {
			t.Errorf("%s: %d %s", tt.name, r.Status, r.Body)
		}
	}
	if p := e.list("acme", "", 10, ""); len(p.Events) != 3 {
		t.Fatalf("stored %d events, want the 3 within the limit", len(p.Events))
	}
}

// TestRepeatedNamesAreRefusedOverHTTP: a name given twice in an object of
// the request is a 400 naming its path and its event, and nothing of the
// request is stored.
func TestRepeatedNamesAreRefusedOverHTTP(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		body  string
		index int
		field string
	}{
		{`{"action":"user.login","action":"user.logout"}`, 0, "action"},
		{`{"action":"user.login","actor":{"id":"u_1","id":"u_2"}}`, 0, "actor.id"},
		{`{"action":"user.login","metadata":{"role":"viewer","role":"admin"}}`, 0, "metadata.role"},
		{`{"events":[` + loginEvent + `],"events":[` + loginEvent + `]}`, 0, "events"},
		{`{"events":[` + loginEvent + `,{"action":"user.login","target":{"id":"t","ID":"u"}}]}`, 1, "target.id"},
	} {
		r := e.post("acme", tt.body)
		_, msg, d := r.errorBody(t)
		if r.Status != http.StatusBadRequest || len(d) != 1 || d[0].Index != tt.index || d[0].Field != tt.field ||
			d[0].Rule != "duplicate_key" || !strings.Contains(msg, tt.field) {
			t.Errorf("%s: %d %s", tt.body, r.Status, r.Body)
		}
	}
	if p := e.list("acme", "", 10, ""); len(p.Events) != 0 {
		t.Fatalf("stored %d events from refused requests", len(p.Events))
	}
}
