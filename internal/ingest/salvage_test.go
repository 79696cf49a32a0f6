package ingest

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// TestOwnEventsAreSalvagedNotDropped: Stele's own record of what happened
// is kept when what someone typed breaks a rule; what broke it moves into
// metadata as text, and the event says which fields moved.
func TestOwnEventsAreSalvagedNotDropped(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	e := stele.Event{Account: "acme", Action: "audit_log.exported", Outcome: stele.OutcomeSuccess,
		Actor:       &stele.Ref{Type: "user", Email: `"><img src=x>`},
		Target:      &stele.Ref{ID: strings.Repeat("t", 300)},
		IP:          "not an ip",
		UserAgent:   strings.Repeat("é", 3000), // 6000 bytes
		Description: "exported",
		Metadata: map[string]any{
			"rows": int64(1) << 60, "ratio": math.NaN(), "inf": math.Inf(1), "nested": map[string]any{"a": 1},
			"text": strings.Repeat("x", 5000), "huge": json.Number("1e400"), "ok": "kept", "n": 3,
		},
	}
	v, d, salvaged := checkSalvaging(&e, 0, now)
	if d != nil {
		t.Fatalf("refused: %+v", d)
	}
	m := v.Metadata
	for k, want := range map[string]any{
		"invalid.actor.email": `"><img src=x>`, "invalid.ip": "not an ip", "invalid.target.id": strings.Repeat("t", 300),
		"rows": "1152921504606846976", "ratio": "NaN", "inf": "+Inf", "nested": `{"a":1}`, "huge": "1e400",
		"ok": "kept", "n": json.Number("3"),
	} {
		if m[k] != want {
			t.Errorf("metadata %s = %#v, want %#v", k, m[k], want)
		}
	}
	if ua := m["invalid.user_agent"].(string); len(ua) != stele.MaxMetadataValue || !strings.HasPrefix(ua, "éé") {
		t.Errorf("user agent kept as %d bytes", len(ua))
	}
	if txt := m["text"].(string); len(txt) != stele.MaxMetadataValue {
		t.Errorf("long text kept as %d bytes", len(txt))
	}
	if v.IP != "" || v.UserAgent != "" || v.Target != nil || v.Actor == nil || v.Actor.Email != "" || v.Actor.Type != "user" {
		t.Errorf("fields left: ip %q ua %d target %+v actor %+v", v.IP, len(v.UserAgent), v.Target, v.Actor)
	}
	list, _ := m[salvagedKey].(string)
	for _, f := range []string{"actor.email (email)", "ip (ip)", "user_agent (max_length)", "metadata.huge (range)", "target.id (max_length)"} {
		if !strings.Contains(list, f) {
			t.Errorf("salvaged = %q, lacks %q", list, f)
		}
	}
	if len(salvaged) == 0 {
		t.Error("no salvaged fields reported")
	}
	if e.Actor.Email != `"><img src=x>` || e.IP != "not an ip" {
		t.Error("salvaging changed the caller's event")
	}
}

// TestWhatCannotBeSalvagedIsStillRefused: the fields that say what happened
// and where are never guessed.
func TestWhatCannotBeSalvagedIsStillRefused(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, e := range []stele.Event{
		{Account: "acme", Action: "Not An Action"},
		{Account: "acme", Action: "deploy.started"}, // no category
		{Account: "acme", Action: "user.login", Outcome: "maybe"},
		{Account: "acme", Action: "user.login", Time: now.Add(time.Hour)},
	} {
		if _, d, _ := checkSalvaging(&e, 0, now); d == nil {
			t.Errorf("%+v was stored", e)
		}
	}
}

// TestProducersAreNotSalvaged: a producer's event that breaks a rule is
// refused, as before: the producer hears why and can send it again.
func TestProducersAreNotSalvaged(t *testing.T) {
	inputs, err := Decode([]byte(`{"action":"user.login","actor":{"email":"admin"},"metadata":{"n":1e19}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, d := Validate(&inputs[0], 0, time.Now()); len(d) != 2 {
		t.Fatalf("details %+v, want two", d)
	}
}
