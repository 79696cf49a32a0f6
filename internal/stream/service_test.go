package stream_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/stream"
)

func hec(url string) *stele.StreamDestination {
	return &stele.StreamDestination{Type: "https", URL: url, Format: "splunk_hec",
		Headers: map[string]string{"Authorization": "Splunk 5ecret-hec-token-0001"}}
}

func rules(t *testing.T, err error) map[string]string {
	t.Helper()
	e, ok := err.(*stele.Error)
	if !ok || e.Code != stele.EINVALID {
		t.Fatalf("error %v: want an EINVALID *stele.Error", err)
	}
	out := map[string]string{}
	for _, d := range e.Details {
		out[d.Field] = d.Rule
	}
	return out
}

// TestCreateRefusesBadStreamsNamingFieldAndRule: every broken rule comes
// back at once, each naming its field and rule; a bad query comes back
// with the parser's message.
func TestCreateRefusesBadStreamsNamingFieldAndRule(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		in   stream.Input
		want map[string]string
		msg  string
	}{
		{"empty", stream.Input{}, map[string]string{"name": "required", "destination": "required"}, ""},
		{"bad query", stream.Input{Name: "s", Query: "colour:red", Destination: syslogTo("siem:514", "cef")},
			map[string]string{"query": "unknown_field"}, "colour"},
		{"unbalanced parenthesis", stream.Input{Name: "s", Query: "category:audit (action:user.login OR x", Destination: syslogTo("siem:514", "cef")},
			map[string]string{"query": "syntax"}, "unbalanced parenthesis at byte 15"},
		{"relative time", stream.Input{Name: "s", Query: "after:24h", Destination: syslogTo("siem:514", "cef")},
			map[string]string{"query": "relative_time"}, "relative to now"},
		{"long name", stream.Input{Name: strings.Repeat("n", 101), Destination: syslogTo("siem:514", "cef")},
			map[string]string{"name": "max_length"}, ""},
		{"control in name", stream.Input{Name: "a\nb", Destination: syslogTo("siem:514", "cef")},
			map[string]string{"name": "no_control"}, ""},
		{"bad destination", stream.Input{Name: "s", Destination: &stele.StreamDestination{Type: "syslog", Address: "siem", Format: "xml"}},
			map[string]string{"destination.address": "host_port", "destination.format": "enum"}, ""},
		{"metadata address", stream.Input{Name: "s", Destination: syslogTo("169.254.169.254:514", "cef")},
			map[string]string{"destination.address": "forbidden_address"}, ""},
		{"metadata url", stream.Input{Name: "s", Destination: hec("https://[fe80::1]:8088/services/collector")},
			map[string]string{"destination.url": "forbidden_address"}, ""},
		{"reserved header", stream.Input{Name: "s", Destination: &stele.StreamDestination{Type: "https", URL: "https://siem.example.com/x",
			Format: "ndjson", Headers: map[string]string{"Host": "evil"}}}, map[string]string{"destination.headers.Host": "reserved"}, ""},
		{"start", stream.Input{Name: "s", Start: "yesterday", Destination: syslogTo("siem:514", "cef")},
			map[string]string{"start": "enum"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Create(ctx, e.owner("acme"), tc.in, e.actor)
			if got := rules(t, err); !mapsEqual(got, tc.want) {
				t.Fatalf("rules %v, want %v (%v)", got, tc.want, err)
			}
			if !strings.Contains(stele.ErrorMessage(err), tc.msg) {
				t.Fatalf("message %q does not say %q", stele.ErrorMessage(err), tc.msg)
			}
		})
	}
	if list, err := e.svc.List(ctx, e.owner("acme")); err != nil || len(list) != 0 {
		t.Fatalf("a refused stream was stored: %v, %v", list, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestOnlyAnOperatorMakesAStreamOfEveryAccount: an account's key cannot,
// an operator can; the flag cannot change afterwards.
func TestOnlyAnOperatorMakesAStreamOfEveryAccount(t *testing.T) {
	e := newEnv(t)
	on := true
	in := stream.Input{Name: "all", AllAccounts: &on, Destination: syslogTo("siem:514", "cef")}
	_, err := e.svc.Create(t.Context(), e.owner("acme"), in, e.actor)
	if stele.ErrorCode(err) != stele.EFORBIDDEN {
		t.Fatalf("acme made a stream of every account: %v", err)
	}
	// A user of another account who is somehow an operator still cannot:
	// the stream would belong to acme.
	_, err = e.svc.Create(t.Context(), stream.Owner{Account: e.accts["acme"], Operator: true}, in, e.actor)
	if stele.ErrorCode(err) != stele.EFORBIDDEN {
		t.Fatalf("an operator made acme a stream of every account: %v", err)
	}
	v := e.create(stele.SystemAccount, in)
	if !v.AllAccounts || v.Account != stele.SystemAccount {
		t.Fatalf("operator's stream %+v", v)
	}
	off := false
	_, err = e.svc.Update(t.Context(), e.owner(stele.SystemAccount), v.ID, stream.Input{Name: "all", AllAccounts: &off, Destination: syslogTo("siem:514", "cef")}, e.actor)
	if r := rules(t, err); r["all_accounts"] != "immutable" {
		t.Fatalf("rules %v", r)
	}
}

// TestStreamSecretsAreSealedNeverShownNorLogged: header values are
// stored sealed, shown by name only, not in the account's log, and kept
// across an update that leaves them out for the same host, but not for
// another host.
func TestStreamSecretsAreSealedNeverShownNorLogged(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.create("acme", stream.Input{Name: "hec", Destination: hec("https://hec.example.com:8088/services/collector/event?channel=x")})
	if !slices.Equal(v.Destination.HeaderNames, []string{"Authorization"}) {
		t.Fatalf("header names %v", v.Destination.HeaderNames)
	}
	raw, err := e.db.Stream(ctx, e.accts["acme"].ID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Destination.Headers["Authorization"] != "" || !strings.HasPrefix(raw.SealedHeaders, "sealed1.") || strings.Contains(raw.SealedHeaders, "5ecret") {
		t.Fatalf("stored %v, sealed %q", raw.Destination.Headers, raw.SealedHeaders)
	}
	d, err := stream.Destination(ctx, e.data.Keyring, raw)
	if err != nil || d.Headers["Authorization"] != "Splunk 5ecret-hec-token-0001" {
		t.Fatalf("opened headers %v, %v", d.Headers, err)
	}
	// Sealed for this stream: another stream's seal does not open as it.
	other := *raw
	other.ID = "str_other"
	if _, err := stream.Destination(ctx, e.data.Keyring, &other); err == nil {
		t.Fatal("the headers opened as another stream's")
	}

	// Same host, no headers: kept.
	up := stream.Input{Name: "hec", Destination: &stele.StreamDestination{Type: "https", URL: "https://hec.example.com:8088/services/collector/raw", Format: "ndjson"}}
	if _, err := e.svc.Update(ctx, e.owner("acme"), v.ID, up, e.actor); err != nil {
		t.Fatal(err)
	}
	raw, _ = e.db.Stream(ctx, e.accts["acme"].ID, v.ID)
	if d, err := stream.Destination(ctx, e.data.Keyring, raw); err != nil || d.Headers["Authorization"] != "Splunk 5ecret-hec-token-0001" {
		t.Fatalf("headers after an update to the same host: %v, %v", d.Headers, err)
	}
	// Another host, no headers: refused.
	up.Destination.URL = "https://attacker.example.net/collect"
	_, err = e.svc.Update(ctx, e.owner("acme"), v.ID, up, e.actor)
	if r := rules(t, err); r["destination.headers"] != "required_for_new_host" {
		t.Fatalf("rules %v", r)
	}
	// Empty headers: removed.
	up.Destination.Headers = map[string]string{}
	if _, err := e.svc.Update(ctx, e.owner("acme"), v.ID, up, e.actor); err != nil {
		t.Fatal(err)
	}
	raw, _ = e.db.Stream(ctx, e.accts["acme"].ID, v.ID)
	if raw.SealedHeaders != "" || len(raw.Destination.Headers) != 0 {
		t.Fatalf("headers not removed: %v %q", raw.Destination.Headers, raw.SealedHeaders)
	}

	for _, account := range []string{"acme", stele.SystemAccount} {
		evs := e.ownEvents(account, "action:stream.*")
		if len(evs) != 3 {
			t.Fatalf("%s has %d stream events, want created and two updates", account, len(evs))
		}
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			if strings.Contains(string(b), "5ecret") || strings.Contains(string(b), "channel=x") {
				t.Fatalf("a secret is in the log: %s", b)
			}
		}
	}
	if strings.Contains(e.logs.String(), "5ecret") {
		t.Fatal("a secret is in the server log")
	}
}

// TestStreamChangesAreRecordedWithBeforeAndAfter: created, updated and
// deleted, in the account's log and the operator's, by whom.
func TestStreamChangesAreRecordedWithBeforeAndAfter(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.create("acme", stream.Input{Name: "siem", Query: "category:authentication", Destination: syslogTo("siem.example.com:514", "cef")})
	off := false
	if _, err := e.svc.Update(ctx, e.owner("acme"), v.ID, stream.Input{Name: "siem-2", Query: "", Enabled: &off,
		Destination: &stele.StreamDestination{Type: "syslog", Address: "siem.example.com:6514", TLS: true, Format: "json"}}, e.actor); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, e.owner("acme"), v.ID, e.actor); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(ctx, e.owner("acme"), v.ID); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("deleted stream: %v", err)
	}
	for _, account := range []string{"acme", stele.SystemAccount} {
		evs := e.ownEvents(account, "action:stream.*")
		if len(evs) != 3 {
			t.Fatalf("%s: %d stream events", account, len(evs))
		}
		del, upd, cre := evs[0], evs[1], evs[2]
		if cre.Action != "stream.created" || upd.Action != "stream.updated" || del.Action != "stream.deleted" || cre.Category != stele.CategoryConfiguration {
			t.Fatalf("actions %s %s %s", cre.Action, upd.Action, del.Action)
		}
		m := upd.Metadata
		if m["name_before"] != "siem" || m["name_after"] != "siem-2" || m["query_before"] != "category:authentication" || m["query_after"] != "" ||
			m["enabled_before"] != true || m["enabled_after"] != false ||
			m["destination_before"] != "syslog siem.example.com:514 cef" || m["destination_after"] != "syslog+tls siem.example.com:6514 json" {
			t.Fatalf("update metadata %v", m)
		}
		if upd.Actor == nil || upd.Actor.Type != "operator" || upd.Target.ID != v.ID {
			t.Fatalf("update actor %+v target %+v", upd.Actor, upd.Target)
		}
	}
}

