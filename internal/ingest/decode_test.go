package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func details(t *testing.T, err error) []stele.FieldError {
	t.Helper()
	e, ok := err.(*stele.Error)
	if !ok || e.Code != stele.EINVALID {
		t.Fatalf("error = %v, want an EINVALID *stele.Error", err)
	}
	return e.Details
}

func TestDecodeAcceptsSingleEventAndBatch(t *testing.T) {
	one, err := Decode([]byte(`{"action":"user.login","actor":{"id":"u_1"}}`))
	if err != nil || len(one) != 1 || one[0].Action != "user.login" || one[0].Actor.ID != "u_1" {
		t.Fatalf("single: %v %+v", err, one)
	}
	many, err := Decode([]byte(`{"events":[{"action":"user.login"},{"action":"user.logout"}]}`))
	if err != nil || len(many) != 2 || many[1].Action != "user.logout" {
		t.Fatalf("batch: %v %+v", err, many)
	}
}

func TestDecodeNamesEveryBadEventByIndex(t *testing.T) {
	tests := []struct {
		name, body string
		want       []stele.FieldError
	}{
		{"unknown field", `{"action":"user.login","seq":4}`, []stele.FieldError{{Index: 0, Field: "seq", Rule: "unknown_field"}}},
		{"unknown nested field", `{"action":"user.login","actor":{"idd":"x"}}`, []stele.FieldError{{Index: 0, Field: "idd", Rule: "unknown_field"}}},
		{"wrong type", `{"action":5}`, []stele.FieldError{{Index: 0, Field: "action", Rule: "type"}}},
		{"malformed", `{"action":`, []stele.FieldError{{Index: 0, Rule: "json"}}},
		{"trailing data", `{"action":"a.b"} {}`, []stele.FieldError{{Index: 0, Rule: "json"}}},
		{"batch mixed with event", `{"events":[{}],"action":"a.b"}`, []stele.FieldError{{Index: 0, Field: "events", Rule: "exclusive"}}},
		{"empty batch", `{"events":[]}`, []stele.FieldError{{Index: 0, Field: "events", Rule: "min_items"}}},
		{"bad events in batch", `{"events":[{"action":"a.b"},{"bogus":1},{"action":"a.b"},{"ip":7}]}`,
			[]stele.FieldError{{Index: 1, Field: "bogus", Rule: "unknown_field"}, {Index: 3, Field: "ip", Rule: "type"}}},
		{"oversize event", `{"events":[{"description":"` + strings.Repeat("x", stele.MaxEventBytes) + `"}]}`,
			[]stele.FieldError{{Index: 0, Rule: "max_size"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body))
			got := details(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("details = %+v, want %+v", got, tt.want)
			}
			for i, w := range tt.want {
				if got[i].Index != w.Index || got[i].Field != w.Field || got[i].Rule != w.Rule || got[i].Message == "" {
					t.Errorf("detail %d = %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

// sizedEvent returns a valid event whose JSON text is exactly n bytes,
// most of them in metadata values within the per-value limit.
func sizedEvent(t testing.TB, n int) string {
	t.Helper()
	const head, tail = `{"action":"user.login","metadata":{`, `}}`
	var b strings.Builder
	b.WriteString(head)
	for k := 0; b.Len() < n-len(tail); k++ {
		if k > 0 {
			b.WriteByte(',')
		}
		member := fmt.Sprintf(`"k%02d":""`, k)
		room := n - len(tail) - b.Len() - len(member)
		if room < 0 || k == stele.MaxMetadataKeys {
			t.Fatalf("cannot make an event of %d bytes", n)
		}
		b.WriteString(member[:len(member)-1])
		b.WriteString(strings.Repeat("x", min(room, stele.MaxMetadataValue)))
		b.WriteByte('"')
	}
	b.WriteString(tail)
	if b.Len() != n {
		t.Fatalf("made an event of %d bytes, want %d", b.Len(), n)
	}
	return b.String()
}

// TestEventSizeIsItsJSONAsSent: an event's size is its JSON text as sent,
// from its opening brace to its closing one. Both decoders measure it so,
// for a single event and for each event of a batch, and a refusal names
// the event, the rule and the limit.
func TestEventSizeIsItsJSONAsSent(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	atLimit, over := sizedEvent(t, stele.MaxEventBytes), sizedEvent(t, stele.MaxEventBytes+1)
	for _, body := range []string{atLimit, " \n\t" + atLimit + "\r\n ", `{"events":[` + atLimit + `, ` + atLimit + `]}`} {
		in, err := Decode([]byte(body))
		if err != nil {
			t.Fatalf("an event of %d bytes: %v", stele.MaxEventBytes, err)
		}
		for i := range in {
			if _, d := Validate(&in[i], i, now); d != nil {
				t.Fatalf("event %d: %+v", i, d)
			}
		}
		if !agree(t, []byte(body)) {
			t.Errorf("the fast decoder did not answer for events at the limit")
		}
	}
	// The finding of issue 15: 50 metadata values of 4,000 bytes.
	var vals []string
	for i := range 50 {
		vals = append(vals, fmt.Sprintf(`"k%d":"%s"`, i, strings.Repeat("v", 4000)))
	}
	finding := `{"action":"user.login","metadata":{` + strings.Join(vals, ",") + `}}`
	for _, tt := range []struct {
		name, body  string
		index, size int
	}{
		{"single", over, 0, len(over)},
		{"issue 15", finding, 0, len(finding)},
		{"single with spaces", "\n" + over + " ", 0, len(over)},
		{"in a batch", `{"events":[` + atLimit + `,` + over + `,{"action":"user.login"}]}`, 1, len(over)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := decodeFast([]byte(tt.body)); ok {
				t.Errorf("the fast decoder answered for an event over the limit")
			}
			_, err := Decode([]byte(tt.body))
			d := details(t, err)
			if len(d) != 1 || d[0].Index != tt.index || d[0].Rule != "max_size" {
				t.Fatalf("details = %+v, want one max_size for event %d", d, tt.index)
			}
			for _, want := range []string{fmt.Sprint(stele.MaxEventBytes), fmt.Sprint(tt.size)} {
				if !strings.Contains(d[0].Message, want) {
					t.Errorf("message %q does not say %s", d[0].Message, want)
				}
			}
		})
	}
}

// TestDecodeRefusesRepeatedNames: a name given twice in one object, at any
// level of an event or of the batch envelope, is refused with its path.
// encoding/json keeps the last value, another parser may keep the first:
// an audit record must not read one way to its producer and another to
// Stele. Names of fields match as encoding/json matches them (regardless
// of case), metadata keys as they decode.
func TestDecodeRefusesRepeatedNames(t *testing.T) {
	tests := []struct {
		name, body string
		want       []stele.FieldError // Index, Field; Rule is duplicate_key
	}{
		{"top level", `{"action":"user.login","action":"user.logout"}`, []stele.FieldError{{Index: 0, Field: "action"}}},
		{"top level in another case", `{"action":"user.login","ACTION":"user.logout"}`, []stele.FieldError{{Index: 0, Field: "action"}}},
		{"top level by Unicode folding", `{"source":{"id":"a"},"\u017fource":{"id":"b"}}`, []stele.FieldError{{Index: 0, Field: "source"}}},
		{"top level escaped", `{"action":"user.login","\u0061ction":"user.logout"}`, []stele.FieldError{{Index: 0, Field: "action"}}},
		{"actor", `{"action":"user.login","actor":{"id":"u_1","id":"u_2"}}`, []stele.FieldError{{Index: 0, Field: "actor.id"}}},
		{"actor written in another case", `{"action":"user.login","Actor":{"email":"a@b.c","eMail":"d@e.f"}}`, []stele.FieldError{{Index: 0, Field: "actor.email"}}},
		{"target", `{"action":"user.login","target":{"name":"x","Name":"y"}}`, []stele.FieldError{{Index: 0, Field: "target.name"}}},
		{"source", `{"action":"user.login","source":{"type":"aws","id":"1","type":"gcp"}}`, []stele.FieldError{{Index: 0, Field: "source.type"}}},
		{"party given twice", `{"action":"user.login","actor":{"id":"u_1"},"actor":{"id":"u_2"}}`, []stele.FieldError{{Index: 0, Field: "actor"}}},
		{"metadata", `{"action":"user.login","metadata":{"role":"viewer","role":"admin"}}`, []stele.FieldError{{Index: 0, Field: "metadata.role"}}},
		{"metadata escaped", `{"action":"user.login","metadata":{"r\u006fle":"viewer","role":"admin"}}`, []stele.FieldError{{Index: 0, Field: "metadata.role"}}},
		{"metadata keys that decode alike", "{\"action\":\"user.login\",\"metadata\":{\"\xff\":1,\"\xfe\":2}}", []stele.FieldError{{Index: 0, Field: "metadata.\ufffd"}}},
		{"inside a metadata value", `{"action":"user.login","metadata":{"x":[{"y":1,"y":2}]}}`, []stele.FieldError{{Index: 0, Field: "metadata.x[0].y"}}},
		{"every repeat", `{"action":"user.login","action":"user.logout","metadata":{"a":1,"a":2,"a":3}}`,
			[]stele.FieldError{{Index: 0, Field: "action"}, {Index: 0, Field: "metadata.a"}}},
		{"batch envelope", `{"events":[{"action":"user.login"}],"events":[{"action":"user.logout"}]}`, []stele.FieldError{{Index: 0, Field: "events"}}},
		{"events of a batch", `{"events":[{"action":"user.login"},{"action":"user.login","metadata":{"a":1,"a":2}},{"actor":{"id":"1"},"action":"user.login","actor":{"id":"2"}}]}`,
			[]stele.FieldError{{Index: 1, Field: "metadata.a"}, {Index: 2, Field: "actor"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body))
			got := details(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("details = %+v, want %+v", got, tt.want)
			}
			for i, w := range tt.want {
				if got[i].Index != w.Index || got[i].Field != w.Field || got[i].Rule != "duplicate_key" || !strings.Contains(got[i].Message, "more than once") {
					t.Errorf("detail %d = %+v, want %+v duplicate_key", i, got[i], w)
				}
			}
		})
	}
	// Names that differ are not repeats, metadata keys in another case included.
	for _, body := range []string{
		`{"action":"user.login","metadata":{"role":"viewer","Role":"admin","rôle":1}}`,
		`{"action":"user.login","actor":{"id":"u_1"},"target":{"id":"u_1"},"source":{"id":"u_1"}}`,
		`{"events":[{"action":"user.login","ip":"203.0.113.7"},{"action":"user.login","ip":"203.0.113.7"}]}`,
	} {
		if _, err := Decode([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestDecodeRejectsTooManyEvents(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range stele.MaxBatchEvents + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"action":"user.login"}`)
	}
	b.WriteString(`]}`)
	d := details(t, func() error { _, err := Decode([]byte(b.String())); return err }())
	if d[0].Rule != "max_items" {
		t.Fatalf("details = %+v", d)
	}
}

func TestValidateRules(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	long := func(n int) string { return strings.Repeat("a", n) }
	meta := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`"k%d":"v"`, i))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	tests := []struct {
		name  string
		in    Input
		field string
		rule  string
	}{
		{"action required", Input{}, "action", "required"},
		{"action too long", Input{Action: "a." + long(127)}, "action", "max_length"},
		{"action pattern", Input{Action: "User Login"}, "action", "pattern"},
		{"custom action needs category", Input{Action: "deploy.started"}, "category", "required"},
		{"unknown category", Input{Action: "deploy.started", Category: "misc"}, "category", "enum"},
		{"catalog category mismatch", Input{Action: "user.login", Category: "system"}, "category", "catalog"},
		{"unknown outcome", Input{Action: "user.login", Outcome: "ok"}, "outcome", "enum"},
		{"bad time", Input{Action: "user.login", Time: "yesterday"}, "time", "format"},
		{"future time", Input{Action: "user.login", Time: now.Add(6 * time.Minute).Format(time.RFC3339)}, "time", "future"},
		{"bad ip", Input{Action: "user.login", IP: "300.1.1.1"}, "ip", "ip"},
		{"bad email", Input{Action: "user.login", Actor: &stele.Ref{ID: "u", Email: "nobody"}}, "actor.email", "email"},
		{"actor id too long", Input{Action: "user.login", Actor: &stele.Ref{ID: long(257)}}, "actor.id", "max_length"},
		{"target id too long", Input{Action: "user.login", Target: &InputRef{ID: long(257)}}, "target.id", "max_length"},
		{"metadata not object", Input{Action: "user.login", Metadata: []byte(`[1]`)}, "metadata", "type"},
		{"metadata too many keys", Input{Action: "user.login", Metadata: []byte(meta(51))}, "metadata", "max_keys"},
		{"metadata nested", Input{Action: "user.login", Metadata: []byte(`{"a":{"b":1}}`)}, "metadata.a", "scalar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := Validate(&tt.in, 3, now)
			for _, fe := range d {
				if fe.Field == tt.field && fe.Rule == tt.rule && fe.Index == 3 && fe.Message != "" {
					return
				}
			}
			t.Fatalf("details = %+v, want field %s rule %s", d, tt.field, tt.rule)
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	in := Input{Action: "user.login", Time: "2026-11-24T11:00:00.1234567+02:00", IP: "::ffff:203.0.113.7",
		Actor: &stele.Ref{}, Metadata: []byte(`{"n":1.50,"ok":true,"s":"x","z":null}`)}
	e, d := Validate(&in, 0, now)
	if d != nil {
		t.Fatal(d)
	}
	if e.Category != "authentication" || e.Outcome != stele.OutcomeUnknown || e.IP != "203.0.113.7" || e.Actor != nil {
		t.Errorf("event = %+v", e)
	}
	if want := time.Date(2026, 11, 24, 9, 0, 0, 123456000, time.UTC); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v", e.Time, want)
	}
	if e.Metadata["n"] != any(jsonNumber("1.50")) || e.Metadata["ok"] != true {
		t.Errorf("metadata = %#v", e.Metadata)
	}
	if e2, _ := Validate(&Input{Action: "user.login"}, 0, now); !e2.Time.Equal(now) {
		t.Errorf("default time = %v", e2.Time)
	}
}

// agree fails t unless the fast decoder, where it answers, gives what the
// encoding/json path gives: the same inputs, and the same events and field
// errors from validation.
func agree(t *testing.T, body []byte) (fastAnswered bool) {
	t.Helper()
	fast, ok := decodeFast(body)
	if !ok {
		return false
	}
	each, err := decodeEach(body)
	if err != nil {
		t.Fatalf("%.80q: the fast decoder accepted what encoding/json rejects: %v", body, err)
	}
	if len(fast) != len(each) {
		t.Fatalf("%.80q: %d events fast, %d slow", body, len(fast), len(each))
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for i := range fast {
		f := fast[i]
		f.meta = nil
		if !reflect.DeepEqual(f, each[i]) {
			t.Fatalf("%.80q: event %d decoded as\n%+v\nnot\n%+v", body, i, f, each[i])
		}
		fe, fd := Validate(&fast[i], i, now)
		ee, ed := Validate(&each[i], i, now)
		// Validate names metadata problems in map order: compare them as sets.
		byField := func(a, b stele.FieldError) int { return strings.Compare(a.Field+"\x00"+a.Rule, b.Field+"\x00"+b.Rule) }
		slices.SortFunc(fd, byField)
		slices.SortFunc(ed, byField)
		if !reflect.DeepEqual(fe, ee) || !reflect.DeepEqual(fd, ed) {
			t.Fatalf("%.80q: event %d validates as %+v, %v\nnot %+v, %v", body, i, fe, fd, ee, ed)
		}
	}
	return true
}

func TestDecodeFastAndDetailedPathsAgree(t *testing.T) {
	for _, b := range []struct {
		body string
		fast bool // the fast decoder answers
	}{
		{`{"action":"user.login","actor":{"id":"u_1","email":"ada@acme.io"},"metadata":{"a":1,"b":"x"}}`, true},
		{`{"events":[{"action":"user.login"},{"action":"user.logout","target":{"id":"t"},"source":{"id":"s"}}]}`, true},
		{` { "events" : [ { "action" : "a.b" , "metadata" : { "n" : -1.5e+3 , "t" : true , "f" : false , "z" : null } } ] } `, true},
		{`{"action":"user.login","actor":null,"target":null,"metadata":null,"ip":null}`, true},
		{`{"action":"user.login","actor":{},"metadata":{}}`, true},
		{`{"description":"tab\there \"q\" \\ \/ \u00e9 \ud83d\ude00 \u0000","action":"user.login"}`, true},
		{`{"events":[{"description":"` + strings.Repeat(`\u00e9`, 2000) + `"}]}`, true},
		{`{"events":[{"description":"` + strings.Repeat(`\u00e9`, 6000) + `"}]}`, false}, // may be over 32 KiB
		{`{"Action":"user.login"}`, false},                                   // encoding/json matches names in any case
		{`{"action":"user.login","action":"user.logout"}`, false},            // a repeated name
		{`{"action":"user.login","actor":{"id":"1","id":"2"}}`, false},       // in a party
		{`{"action":"user.login","metadata":{"a":1,"a":2}}`, false},          // in metadata
		{`{"events":[{"action":"a.b"}],"events":[{"action":"a.b"}]}`, false}, // in the envelope
		{`{"description":"\ud800","action":"user.login"}`, false},            // a lone surrogate
		{"{\"description\":\"\xff\",\"action\":\"user.login\"}", false},      // invalid UTF-8
		{`{"action":"user.login","metadata":{"nested":{"a":1}}}`, false},
		{`{"action":"user.login","metadata":{"n":01}}`, false},
		{`{"action":"user.login","seq":1}`, false},
		{`{"action":"user.login"} x`, false},
		{`{"events":null}`, false},
	} {
		if got := agree(t, []byte(b.body)); got != b.fast {
			t.Errorf("%.60s…: the fast decoder answered %v, want %v", b.body, got, b.fast)
		}
	}
}

// FuzzFastDecodeAgrees holds the fast decoder to encoding/json: any body it
// answers for must decode and validate exactly as the slow path has it.
func FuzzFastDecodeAgrees(f *testing.F) {
	for _, s := range []string{
		`{"action":"user.login","actor":{"id":"u_1","email":"ada@acme.io"},"ip":"203.0.113.7"}`,
		`{"events":[{"action":"user.login"},{"action":"finding.generated","source":{"type":"aws","id":"aws-1"}}]}`,
		`{"action":"deploy.started","category":"configuration","metadata":{"a":1,"b":"x","c":true,"d":null,"e":-0.5E-7}}`,
		`{"action":"user.role_changed","target":{"id":"u_2","name":"Bob"},"description":"\u00e9\u0000\ud83d\ude00\n"}`,
		`{"action":"user.login","actor":null,"metadata":null,"time":"2026-11-24T10:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { agree(t, body) })
}

func BenchmarkDecodeBatch(b *testing.B) {
	ev := `{"time":"2026-11-24T10:00:00.123Z","action":"user.role_changed","outcome":"success","actor":{"type":"user","id":"u_123","name":"Ada Lovelace","email":"ada@acme.io"},"target":{"type":"user","id":"u_456","name":"Bob"},"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15","description":"Ada changed Bob's role from viewer to admin","metadata":{"role_before":"viewer","role_after":"admin"}}`
	body := []byte(`{"events":[` + strings.TrimSuffix(strings.Repeat(ev+",", 500), ",") + `]}`)
	for _, path := range []struct {
		name   string
		decode func([]byte) ([]Input, error)
	}{{"one_pass", Decode}, {"each", decodeEach}} {
		b.Run(path.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := path.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	body := []byte(`{"time":"2026-11-24T10:00:00.123Z","action":"user.role_changed","outcome":"success","actor":{"type":"user","id":"u_123","name":"Ada Lovelace","email":"ada@acme.io"},"target":{"type":"user","id":"u_456","name":"Bob"},"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15","description":"Ada changed Bob's role from viewer to admin","metadata":{"role_before":"viewer","role_after":"admin","ticket":"SEC-1234","approved":true,"attempt":2}}`)
	for _, path := range []struct {
		name   string
		decode func([]byte) ([]Input, error)
	}{{"one_pass", Decode}, {"each", decodeEach}} {
		b.Run(path.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := path.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestScalarMetadataMatchesTheJSONRoundTrip: events built in Go skip the
// JSON round trip of their metadata only where it would change nothing.
func TestScalarMetadataMatchesTheJSONRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, m := range []map[string]any{
		{"s": "x", "n": json.Number("1.50"), "t": true, "f": false, "z": nil},
		{"neg": json.Number("-0"), "exp": json.Number("1e-7"), "e": ""},
		{"lead": json.Number(" 1")}, {"plus": json.Number("+1")}, {"empty": json.Number("")},
		{"int": 3, "float": 2.5}, {"bad": "\xff"}, {"\xffkey": "v"}, {"nested": map[string]any{"a": 1}},
		{"html": "<b>&</b>"}, {},
	} {
		e := stele.Event{Action: "user.login", Metadata: m}
		in, err := inputOf(&e)
		slow := in
		slow.meta = nil
		if _, ok := scalarMetadata(m); ok {
			if in.meta == nil {
				t.Fatalf("%v: not taken the short way", m)
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatalf("%v: the short way took what json.Marshal refuses: %v", m, err)
			}
			slow.Metadata = b
		} else if in.meta != nil {
			t.Fatalf("%v: taken the short way", m)
		}
		if err != nil {
			continue
		}
		fe, fd := Validate(&in, 0, now)
		se, sd := Validate(&slow, 0, now)
		if !reflect.DeepEqual(fe, se) || !reflect.DeepEqual(fd, sd) {
			t.Fatalf("%v: validates as %v, %v; the round trip gives %v, %v", m, fe.Metadata, fd, se.Metadata, sd)
		}
	}
}

// TestCatalogActionsMatchThePattern: validation skips the action pattern
// for built-in actions, which is right only while each of them matches it.
func TestCatalogActionsMatchThePattern(t *testing.T) {
	for action := range stele.Catalog {
		if !stele.ActionPattern.MatchString(action) || len(action) > stele.MaxActionLen {
			t.Errorf("built-in action %q does not match %s", action, stele.ActionPattern)
		}
	}
}

func TestScanKeyReadsNamesWithoutCopyingKnownOnes(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
		rest     string
	}{
		{` "actor": 1`, "actor", true, `: 1`},
		{`"idempotency_key":""`, "idempotency_key", true, `:""`},
		{`"act\u006fr":1`, "actor", true, `:1`}, // an escape: read by str
		{`"acto\"r":1`, `acto"r`, true, `:1`},   // the first quote is escaped
		{`"custom_key":1`, "custom_key", true, `:1`},
		{`"été":1`, "été", true, `:1`},
		{`"open`, "", false, ""},
		{`actor:1`, "", false, ""},
	}
	for _, c := range cases {
		s := &scan{b: []byte(c.in)}
		got, ok := s.key()
		if got != c.want || ok != c.ok || (ok && string(s.b[s.i:]) != c.rest) {
			t.Errorf("key(%q) = %q, %v, rest %q; want %q, %v, rest %q", c.in, got, ok, s.b[s.i:], c.want, c.ok, c.rest)
		}
	}
	b := []byte(`"user_agent"`)
	if n := testing.AllocsPerRun(100, func() { s := &scan{b: b}; s.key() }); n != 0 {
		t.Errorf("reading a field name allocated %v times", n)
	}
}

// TestRepeatedNamesReadsWithoutCopying: the detailed path looks for
// repeated names in every body it reads; that look allocates nothing per
// event or name, whatever the depth of its values.
func TestRepeatedNamesReadsWithoutCopying(t *testing.T) {
	const ev = `{"action":"user.login","actor":{"id":"u_1","email":"ada@acme.io"},"metadata":{"a":1,"b":[1,{"c":[{"d":"\u00e9"}]}]}}`
	one := []byte(`{"events":[` + ev + `]}`)
	many := []byte(`{"events":[` + strings.Repeat(ev+",", 99) + ev + `]}`)
	for _, body := range [][]byte{one, many} {
		if top, nested := repeatedNames(body); top != nil || nested != nil {
			t.Fatalf("repeats in %.60s: %v %v", body, top, nested)
		}
	}
	thousand := []byte(`{"events":[` + strings.Repeat(ev+",", 999) + ev + `]}`)
	a1 := testing.AllocsPerRun(50, func() { repeatedNames(one) })
	a100 := testing.AllocsPerRun(50, func() { repeatedNames(many) })
	a1000 := testing.AllocsPerRun(10, func() { repeatedNames(thousand) })
	if raceEnabled {
		// The race detector allocates a few times on its own, more or less
		// from run to run (.ci/run counts exactly without it): what holds
		// under it is that no event or name costs an allocation.
		if a100 > a1+4 || a1000 > a1+4 {
			t.Errorf("looking for repeated names allocated %v times for one event, %v for a hundred, %v for a thousand", a1, a100, a1000)
		}
		return
	}
	if a1 > 1 || a100 != a1 || a1000 != a1 {
		t.Errorf("looking for repeated names allocated %v times for one event, %v for a hundred, %v for a thousand", a1, a100, a1000)
	}
}

// TestRepeatsDeepInsideAreNamedBriefly: a repeat thousands of levels deep
// is named by a path of the outermost and innermost steps, and however
// many repeats a body holds, the answer lists a bounded number of them.
func TestRepeatsDeepInsideAreNamedBriefly(t *testing.T) {
	const depth = 5000
	deep := `{"action":"user.login","metadata":{"x":` + strings.Repeat("[", depth) + `{"k":1,"k":2}` + strings.Repeat("]", depth) + `}}`
	d := details(t, func() error { _, err := Decode([]byte(deep)); return err }())
	if len(d) != 1 || d[0].Rule != "duplicate_key" || !strings.HasPrefix(d[0].Field, "metadata.x[0]") ||
		!strings.HasSuffix(d[0].Field, "[0].k") || !strings.Contains(d[0].Field, "…") || len(d[0].Field) > 100 {
		t.Fatalf("details = %+v", d)
	}
	var members []string
	for i := range 1000 {
		members = append(members, fmt.Sprintf(`"k%d":1,"k%d":2`, i, i))
	}
	many := `{"action":"user.login","metadata":{` + strings.Join(members, ",") + `}}`
	d = details(t, func() error { _, err := Decode([]byte(many)); return err }())
	if len(d) != maxRepeatedDetails || d[0].Field != "metadata.k0" {
		t.Fatalf("%d details, first %+v", len(d), d[0])
	}
}
