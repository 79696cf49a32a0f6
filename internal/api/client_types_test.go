package api_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/stream"
)

// jsonShape is what encoding/json makes of a type: each field's JSON tag
// and the shape of its value, nested, less the fields it leaves out;
// time.Time and the root package's types by name.
func jsonShape(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + jsonShape(t.Elem())
	case reflect.Slice:
		return "[]" + jsonShape(t.Elem())
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() || t.PkgPath() == "github.com/stele-audit/stele" {
			return t.String()
		}
		var b strings.Builder
		b.WriteString("{")
		for f := range t.Fields() {
			if f.Tag.Get("json") == "-" {
				continue
			}
			b.WriteString(f.Tag.Get("json") + " " + jsonShape(f.Type) + "; ")
		}
		return b.String() + "}"
	}
	return t.Kind().String()
}

// TestClientTypesReadAndWriteTheAPIsJSON: the public client may import
// nothing internal, so its types of streams (client/streams.go) and alert
// rules (client/alerts.go) are copies of the stream and alert packages'
// that this API serves; they must read and write the same JSON.
func TestClientTypesReadAndWriteTheAPIsJSON(t *testing.T) {
	for _, tc := range []struct{ api, client reflect.Type }{
		{reflect.TypeFor[stream.View](), reflect.TypeFor[client.Stream]()},
		{reflect.TypeFor[stream.Input](), reflect.TypeFor[client.StreamInput]()},
		{reflect.TypeFor[stream.ReplayView](), reflect.TypeFor[client.StreamReplay]()},
		{reflect.TypeFor[alert.Rule](), reflect.TypeFor[client.AlertRule]()},
		{reflect.TypeFor[alert.Input](), reflect.TypeFor[client.AlertRuleInput]()},
		{reflect.TypeFor[alert.TestResult](), reflect.TypeFor[client.AlertTestResult]()},
		{reflect.TypeFor[alert.Firing](), reflect.TypeFor[client.AlertFiring]()},
	} {
		if a, c := jsonShape(tc.api), jsonShape(tc.client); a != c {
			t.Errorf("%s and %s differ in JSON:\n api:    %s\n client: %s", tc.api, tc.client, a, c)
		}
	}
}
