package client_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stele-audit/stele/client"
)

// cannedTransport answers every request with the same 201 and body, so that
// a benchmark measures the client's own work.
type cannedTransport struct{ body []byte }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusCreated, Status: "201 Created", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, ContentLength: int64(len(c.body)),
		Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

// BenchmarkSendRaw is the client's cost of sending a body and reading the
// receipts of a batch of n events.
func BenchmarkSendRaw(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			receipts := make([]string, n)
			for i := range receipts {
				receipts[i] = fmt.Sprintf(`{"id":"evt_0000008000%06d","seq":%d,"account":"acme","leaf_hash":"m9vhq4yI0rQ3aD5m4pYkq0sX4fCQ5nS6r1Q2XHc8x9k="}`, i, i)
			}
			rt := cannedTransport{body: []byte(`{"events":[` + strings.Join(receipts, ",") + "]}\n")}
			c, err := client.New("http://127.0.0.1:8080", "stele_0123456789012345678901234567890123456789", client.WithTransport(rt))
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"action":"user.login","actor":{"id":"u_1"}}`)
			for b.Loop() {
				if rs, err := c.SendRaw(b.Context(), body); err != nil || len(rs) != n {
					b.Fatal(len(rs), err)
				}
			}
		})
	}
}
