package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stele-audit/stele/internal/metrics"
)

// TestStreamFiguresArePerStreamAndAccount: the figures of the streams a
// node runs are exposed with the stream, its owner and the account read;
// a scrape whose reader panics still answers.
func TestStreamFiguresArePerStreamAndAccount(t *testing.T) {
	figures := []metrics.StreamFigure{{Stream: "str_1", Name: "platform", Owner: "_system", Errors: 4, Failing: true,
		Accounts: []metrics.StreamAccountFigure{{Account: "acme", LagEvents: 12, LagSeconds: 1.5, Forwarded: 900, Skipped: 3},
			{Account: "globex", Forwarded: 7}}}}
	var boom atomic.Bool
	c := metrics.New(metrics.Config{Streams: func() []metrics.StreamFigure {
		if boom.Load() {
			panic("figures")
		}
		return figures
	}})
	srv := httptest.NewServer(c.Handler(""))
	defer srv.Close()
	scrape := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, body := scrape()
	for _, want := range []string{
		`stele_stream_lag_events{account="acme",name="platform",owner="_system",stream="str_1"} 12`,
		`stele_stream_lag_seconds{account="acme",name="platform",owner="_system",stream="str_1"} 1.5`,
		`stele_stream_forwarded_events_total{account="acme",name="platform",owner="_system",stream="str_1"} 900`,
		`stele_stream_forwarded_events_total{account="globex",name="platform",owner="_system",stream="str_1"} 7`,
		`stele_stream_skipped_purged_events_total{account="acme",name="platform",owner="_system",stream="str_1"} 3`,
		`stele_stream_errors_total{name="platform",owner="_system",stream="str_1"} 4`,
		`stele_stream_failing{name="platform",owner="_system",stream="str_1"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in:\n%s", want, body)
		}
	}
	boom.Store(true)
	if status, body := scrape(); status != 200 || strings.Contains(body, "stele_stream_lag_events{") {
		t.Fatalf("a panicking reader: status %d", status)
	}
}
