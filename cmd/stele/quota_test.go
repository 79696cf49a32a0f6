package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestQuotaSetWithTheCLIIsEnforcedCountedAndRecorded is the operator's
// tour of the ingest quota: an account made with its own quota is refused
// past it by the running server with 429 and Retry-After, the refusal shows
// in /metrics and, once the server stops, as one ingest.throttled event in
// the account's log; accounts set changes the quota, accounts list shows
// it, and the change is recorded in the account and in _system.
func TestQuotaSetWithTheCLIIsEnforcedCountedAndRecorded(t *testing.T) {
	data := newStoreDir(t)
	runCLI(t, "accounts", "create", "metered", "--type", "team", "--ingest-events-per-second", "2", "--ingest-burst-seconds", "5", "--data", data)
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "metered", "--scopes", "events:write,events:read", "--json", "--data", data)), &key); err != nil {
		t.Fatal(err)
	}
	serve, base := startServe(t, data)
	batch := `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"action":"user.login"},`, 10), ",") + `]}`
	if code := send(t, "POST", base+"/v1/events", key.Key, batch); code != 201 {
		t.Fatalf("the first burst: %d", code)
	}
	// Five more events need 2.5 s of refill: no pause of a slow machine
	// between the two requests gives them that.
	more := `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"action":"user.login"},`, 5), ",") + `]}`
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(more))
	req.Header.Set("Authorization", "Bearer "+key.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || err != nil || s < 1 {
		t.Fatalf("past the quota: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `stele_ingest_throttled_requests_total{account="metered",quota="events_per_second"} 1`; !strings.Contains(string(metrics), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
	// The writer's histograms: the accepted batch of ten waited in the
	// queue as a small batch and went in a commit of whole batches.
	for _, series := range []string{`stele_ingest_queue_wait_seconds_count{batch="small"}`, `stele_ingest_commit_seconds_count{held="batches"}`} {
		if m := regexp.MustCompile(regexp.QuoteMeta(series) + ` ([0-9]+)\n`).FindSubmatch(metrics); m == nil || string(m[1]) == "0" {
			t.Fatalf("/metrics has no samples of %s", series)
		}
	}
	if err := serve.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve stopped with %v", err)
	}
	throttled := strings.TrimSpace(runCLI(t, "export", "--format", "jsonl", "--data", data, "--account", "metered", "action:ingest.throttled"))
	var ev struct {
		Category string         `json:"category"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(throttled), &ev); err != nil || ev.Category != "system" ||
		ev.Metadata["requests_refused"] != 1.0 || ev.Metadata["events_refused"] != 5.0 || ev.Metadata["events_per_second"] != 2.0 {
		t.Fatalf("the account's log holds %q (%v), want one ingest.throttled with one request refused", throttled, err)
	}

	runCLI(t, "accounts", "set", "metered", "--ingest-events-per-second", "unlimited", "--ingest-burst-seconds", "default",
		"--ingest-bytes-per-second", "8MiB", "--data", data)
	var accts []struct {
		Name   string
		Ingest struct {
			EventsPerSecond int64 `json:"events_per_second"`
			BytesPerSecond  int64 `json:"bytes_per_second"`
			BurstSeconds    int64 `json:"burst_seconds"`
		}
		IngestOverride map[string]int64 `json:"ingest_override"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, "accounts", "list", "--json", "--data", data)), &accts); err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		if a.Name == "metered" && (a.Ingest.EventsPerSecond != 0 || a.Ingest.BytesPerSecond != 8<<20 || a.Ingest.BurstSeconds != 10 ||
			len(a.IngestOverride) != 2 || a.IngestOverride["events_per_second"] != 0 || a.IngestOverride["bytes_per_second"] != 8<<20) {
			t.Fatalf("accounts list --json: %+v", a)
		}
	}
	if table := runCLI(t, "accounts", "list", "--data", data); !strings.Contains(table, "unlimited* events/s, 8 MiB*/s, burst 10s") {
		t.Fatalf("accounts list:\n%s", table)
	}
	for _, account := range []string{"metered", "_system"} {
		out := strings.TrimSpace(runCLI(t, "export", "--format", "jsonl", "--data", data, "--account", account, "action:ingest_quota.changed"))
		var ch struct{ Metadata map[string]any }
		if err := json.Unmarshal([]byte(out), &ch); err != nil || ch.Metadata["events_per_second_before"] != 2.0 ||
			ch.Metadata["events_per_second_after"] != 0.0 || ch.Metadata["burst_seconds_before"] != 5.0 || ch.Metadata["burst_seconds_after"] != 10.0 {
			t.Fatalf("%s's log: %q (%v)", account, out, err)
		}
	}
	if _, stderr, code := runCLIErr(t, "", nil, "accounts", "set", "metered", "--ingest-burst-seconds", "0", "--ingest-bytes-per-second", "lots", "--data", data); code != 2 ||
		!strings.Contains(stderr, "ingest_bytes_per_second: format") {
		t.Fatalf("bad settings: exit %d, %s", code, stderr)
	}
}
