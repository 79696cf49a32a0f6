package rsyslogtest_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stele-audit/stele/internal/rsyslogtest"
)

func send(t *testing.T, conn net.Conn, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if _, err := fmt.Fprintf(conn, "%d %s", len(m), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerWritesWhatItReceivesAcrossARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := rsyslogtest.Start(t, rsyslogtest.Options{})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	first := "<110>1 2026-11-24T10:00:00Z h stele - a.b [x@32473 k=\"v\\]\"] \uFEFFone"
	send(t, conn, first, "<110>1 - - - - - - two")
	conn.Close()
	got := s.WaitFor(ctx, 2)
	if got[0] != first || got[1] != "<110>1 - - - - - - two" {
		t.Errorf("received %q", got)
	}
	if m := rsyslogtest.Parse(t, got[:1])[0]; *m.Message != "\uFEFFone" || (*m.StructuredData)["x@32473"]["k"] != "v]" {
		t.Errorf("parsed %+v", m)
	}

	addr := s.Addr()
	s.Stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("rsyslogd still accepts connections after Stop")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, not %s", s.Addr(), addr)
	}
	conn, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	send(t, conn, "<110>1 - - - - - - three")
	conn.Close()
	if got := s.WaitFor(ctx, 3); got[2] != "<110>1 - - - - - - three" {
		t.Errorf("after the restart: %q", got)
	}
}

func TestServerTakesTLSWithTheTestCA(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := rsyslogtest.Start(t, rsyslogtest.Options{TLS: true})
	if _, err := tls.Dial("tcp", s.Addr(), &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("a client without the test CA verified the server")
	}
	conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: s.RootCAs(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	send(t, conn, "<110>1 - - - - - - over tls")
	conn.Close()
	if got := s.WaitFor(ctx, 1); got[0] != "<110>1 - - - - - - over tls" {
		t.Errorf("received %q", got)
	}
}

func TestCountReadsOnlyWhatWasAdded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := rsyslogtest.Start(t, rsyslogtest.Options{})
	if n := s.Count(); n != 0 {
		t.Fatalf("Count = %d before anything was sent", n)
	}
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for round, want := range []int{3, 5} {
		for i := 0; i < want-round*3; i++ {
			send(t, conn, fmt.Sprintf("<110>1 - - - - - - m%d", i))
		}
		s.WaitForCount(ctx, want)
		if n := s.Count(); n != want || len(s.Messages()) != want {
			t.Fatalf("Count = %d, Messages %d, want %d", n, len(s.Messages()), want)
		}
	}
}
