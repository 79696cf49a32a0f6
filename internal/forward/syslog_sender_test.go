package forward_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/rsyslogtest"
)

var errEnough = errors.New("enough")

// demoEvents returns n events of the demo account acme as the store would
// hand them over: ids and seqs assigned, in seq order.
func demoEvents(t testing.TB, n int) []*stele.Event {
	t.Helper()
	end := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	g := demo.New(1, end.Add(-60*24*time.Hour), end)
	out := make([]*stele.Event, 0, n)
	err := g.Events("acme", func(e stele.Event) error {
		if len(out) == n {
			return errEnough
		}
		e.Seq = int64(len(out))
		e.ID = stele.EventID(7, e.Seq)
		e.Account = "acme"
		e.ReceivedAt = e.Time
		out = append(out, &e)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	if len(out) < n {
		t.Fatalf("the demo made %d events, not %d", len(out), n)
	}
	return out
}

func batches(evs []*stele.Event, size int) [][]*stele.Event {
	var out [][]*stele.Event
	for b := range slices.Chunk(evs, size) {
		out = append(out, b)
	}
	return out
}

func testOptions(t testing.TB, server *rsyslogtest.Server) forward.Options {
	return forward.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Hostname: "stele-test", RootCAs: server.RootCAs(), Timeout: 5 * time.Second,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
}

func newSyslogSender(t testing.TB, server *rsyslogtest.Server, tls bool, format string, o forward.Options) forward.Sender {
	t.Helper()
	s, err := forward.New(forward.Destination{Type: "syslog", Address: server.Addr(), TLS: tls, Format: format}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// idOf reads the event id a received message carries in its MSG, CEF or
// JSON, and checks that the structured data names the same event.
func idOf(t testing.TB, raw string) string {
	t.Helper()
	m := rsyslogtest.Parse(t, []string{raw})[0]
	sdID := (*m.StructuredData)["stele@32473"]["id"]
	body, ok := strings.CutPrefix(*m.Message, "\uFEFF")
	if !ok {
		t.Fatalf("MSG without BOM: %q", raw)
	}
	var id string
	if strings.HasPrefix(body, "CEF:0|") {
		rec, err := parseCEF(body)
		if err != nil {
			t.Fatalf("%v: %q", err, body)
		}
		id, _ = rec.get("externalId")
	} else {
		var e stele.Event
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%v: %q", err, body)
		}
		id = e.ID
	}
	if id != sdID {
		t.Fatalf("MSG names %s, structured data %s", id, sdID)
	}
	return id
}

func TestSyslogDeliversEveryEventInOrder(t *testing.T) {
	evs := demoEvents(t, 3000)
	for _, tls := range []bool{false, true} {
		for _, format := range []string{"cef", "json"} {
			name := format + "/tcp"
			if tls {
				name = format + "/tls"
			}
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				server := rsyslogtest.Start(t, rsyslogtest.Options{TLS: tls})
				s := newSyslogSender(t, server, tls, format, testOptions(t, server))
				for _, b := range batches(evs, 100) {
					if err := s.Send(ctx, b); err != nil {
						t.Fatal(err)
					}
				}
				got := server.WaitFor(ctx, len(evs))
				if len(got) != len(evs) {
					t.Fatalf("%d messages arrived for %d events", len(got), len(evs))
				}
				for i, raw := range got {
					if id := idOf(t, raw); id != evs[i].ID {
						t.Fatalf("message %d is %s, want %s", i, id, evs[i].ID)
					}
				}
				m := rsyslogtest.Parse(t, got[:1])[0]
				if *m.Hostname != "stele-test" || *m.Appname != "stele" || *m.MsgID != evs[0].Action {
					t.Errorf("header: %s %s %s", *m.Hostname, *m.Appname, *m.MsgID)
				}
			})
		}
	}
}

// The receiver is stopped while a steady load is being sent, and started
// again: the sender reports errors meanwhile, the caller sends the failed
// batches again, and every event arrives, the first copy of each in order.
func TestSyslogResendsAcrossAReceiverOutage(t *testing.T) {
	evs := demoEvents(t, 6000)
	for _, tls := range []bool{false, true} {
		name := "tcp"
		if tls {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			server := rsyslogtest.Start(t, rsyslogtest.Options{TLS: tls})
			s := newSyslogSender(t, server, tls, "cef", testOptions(t, server))
			bs := batches(evs, 50)
			half, stopped := make(chan struct{}), make(chan struct{})
			failed := make(chan error, 1)
			var sendErrors int
			var wg sync.WaitGroup
			wg.Go(func() {
				halfSent := false
				for i := 0; i < len(bs); {
					if i == len(bs)/2 && !halfSent {
						halfSent = true
						close(half)
					}
					if i == 3*len(bs)/4 {
						// Past here nothing can arrive until the receiver
						// is back: the errors are certain.
						<-stopped
					}
					if err := s.Send(ctx, bs[i]); err != nil {
						if ctx.Err() != nil {
							return
						}
						sendErrors++
						select {
						case failed <- err:
						default:
						}
						continue // send the same batch again
					}
					i++
				}
			})
			<-half
			server.Stop() // while batches keep being written
			close(stopped)
			select {
			case err := <-failed:
				t.Logf("Send while the receiver is down: %v", err)
			case <-ctx.Done():
				t.Fatal("no Send failed while the receiver was down")
			}
			server.Restart()
			wg.Wait()
			if ctx.Err() != nil {
				t.Fatal(ctx.Err())
			}
			want := map[string]int{}
			for i, e := range evs {
				want[e.ID] = i
			}
			var got []string
			server.Await(ctx, "every event", func(msgs []string) bool {
				seen := map[string]bool{}
				got = got[:0]
				for _, raw := range msgs {
					id := idOf(t, raw)
					if !seen[id] {
						seen[id] = true
						got = append(got, id)
					}
				}
				return len(seen) == len(evs)
			})
			for i, id := range got {
				if want[id] != i {
					t.Fatalf("the first copy of %s (event %d) arrived %d-th", id, want[id], i)
				}
			}
			t.Logf("%d events arrived after %d failed sends, in at least %d messages (duplicates are resent batches and the replayed tail)",
				len(evs), sendErrors, len(server.Messages()))
		})
	}
}

