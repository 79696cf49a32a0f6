package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeCollectsGarbageAsTuned: stele serve runs the collector at
// ingest.GCPercent, as /metrics shows, unless its environment sets GOGC,
// which it keeps.
func TestServeCollectsGarbageAsTuned(t *testing.T) {
	// An empty GOGC, as Go reads it, is no setting: it overrides one this
	// test's own environment may have.
	for _, c := range []struct {
		env  []string
		want string
	}{{[]string{"GOGC="}, "go_gc_gogc_percent 400\n"}, {[]string{"GOGC=150"}, "go_gc_gogc_percent 150\n"}} {
		_, base := serveWith(t, newStoreDir(t), c.env)
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(metrics), c.want) {
			t.Errorf("with %v in the environment /metrics lacks %q", c.env, c.want)
		}
	}
}