// TestStreamsTenancy: an account reads, changes, replays and deletes
// only its own streams.
func TestStreamsTenancyInTheService(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.create("acme", stream.Input{Name: "siem", Destination: syslogTo("siem:514", "cef")})
	g := e.owner("globex")
	if _, err := e.svc.Get(ctx, g, v.ID); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("globex read acme's stream: %v", err)
	}
	if _, err := e.svc.Update(ctx, g, v.ID, stream.Input{Name: "mine", Destination: syslogTo("evil:514", "cef")}, e.actor); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("globex changed acme's stream: %v", err)
	}
	if _, err := e.svc.Replay(ctx, g, v.ID, time.Now().Add(-time.Hour), time.Now(), e.actor); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("globex replayed acme's stream: %v", err)
	}
	if err := e.svc.Delete(ctx, g, v.ID, e.actor); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("globex deleted acme's stream: %v", err)
	}
	if list, _ := e.svc.List(ctx, g); len(list) != 0 {
		t.Fatalf("globex lists %d streams", len(list))
	}
}

// TestReplayRequestsAreChecked: the window needs both ends in order, at
// most a year, and a stream has at most a few replays waiting.
func TestReplayRequestsAreChecked(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.create("acme", stream.Input{Name: "siem", Destination: syslogTo("siem:514", "cef")})
	now := time.Now()
	for _, tc := range []struct {
		after, before time.Time
		field, rule   string
	}{
		{time.Time{}, now, "after", "required"},
		{now, now.Add(-time.Hour), "before", "after_start"},
		{now.Add(-400 * 24 * time.Hour), now, "before", "max_window"},
		{now.Add(time.Hour), now.Add(2 * time.Hour), "after", "not_future"},
	} {
		_, err := e.svc.Replay(ctx, e.owner("acme"), v.ID, tc.after, tc.before, e.actor)
		if r := rules(t, err); r[tc.field] != tc.rule {
			t.Fatalf("window %v–%v: rules %v, want %s %s", tc.after, tc.before, r, tc.field, tc.rule)
		}
	}
	for range stele.MaxPendingReplays {
		if _, err := e.svc.Replay(ctx, e.owner("acme"), v.ID, now.Add(-time.Hour), now, e.actor); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Replay(ctx, e.owner("acme"), v.ID, now.Add(-time.Hour), now, e.actor); stele.ErrorCode(err) != stele.ECONFLICT {
		t.Fatalf("one replay too many: %v", err)
	}
}

// TestAnAccountHasAtMostSoManyStreams: the limit is a conflict, with the
// number in the message.
func TestAnAccountHasAtMostSoManyStreams(t *testing.T) {
	e := newEnv(t)
	for i := range stele.MaxStreamsPerAccount {
		e.create("acme", stream.Input{Name: "s" + string(rune('a'+i)), Destination: syslogTo("siem:514", "cef")})
	}
	_, err := e.svc.Create(t.Context(), e.owner("acme"), stream.Input{Name: "one more", Destination: syslogTo("siem:514", "cef")}, e.actor)
	if stele.ErrorCode(err) != stele.ECONFLICT || !strings.Contains(stele.ErrorMessage(err), "20") {
		t.Fatalf("the stream over the limit: %v", err)
	}
}
