package client

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stele-audit/stele"
)

// The receipts the API writes are read by the scanner; every other form
// by encoding/json. Either way the result is encoding/json's.
func TestDecodeReceiptsReadsWhatEncodingJSONReads(t *testing.T) {
	for _, tc := range []struct {
		body    string
		scanned bool
	}{
		{`{"events":[{"id":"evt_1","seq":0,"account":"acme","leaf_hash":"aGFzaA=="}]}` + "\n", true},
		{` { "events" : [ {"id":"a","seq":12,"account":"b","leaf_hash":"c","replayed":true} , {"seq":-3,"replayed":false} ] } `, true},
		{`{"events":[]}`, true},
		{`{"events":[{}]}`, true},
		{`{"events":[{"id":"\u0061"}]}`, false},
		{`{"events":[{"ID":"upper case keys match too"}]}`, false},
		{`{"events":[{"id":"a","id":"twice"}]}`, false},
		{`{"events":[{"seq":1.0}]}`, false},
		{`{"events":[{"seq":01}]}`, false},
		{`{"events":[{"id":"caf` + "\xc3\xa9" + `"}]}`, false},
		{`{"events":null}`, false},
		{`{"other":1,"events":[{"id":"a"}]}`, false},
		{`{"events":[{"id":"a","extra":{"x":[1,2]}}]}`, false},
	} {
		got, ok := scanReceipts(tc.body)
		if ok != tc.scanned {
			t.Errorf("%s: scanned %v, want %v", tc.body, ok, tc.scanned)
		}
		want, werr := unmarshalReceipts([]byte(tc.body))
		if ok && (werr != nil || !reflect.DeepEqual(got, want)) {
			t.Errorf("%s: scanned %+v, encoding/json %+v %v", tc.body, got, want, werr)
		}
		if dec, err := decodeReceipts([]byte(tc.body)); (err == nil) != (werr == nil) || err == nil && !reflect.DeepEqual(dec, want) {
			t.Errorf("%s: decoded %+v %v, encoding/json %+v %v", tc.body, dec, err, want, werr)
		}
	}
	for _, bad := range []string{``, `{"events":[{"seq":1e400}]}`, `{"events":[{"id":"a",}]}`, `{"events":[{"id":"a"}]}x`, `{"events":[{"seq":99999999999999999999}]}`} {
		if rs, err := decodeReceipts([]byte(bad)); err == nil {
			t.Errorf("%s: decoded %+v", bad, rs)
		}
	}
}

func unmarshalReceipts(b []byte) ([]stele.Receipt, error) {
	var answer struct {
		Events []stele.Receipt `json:"events"`
	}
	err := json.Unmarshal(b, &answer)
	return answer.Events, err
}

func FuzzDecodeReceipts(f *testing.F) {
	f.Add(`{"events":[{"id":"evt_1","seq":0,"account":"acme","leaf_hash":"aGFzaA=="}]}`)
	f.Add(`{"events":[{"id":"a","seq":12,"replayed":true},{"seq":-3}]}`)
	f.Add(`{"events":[]}`)
	f.Add(`{"events":[{"seq":-0}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		got, ok := scanReceipts(body)
		if !ok {
			return
		}
		want, err := unmarshalReceipts([]byte(body))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanned %+v, encoding/json %+v %v", body, got, want, err)
		}
	})
}