func TestSyslogReportsAnUnreachableReceiverAndBacksOff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s, err := forward.New(forward.Destination{Type: "syslog", Address: addr, Format: "json"},
		forward.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := demoEvents(t, 1)
	err = s.Send(context.Background(), evs)
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Send = %v, want a connection error naming %s", err, addr)
	}
	// The next attempt waits for the backoff: a caller's deadline ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Send(ctx, evs); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting to reconnect") {
		t.Fatalf("second Send = %v, want the wait for the backoff to end with the context", err)
	}
}

func TestSyslogRefusesLinkLocalAddresses(t *testing.T) {
	s, err := forward.New(forward.Destination{Type: "syslog", Address: "169.254.169.254:514", Format: "json"}, forward.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(context.Background(), demoEvents(t, 1))
	if stele.ErrorCode(err) != stele.EFORBIDDEN {
		t.Fatalf("Send = %v, want EFORBIDDEN", err)
	}
}

func TestSyslogTLSVerifiesTheReceiver(t *testing.T) {
	server := rsyslogtest.Start(t, rsyslogtest.Options{TLS: true})
	o := testOptions(t, server)
	o.RootCAs = nil // the system's roots do not hold the test CA
	s := newSyslogSender(t, server, true, "cef", o)
	err := s.Send(context.Background(), demoEvents(t, 1))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send = %v, want a certificate error", err)
	}
}

// The default size limit is what rsyslog as installed takes: a message of
// exactly that size arrives whole, and so does one cut down to it.
func TestSyslogMessageAtTheLimitArrivesWhole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server := rsyslogtest.Start(t, rsyslogtest.Options{})
	n := 0
	for _, format := range []string{"cef", "json"} {
		f := forward.NewSyslog(format)
		f.Hostname, f.CEF.Version = "stele-test", "1.2.3"
		// Pad a metadata value (it appears once in either format) to
		// bring the message to the limit exactly.
		e := fixtures()[0]
		e.Metadata["pad"] = ""
		e.Metadata["pad"] = strings.Repeat("x", forward.DefaultMaxMessageSize-len(f.Append(nil, e)))
		atLimit := string(f.Append(nil, e))
		if len(atLimit) != forward.DefaultMaxMessageSize || strings.Contains(atLimit, "truncated") {
			t.Fatalf("%s: the padded message has %d bytes", format, len(atLimit))
		}
		over := huge()
		cut := string(f.Append(nil, over))
		o := testOptions(t, server)
		o.Version = "1.2.3"
		s := newSyslogSender(t, server, false, format, o)
		if err := s.Send(ctx, []*stele.Event{e, over}); err != nil {
			t.Fatal(err)
		}
		n += 2
		got := server.WaitFor(ctx, n)
		if len(got) != n || got[n-2] != atLimit || got[n-1] != cut {
			t.Errorf("%s: %d messages; the last two differ from those sent (%d and %d bytes sent, %d and %d arrived)",
				format, len(got), len(atLimit), len(cut), len(got[n-2]), len(got[n-1]))
		}
	}
}
