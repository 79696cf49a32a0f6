package export_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
)

var updateLeaf = flag.Bool("update-leaf", false, "rewrite testdata/leaf_vector.json")

// leafVector is the documented test vector of the leaf encoding
// (docs/INTEGRITY.md): an event as the API returns it, its canonical
// encoding and its RFC 6962 leaf hash.
type leafVector struct {
	Event     json.RawMessage `json:"event"`
	Canonical string          `json:"canonical_hex"`
	LeafHash  string          `json:"leaf_hash_hex"`
}

func TestLeafEncodingVector(t *testing.T) {
	path := filepath.Join("testdata", "leaf_vector.json")
	if *updateLeaf {
		ev := []byte(`{"id":"evt_000000g000000011","seq":17,"account":"acme","time":"2026-11-24T10:00:00.123456Z","received_at":"2026-11-24T10:00:00.2Z","action":"user.role_changed","category":"user_management","outcome":"success","actor":{"type":"user","id":"u_123","name":"Ada Lovelace","email":"ada@acme.io"},"target":{"type":"user","id":"u_456","name":"Bob"},"source":{"type":"aws","id":"aws-prod-123","name":"AWS production"},"ip":"203.0.113.7","user_agent":"Mozilla/5.0","request_id":"req_1","description":"Ada changed Bob's role from viewer to admin","metadata":{"role_after":"admin","role_before":"viewer","attempt":2,"mfa":true,"note":null},"idempotency_key":"k-1"}`)
		e := decodeEvent(t, ev)
		c := record.AppendCanonical(nil, e)
		h := ledger.LeafHash(c)
		b, _ := json.MarshalIndent(leafVector{Event: ev, Canonical: hex.EncodeToString(c), LeafHash: hex.EncodeToString(h[:])}, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v leafVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	e := decodeEvent(t, v.Event)
	c := record.AppendCanonical(nil, e)
	if hex.EncodeToString(c) != v.Canonical {
		t.Fatalf("canonical encoding changed:\n got %x\nwant %s", c, v.Canonical)
	}
	if h := ledger.LeafHash(c); hex.EncodeToString(h[:]) != v.LeafHash {
		t.Fatalf("leaf hash %x, want %s", h, v.LeafHash)
	}
}

func decodeEvent(t *testing.T, b []byte) *stele.Event {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var e stele.Event
	if err := dec.Decode(&e); err != nil {
		t.Fatal(err)
	}
	return &e
}

// FuzzDecodeBundle feeds arbitrary bytes to the bundle decoder and
// verifier: neither may panic, whatever the metadata or proofs hold.
func FuzzDecodeBundle(f *testing.F) {
	key, _, err := ledger.NewSigningKey("fuzz.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"format":"stele.bundle/v1","account":"acme","checkpoint":"x","events":[]}`))
	f.Add([]byte(`{"format":"stele.bundle/v1","account":"acme","checkpoint":"fuzz.example/acme\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n","events":[{"event":{"seq":0,"account":"acme","time":"2026-11-24T10:00:00Z","received_at":"2026-11-24T10:00:00Z","metadata":{"a":{"b":1}}},"leaf_hash":"","proof":["AAAA"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bundle, err := export.DecodeBundle(bytes.NewReader(b))
		if err != nil {
			return
		}
		_, _ = export.VerifyBundle(bundle, key.Verifier)
		for _, e := range bundle.Events {
			if e.Event != nil && strings.Contains(e.Event.Account, "\x00") {
				return
			}
		}
	})
}
