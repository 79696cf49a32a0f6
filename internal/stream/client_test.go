package stream_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/stream"
)

// jsonShape is what encoding/json makes of a type: each field's JSON tag
// and the shape of its value, nested; time.Time and the root package's
// types by name.
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
			b.WriteString(f.Tag.Get("json") + " " + jsonShape(f.Type) + "; ")
		}
		return b.String() + "}"
	}
	return t.Kind().String()
}

// TestClientStreamTypesAreTheAPIs: the public client may import nothing
// internal, so its stream types (client/streams.go) are copies of this
// package's View and Input; they must read and write the same JSON.
func TestClientStreamTypesAreTheAPIs(t *testing.T) {
	for _, tc := range []struct{ api, client reflect.Type }{
		{reflect.TypeFor[stream.View](), reflect.TypeFor[client.Stream]()},
		{reflect.TypeFor[stream.Input](), reflect.TypeFor[client.StreamInput]()},
	} {
		if a, c := jsonShape(tc.api), jsonShape(tc.client); a != c {
			t.Errorf("%s and %s differ in JSON:\n api:    %s\n client: %s", tc.api, tc.client, a, c)
		}
	}
}
