package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The receiver's check as docs/ALERTS.md shows it, word for word between
// the markers, so that it compiles and runs against real deliveries.
// docs-begin
// verifySteleSignature reports whether header (Stele-Signature) signs body
// with secret, at a time within 5 minutes of now.
func verifySteleSignature(secret, header string, body []byte, now time.Time) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// docs-end

// docBlock returns the fenced block of the given language that follows
// marker in docs/ALERTS.md.
func docBlock(t *testing.T, marker, lang string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "ALERTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), marker)
	if !ok {
		t.Fatalf("docs/ALERTS.md lacks %q", marker)
	}
	_, after, ok = strings.Cut(after, "```"+lang+"\n")
	block, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 {
		t.Fatalf("no %s block after %q", lang, marker)
	}
	return block
}

// capture delivers one alert to a receiver that keeps the raw request.
func capture(t *testing.T, clk *clock) capturedRequest {
	t.Helper()
	rcv := &webhookReceiver{secrets: []string{goodSecret}, now: clk.Now}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, clk, nil)
	if err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: Destination{Type: TypeWebhook, URL: srv.URL, Secret: goodSecret}}); err != nil {
		t.Fatal(err)
	}
	_, reqs := rcv.snapshot()
	return reqs[0]
}

func TestDocsGoVerifierIsTheTestedOne(t *testing.T) {
	src, err := os.ReadFile("docs_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, code, _ := strings.Cut(string(src), "// docs-begin\n")
	code, _, _ = strings.Cut(code, "\n// docs-end")
	if got := docBlock(t, "<!-- checked by internal/notify/docs_test.go: keep the two copies the same -->", "go"); got != code {
		t.Fatalf("docs/ALERTS.md's Go verifier differs from the one tested here:\n%s\n---\n%s", got, code)
	}
	c := capture(t, newClock(time.Now()))
	sig := c.header.Get(SignatureHeader)
	if !verifySteleSignature(goodSecret, sig, c.body, time.Now()) {
		t.Error("the documented verifier refuses a real delivery")
	}
	if verifySteleSignature(goodSecret, sig, c.body, time.Now().Add(6*time.Minute)) {
		t.Error("the documented verifier accepts a replay after 5 minutes")
	}
	changed := append([]byte{}, c.body...)
	changed[len(changed)-2] ^= 1
	if verifySteleSignature(goodSecret, sig, changed, time.Now()) {
		t.Error("the documented verifier accepts a changed body")
	}
}

func TestDocsShellVerifier(t *testing.T) {
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	script := docBlock(t, "<!-- checked by internal/notify/docs_test.go -->\n", "sh")
	dir := t.TempDir()
	run := func(sig string, body []byte) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SIG="+sig, "SECRET="+goodSecret)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	c := capture(t, newClock(time.Now()))
	if got := run(c.header.Get(SignatureHeader), c.body); got != "valid" {
		t.Errorf("a real delivery: %q", got)
	}
	if got := run(c.header.Get(SignatureHeader), append(c.body, ' ')); got != "refused" {
		t.Errorf("a changed body: %q", got)
	}
	old := capture(t, newClock(time.Now().Add(-6*time.Minute)))
	if got := run(old.header.Get(SignatureHeader), old.body); got != "refused" {
		t.Errorf("a delivery signed 6 minutes ago: %q", got)
	}
}
