package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
)

// counting counts the requests it carries to the real server.
type counting struct{ n atomic.Int64 }

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestSendLinesBatchesAndSkipsBlankLines: JSON Lines go in requests of at
// most the batch size, blank lines skipped, and every event is stored.
func TestSendLinesBatchesAndSkipsBlankLines(t *testing.T) {
	s := newServer(t)
	var rt counting
	c := s.client(t, "all", client.WithTransport(&rt))
	var in strings.Builder
	for i := range 7 {
		fmt.Fprintf(&in, "{\"action\":\"user.login\",\"actor\":{\"id\":\"u_%d\"}}\n\n  \n", i)
	}
	n, err := c.SendLines(t.Context(), strings.NewReader(in.String()), 3)
	if err != nil || n != 7 {
		t.Fatalf("sent %d, %v", n, err)
	}
	if got := rt.n.Load(); got != 3 {
		t.Fatalf("%d requests for 7 events in batches of 3", got)
	}
	page, err := c.Events(t.Context(), "action:user.login", 100, "")
	if err != nil || len(page.Events) != 7 {
		t.Fatalf("stored %d events (%v)", len(page.Events), err)
	}
}

// TestSendLinesErrorsNameTheLines: a refused batch's details name the
// lines of the events they are about, with the field, or alone for an
// error about a whole event (never "line 6: : max_size"); the batches
// before it are stored, the refused one not at all.
func TestSendLinesErrorsNameTheLines(t *testing.T) {
	s := newServer(t)
	c := s.client(t, "all")
	// One byte over an event's size, in metadata values each within theirs.
	var vals []string
	for i := range 7 {
		vals = append(vals, fmt.Sprintf(`"k%d":"%s"`, i, strings.Repeat("v", stele.MaxMetadataValue)))
	}
	big := `{"action":"user.login","metadata":{` + strings.Join(vals, ",") + `,"last":""}}`
	big = big[:len(big)-3] + strings.Repeat("v", stele.MaxEventBytes+1-len(big)) + `"}}`
	good := `{"action":"user.login","actor":{"id":"u_1"}}`
	stored := 0
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{good, good, "", good, `{"action":"Not An Action"}`, `{"action":"user.login","ip":"nope"}`}, "line 5: action pattern, line 6: ip ip"},
		{[]string{good, good, good, big}, "line 4 max_size"},
	} {
		n, err := c.SendLines(t.Context(), strings.NewReader(strings.Join(tc.lines, "\n")), 3)
		var se *stele.Error
		if n != 3 || !errors.As(err, &se) || se.Code != stele.EINVALID {
			t.Fatalf("sent %d, error %T %v", n, err, err)
		}
		stored += n
		var fields []string
		for _, d := range se.Details {
			fields = append(fields, d.Field+" "+d.Rule)
		}
		if got := strings.Join(fields, ", "); got != tc.want {
			t.Errorf("details %q, want %q", got, tc.want)
		}
	}
	if page, _ := c.Events(t.Context(), "", 100, ""); len(page.Events) != stored {
		t.Fatalf("%d events stored, want the first batches' %d", len(page.Events), stored)
	}
}

// TestSendLinesRefusesWhatCannotBeSent: a batch size out of range, and a
// line longer than any event may be, are refused naming the batch or the
// line.
func TestSendLinesRefusesWhatCannotBeSent(t *testing.T) {
	s := newServer(t)
	c := s.client(t, "all")
	for _, batch := range []int{0, stele.MaxBatchEvents + 1} {
		if _, err := c.SendLines(t.Context(), strings.NewReader(`{"action":"user.login"}`), batch); stele.ErrorCode(err) != stele.EINVALID {
			t.Fatalf("batch %d: %v", batch, err)
		}
	}
	huge := `{"action":"user.login"}` + "\n" + strings.Repeat("x", stele.MaxEventBytes+2048) + "\n"
	n, err := c.SendLines(t.Context(), strings.NewReader(huge), 10)
	if n != 0 || err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Fatalf("sent %d, %v", n, err)
	}
}
