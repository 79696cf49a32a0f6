package loadgen

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stele-audit/stele/client"
)

// BenchmarkSend measures the loader's cost of one request: the client
// package's work and the connection's, against a server that answers at
// once with the receipts of a batch of the given size.
func BenchmarkSend(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			receipts := make([]string, n)
			for i := range receipts {
				receipts[i] = fmt.Sprintf(`{"id":"evt_0000008000%06d","seq":%d,"account":"acme","leaf_hash":"m9vhq4yI0rQ3aD5m4pYkq0sX4fCQ5nS6r1Q2XHc8x9k="}`, i, i)
			}
			answer := []byte(`{"events":[` + strings.Join(receipts, ",") + "]}\n")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusCreated)
				w.Write(answer)
			}))
			defer srv.Close()
			c := &conn{t: mustTarget(b, srv.URL)}
			defer c.close()
			api, err := client.New(srv.URL, "stele_0123456789012345678901234567890123456789", client.WithTransport(c))
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"action":"user.login","actor":{"id":"u_1"}}`)
			for b.Loop() {
				if _, err := api.SendRaw(b.Context(), body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
