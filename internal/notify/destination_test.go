package notify

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

const goodSecret = "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCD"

func TestValidateDestinationsNamesFieldAndRule(t *testing.T) {
	tooMany := make([]string, MaxRecipients+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("ops%d@example.com", i)
	}
	tests := []struct {
		name  string
		d     Destination
		p     URLPolicy
		field string
		rule  string
	}{
		{"missing type", Destination{URL: "https://x.example"}, URLPolicy{}, "destinations[0].type", "required"},
		{"unknown type", Destination{Type: "pager"}, URLPolicy{}, "destinations[0].type", "one_of"},
		{"webhook without url", Destination{Type: TypeWebhook, Secret: goodSecret}, URLPolicy{}, "destinations[0].url", "required"},
		{"relative url", Destination{Type: TypeWebhook, URL: "/hooks", Secret: goodSecret}, URLPolicy{}, "destinations[0].url", "url"},
		{"http url", Destination{Type: TypeWebhook, URL: "http://hooks.example.com/x", Secret: goodSecret}, URLPolicy{AllowLoopbackHTTP: true}, "destinations[0].url", "https"},
		{"http loopback not allowed", Destination{Type: TypeWebhook, URL: "http://127.0.0.1:8080/x", Secret: goodSecret}, URLPolicy{}, "destinations[0].url", "https"},
		{"ftp url", Destination{Type: TypeSlack, URL: "ftp://hooks.example.com/x"}, URLPolicy{}, "destinations[0].url", "https"},
		{"credentials in url", Destination{Type: TypeWebhook, URL: "https://u:p@hooks.example.com/x", Secret: goodSecret}, URLPolicy{}, "destinations[0].url", "no_credentials"},
		{"fragment", Destination{Type: TypeSlack, URL: "https://hooks.example.com/x#y"}, URLPolicy{}, "destinations[0].url", "no_fragment"},
		{"long url", Destination{Type: TypeSlack, URL: "https://hooks.example.com/" + strings.Repeat("a", MaxURLLength)}, URLPolicy{}, "destinations[0].url", "max_length"},
		{"webhook without secret", Destination{Type: TypeWebhook, URL: "https://hooks.example.com/x"}, URLPolicy{}, "destinations[0].secret", "required"},
		{"short secret", Destination{Type: TypeWebhook, URL: "https://hooks.example.com/x", Secret: "whsec_short"}, URLPolicy{}, "destinations[0].secret", "min_length"},
		{"weak secret", Destination{Type: TypeWebhook, URL: "https://hooks.example.com/x", Secret: strings.Repeat("ab", 20)}, URLPolicy{}, "destinations[0].secret", "weak"},
		{"secret with space", Destination{Type: TypeWebhook, URL: "https://hooks.example.com/x", Secret: goodSecret + " x"}, URLPolicy{}, "destinations[0].secret", "charset"},
		{"slack with secret", Destination{Type: TypeSlack, URL: "https://hooks.slack.com/services/T/B/X", Secret: goodSecret}, URLPolicy{}, "destinations[0].secret", "not_allowed"},
		{"webhook with to", Destination{Type: TypeWebhook, URL: "https://hooks.example.com/x", Secret: goodSecret, To: []string{"a@example.com"}}, URLPolicy{}, "destinations[0].to", "not_allowed"},
		{"email without to", Destination{Type: TypeEmail}, URLPolicy{}, "destinations[0].to", "required"},
		{"email with url", Destination{Type: TypeEmail, To: []string{"a@example.com"}, URL: "https://x.example"}, URLPolicy{}, "destinations[0].url", "not_allowed"},
		{"too many recipients", Destination{Type: TypeEmail, To: tooMany}, URLPolicy{}, "destinations[0].to", "max_items"},
		{"display name", Destination{Type: TypeEmail, To: []string{"Ops <ops@example.com>"}}, URLPolicy{}, "destinations[0].to[0]", "email"},
		{"newline in address", Destination{Type: TypeEmail, To: []string{"ops@example.com\r\nBcc: x@example.com"}}, URLPolicy{}, "destinations[0].to[0]", "email"},
		{"no domain", Destination{Type: TypeEmail, To: []string{"ok@example.com", "ops"}}, URLPolicy{}, "destinations[0].to[1]", "email"},
		{"dotless domain", Destination{Type: TypeEmail, To: []string{"ops@intranet"}}, URLPolicy{}, "destinations[0].to[0]", "email"},
		{"duplicate recipient", Destination{Type: TypeEmail, To: []string{"ops@example.com", "OPS@example.com"}}, URLPolicy{}, "destinations[0].to[1]", "unique"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDestinations([]Destination{tt.d}, tt.p)
			var e *stele.Error
			if !errors.As(err, &e) || e.Code != stele.EINVALID {
				t.Fatalf("got %v, want an EINVALID *stele.Error", err)
			}
			for _, d := range e.Details {
				if d.Field == tt.field && d.Rule == tt.rule {
					if !strings.Contains(d.Message, tt.field) {
						t.Errorf("message %q does not name the field %s", d.Message, tt.field)
					}
					return
				}
			}
			t.Fatalf("details %+v lack %s/%s", e.Details, tt.field, tt.rule)
		})
	}
}

