package forward_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/forward"
)

func TestDestinationDecodesFromDesignJSON(t *testing.T) {
	for _, raw := range []string{
		`{"type": "syslog", "address": "siem.example.com:6514", "tls": true, "format": "cef"}`,
		`{"type": "https", "url": "https://splunk.example.com:8088/services/collector/event", "format": "splunk_hec", "headers": {"Authorization": "Splunk 0f3a"}}`,
	} {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		var d forward.Destination
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestDestinationValidateNamesFieldAndRule(t *testing.T) {
	syslog := func(addr, format string) forward.Destination {
		return forward.Destination{Type: "syslog", Address: addr, Format: format}
	}
	https := func(url, format string, h map[string]string) forward.Destination {
		return forward.Destination{Type: "https", URL: url, Format: format, Headers: h}
	}
	cases := []struct {
		name  string
		d     forward.Destination
		field string
		rule  string
	}{
		{"no type", forward.Destination{}, "destination.type", "required"},
		{"unknown type", forward.Destination{Type: "kafka"}, "destination.type", "enum"},
		{"no address", syslog("", "cef"), "destination.address", "required"},
		{"address without port", syslog("siem.example.com", "cef"), "destination.address", "host_port"},
		{"address with a space", syslog("siem example:514", "cef"), "destination.address", "host_port"},
		{"address with a newline", syslog("siem\n.example:514", "cef"), "destination.address", "host_port"},
		{"port zero", syslog("siem.example.com:0", "cef"), "destination.address", "port"},
		{"port too high", syslog("10.0.0.1:65536", "cef"), "destination.address", "port"},
		{"port by name", syslog("10.0.0.1:syslog", "cef"), "destination.address", "port"},
		{"syslog without format", syslog("10.0.0.1:514", ""), "destination.format", "required"},
		{"syslog with an https format", syslog("10.0.0.1:514", "ndjson"), "destination.format", "enum"},
		{"syslog with a url", forward.Destination{Type: "syslog", Address: "10.0.0.1:514", Format: "json", URL: "https://x"}, "destination.url", "not_allowed"},
		{"syslog with headers", forward.Destination{Type: "syslog", Address: "10.0.0.1:514", Format: "json", Headers: map[string]string{"A": "b"}}, "destination.headers", "not_allowed"},
		{"no url", https("", "ndjson", nil), "destination.url", "required"},
		{"relative url", https("/collector", "ndjson", nil), "destination.url", "url"},
		{"http to a remote host", https("http://splunk.example.com/x", "ndjson", nil), "destination.url", "https"},
		{"ftp", https("ftp://splunk.example.com/x", "ndjson", nil), "destination.url", "https"},
		{"credentials in the url", https("https://user:pass@splunk.example.com/", "ndjson", nil), "destination.url", "no_userinfo"},
		{"fragment", https("https://splunk.example.com/#x", "ndjson", nil), "destination.url", "no_fragment"},
		{"url too long", https("https://splunk.example.com/"+strings.Repeat("a", 2048), "ndjson", nil), "destination.url", "max_length"},
		{"https with a syslog format", https("https://h.example/", "cef", nil), "destination.format", "enum"},
		{"https with an address", forward.Destination{Type: "https", URL: "https://h.example/", Format: "ocsf", Address: "h:1"}, "destination.address", "not_allowed"},
		{"https with tls", forward.Destination{Type: "https", URL: "https://h.example/", Format: "ocsf", TLS: true}, "destination.tls", "not_allowed"},
		{"header name with a space", https("https://h.example/", "ndjson", map[string]string{"X Token": "v"}), "destination.headers", "header_name"},
		{"header name with a colon", https("https://h.example/", "ndjson", map[string]string{"X-Token:": "v"}), "destination.headers", "header_name"},
		{"host header", https("https://h.example/", "ndjson", map[string]string{"host": "evil.example"}), "destination.headers.host", "reserved"},
		{"content-length header", https("https://h.example/", "ndjson", map[string]string{"Content-Length": "1"}), "destination.headers.Content-Length", "reserved"},
		{"header value with a line break", https("https://h.example/", "ndjson", map[string]string{"Authorization": "Splunk a\r\nX-Evil: 1"}), "destination.headers.Authorization", "header_value"},
		{"header value too long", https("https://h.example/", "ndjson", map[string]string{"X-Big": strings.Repeat("v", 8193)}), "destination.headers.X-Big", "max_length"},
		{"too many headers", https("https://h.example/", "ndjson", manyHeaders(33)), "destination.headers", "max_items"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.d.Validate()
			var se *stele.Error
			if !errors.As(err, &se) || se.Code != stele.EINVALID {
				t.Fatalf("Validate = %v, want an EINVALID *stele.Error", err)
			}
			for _, d := range se.Details {
				if d.Field == c.field && d.Rule == c.rule {
					if d.Message == "" {
						t.Errorf("%s %s has no message", d.Field, d.Rule)
					}
					return
				}
			}
			t.Errorf("details %+v lack %s %s", se.Details, c.field, c.rule)
		})
	}
}

func TestDestinationValidateAccepts(t *testing.T) {
	for _, d := range []forward.Destination{
		{Type: "syslog", Address: "127.0.0.1:514", Format: "json"},
		{Type: "syslog", Address: "[2001:db8::1]:6514", TLS: true, Format: "cef"},
		{Type: "syslog", Address: "siem-01.corp_net.example:10514", Format: "cef"},
		{Type: "https", URL: "https://in.example/v1/logs?source=stele", Format: "ndjson"},
		{Type: "https", URL: "http://127.0.0.1:8088/services/collector/event", Format: "splunk_hec",
			Headers: map[string]string{"Authorization": "Splunk 11111111-2222", "X-Splunk-Request-Channel": "c"}},
		{Type: "https", URL: "http://localhost:9000/ocsf", Format: "ocsf", Headers: map[string]string{"Content-Type": "application/json"}},
		{Type: "https", URL: "http://[::1]:9000/", Format: "ocsf"},
	} {
		if err := d.Validate(); err != nil {
			t.Errorf("%+v: %v", d, err)
		}
	}
}

// A header's value is a secret (a token): no error may repeat it.
func TestDestinationErrorsNeverQuoteHeaderValues(t *testing.T) {
	secret := "Splunk s3cr3t-t0ken\n"
	d := forward.Destination{Type: "https", URL: "http://example.com/", Format: "json",
		Headers: map[string]string{"Authorization": secret, "X-Other": strings.Repeat(secret, 1000)}}
	err := d.Validate()
	if err == nil {
		t.Fatal("Validate accepted an invalid destination")
	}
	b, _ := json.Marshal(err)
	if strings.Contains(err.Error()+string(b)+fmtDetails(err), "s3cr3t") {
		t.Errorf("the error quotes a header value: %v", err)
	}
}

func fmtDetails(err error) string {
	var se *stele.Error
	if !errors.As(err, &se) {
		return ""
	}
	b, _ := json.Marshal(se.Details)
	return se.Message + string(b)
}

func manyHeaders(n int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h["X-H"+strings.Repeat("a", i)] = "v"
	}
	return h
}
