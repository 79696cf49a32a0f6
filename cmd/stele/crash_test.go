package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// binDir holds the command buildStele compiles, removed when the tests end.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(pairCleanup) {
		f()
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildStele compiles the command once per test binary.
var buildStele = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "stele-bin")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "stele")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func steleBin(t *testing.T) string {
	t.Helper()
	bin, err := buildStele()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runCLI runs an admin command of the built binary and returns its stdout.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(steleBin(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stele %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// startServe starts `stele serve` on a free port and returns its base URL.
func startServe(t *testing.T, data string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(steleBin(t), "serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base, err := listeningURL(stdout)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, base
}

// listeningURL reads a starting server's stdout up to the line that says
// where it listens, returns that base URL, and drains the rest.
func listeningURL(stdout io.Reader) (string, error) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
			base, _, _ := strings.Cut(rest, " ")
			go io.Copy(io.Discard, stdout)
			return base, nil
		}
	}
	return "", fmt.Errorf("serve exited before listening: %v", sc.Err())
}

func TestAcknowledgedEventsSurviveSIGKILL(t *testing.T) {
	data := newStoreDir(t)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var created struct{ ID, Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes", "events:write,events:read", "--json", "--data", data)), &created); err != nil {
		t.Fatal(err)
	}
	serve, base := startServe(t, data)

	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		n       atomic.Int64
		wg      sync.WaitGroup
		done    = make(chan struct{})
		reached = make(chan struct{})
		once    sync.Once
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				var events []string
				for j := range 20 {
					events = append(events, fmt.Sprintf(`{"action":"user.login","actor":{"id":"w%d-%d-%d"},"description":"crash test"}`, w, i, j))
				}
				req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(`{"events":[`+strings.Join(events, ",")+`]}`))
				req.Header.Set("Authorization", "Bearer "+created.Key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				var out struct{ Events []struct{ ID string } }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil {
					continue
				}
				mu.Lock()
				for _, e := range out.Events {
					acked[e.ID] = true
				}
				mu.Unlock()
				if n.Add(int64(len(out.Events))) >= 2000 {
					once.Do(func() { close(reached) })
				}
			}
		}()
	}
	// Kill once a good load has been acknowledged, with requests in flight.
	select {
	case <-reached:
	case <-time.After(2 * time.Minute):
	}
	if err := serve.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	serve.Wait()
	close(done)
	wg.Wait()
	if len(acked) < 2000 {
		t.Fatalf("only %d events acknowledged before the kill", len(acked))
	}

	_, base = startServe(t, data)
	found := map[string]bool{}
	for _, e := range listEvents(t, client, base, created.Key) {
		if acked[e.ID] && e.Description != "crash test" {
			t.Fatalf("event %s did not decrypt whole: %+v", e.ID, e)
		}
		found[e.ID] = true
	}
	for id := range acked {
		if !found[id] {
			t.Errorf("acknowledged event %s is missing after the restart", id)
		}
	}
	t.Logf("%d events acknowledged, %d stored after SIGKILL and restart", len(acked), len(found))
}

// listedEvent is what the tests that run a server (restarted, killed, or
// several nodes) compare of each event they read back.
type listedEvent struct {
	ID          string `json:"id"`
	Seq         int64  `json:"seq"`
	Time        string `json:"time"`
	Action      string `json:"action"`
	Description string `json:"description"`
	Actor       struct {
		ID string `json:"id"`
	} `json:"actor"`
}

// listEvents reads every event the key's account holds, page by page.
func listEvents(t *testing.T, client *http.Client, base, key string) []listedEvent {
	t.Helper()
	var all []listedEvent
	cursor := ""
	for {
		url := base + "/v1/events?limit=1000"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Events     []listedEvent `json:"events"`
			NextCursor *string       `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("list events: %d %v", resp.StatusCode, err)
		}
		all = append(all, page.Events...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
}