func TestValidateDestinationsAcceptsGoodOnes(t *testing.T) {
	ds := []Destination{
		{Type: TypeWebhook, URL: "https://hooks.example.com/stele?team=sec", Secret: NewSecret()},
		{Type: TypeSlack, URL: "https://hooks.slack.com/services/T000/B000/XXXX"},
		{Type: TypeEmail, To: []string{"ops@example.com", "sec+alerts@corp.example.org"}},
	}
	if err := ValidateDestinations(ds, URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	loop := []Destination{{Type: TypeWebhook, URL: "http://127.0.0.1:9000/hook", Secret: goodSecret}, {Type: TypeSlack, URL: "http://localhost:9000/slack"}}
	if err := ValidateDestinations(loop, URLPolicy{AllowLoopbackHTTP: true}); err != nil {
		t.Fatal(err)
	}
}

func TestValidateDestinationsCountsThem(t *testing.T) {
	for _, n := range []int{0, MaxDestinations + 1} {
		ds := make([]Destination, n)
		for i := range ds {
			ds[i] = Destination{Type: TypeEmail, To: []string{"ops@example.com"}}
		}
		err := ValidateDestinations(ds, URLPolicy{})
		var e *stele.Error
		if !errors.As(err, &e) || e.Details[0].Field != "destinations" {
			t.Errorf("%d destinations: got %v", n, err)
		}
	}
}

func TestNewSecretIsStrongAndFresh(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	if err := CheckSecret(a); err != nil {
		t.Fatalf("a new secret fails its own check: %+v", err)
	}
	if !strings.HasPrefix(a, "whsec_") || len(a) != len("whsec_")+43 {
		t.Fatalf("secret %q: want whsec_ and 43 base64url characters", a)
	}
}

func TestDestinationSecretsStayOutOfLogsAndAPI(t *testing.T) {
	secretPath := "/services/T000/B000/SLACKTOKEN"
	ds := []Destination{
		{Type: TypeWebhook, URL: "https://hooks.example.com/in?token=QUERYTOKEN", Secret: goodSecret, PreviousSecret: "whsec_PREVIOUS_0123456789abcdefghij"},
		{Type: TypeSlack, URL: "https://hooks.slack.com" + secretPath},
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for _, d := range ds {
		log.Info("delivering", "destination", d)
		fmt.Fprintf(&buf, "%v %s\n", d, d)
		r := d.Redacted()
		fmt.Fprintf(&buf, "%s %s %s\n", r.URL, r.Secret, r.PreviousSecret)
	}
	out := buf.String()
	for _, s := range []string{goodSecret, "PREVIOUS", "SLACKTOKEN", "QUERYTOKEN"} {
		if strings.Contains(out, s) {
			t.Errorf("%q leaked:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "hooks.slack.com") || !strings.Contains(out, "hooks.example.com") {
		t.Errorf("the hosts should still show:\n%s", out)
	}
	if got := ds[0].Redacted().URL; got != "https://hooks.example.com/in?…" {
		t.Errorf("redacted webhook URL = %q", got)
	}
}
