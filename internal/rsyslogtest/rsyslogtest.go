// Package rsyslogtest gives tests a real rsyslogd of their own: listening
// on a loopback TCP port, plain or TLS (gtls, with a CA made for the test),
// writing every message it receives, as received, to a file the test reads
// back. A test may stop it and start it again on the same port, to take
// the receiver away under load.
//
// Tests skip when rsyslogd is not installed, unless STELE_REQUIRE_RSYSLOG
// is set, as CI sets it: then they fail, so that the syslog transport is
// never silently left untested. Debian's packages are rsyslog and
// rsyslog-gnutls.
package rsyslogtest

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"
)

// Options configure a Server.
type Options struct {
	// TLS makes the input take TLS only (gtls, anonymous clients), with a
	// certificate for 127.0.0.1 and localhost from RootCAs.
	TLS bool
	// MaxMessageSize is rsyslog's maxMessageSize; 0 leaves its default
	// (8096 bytes), what a receiver as installed accepts.
	MaxMessageSize int
}

// Server is one rsyslogd. Its methods fail the test on error.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	opts    Options
	rootCAs *x509.CertPool

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited

	counted, offset int64 // Count's progress through the messages file
}

// Binary returns the path of rsyslogd, or skips (or, when
// STELE_REQUIRE_RSYSLOG is set, fails) the test without it.
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("STELE_REQUIRE_RSYSLOG") != "" {
		t.Fatal("STELE_REQUIRE_RSYSLOG is set but rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)")
	}
	t.Skip("rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)")
	return ""
}

// Start starts rsyslogd on a free loopback port and stops it when the test
// ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir(), opts: o}
	if o.TLS {
		s.rootCAs = writeCertificates(t, s.dir)
	}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.Stop()
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(s.dir, "rsyslogd.log")); err == nil && len(b) > 0 {
				t.Logf("rsyslogd's output:\n%s", b[max(0, len(b)-4096):])
			}
		}
	})
	// Another process may take the free port between its choice and
	// rsyslogd's bind: then try another.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		s.writeConfig()
		if err := s.start(); err == nil {
			return s
		} else if attempt == 2 {
			t.Fatalf("rsyslogd: %v", err)
		}
	}
}

// Addr is the address rsyslogd listens on, host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// RootCAs holds the CA of the server's certificate (TLS only).
func (s *Server) RootCAs() *x509.CertPool { return s.rootCAs }

// Restart starts rsyslogd again, after Stop, on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("rsyslogtest: Restart while rsyslogd runs")
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("rsyslogd restart: %v", err)
	}
}

// Stop stops rsyslogd as an administrator would (SIGTERM), letting it
// write out what it has read, and returns once it has exited.
func (s *Server) Stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.t.Error("rsyslogd did not stop within 30 s of SIGTERM; killed")
	}
	s.cmd = nil
}

// start runs rsyslogd in the foreground and waits until it accepts
// connections, or exits.
func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.dir, "rsyslogd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(s.bin, "-n", "-f", filepath.Join(s.dir, "rsyslog.conf"), "-i", filepath.Join(s.dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			conn.Close()
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("rsyslogd exited before listening on %s (%s)", s.Addr(), cmd.ProcessState)
		case <-deadline:
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("rsyslogd did not listen on %s within 20 s", s.Addr())
		case <-tick.C:
		}
	}
}

// writeConfig writes rsyslog.conf: one imtcp input on the loopback port,
// bound to a ruleset that writes each message's raw text as a line. The
// raw text is what the sender framed (rsyslog escapes control characters
// in it as #ooo, so a sender that writes none gets its bytes back).
func (s *Server) writeConfig() {
	var global, module string
	if s.opts.MaxMessageSize > 0 {
		global += fmt.Sprintf(" maxMessageSize=%q", strconv.Itoa(s.opts.MaxMessageSize))
	}
	if s.opts.TLS {
		global += fmt.Sprintf(" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			filepath.Join(s.dir, "ca.pem"), filepath.Join(s.dir, "cert.pem"), filepath.Join(s.dir, "key.pem"))
		module = ` streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"`
	}
	conf := fmt.Sprintf(`global(workDirectory=%q%s)
module(load="imtcp"%s)
template(name="raw" type="string" string="%%rawmsg%%\n")
ruleset(name="stele") {
	action(type="omfile" file=%q template="raw")
}
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="stele")
`, s.dir, global, module, s.MessagesFile(), s.port)
	if err := os.WriteFile(filepath.Join(s.dir, "rsyslog.conf"), []byte(conf), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// MessagesFile is the file rsyslogd writes the messages to, one a line.
func (s *Server) MessagesFile() string { return filepath.Join(s.dir, "messages") }

// Messages returns the raw messages written so far, oldest first (a line
// still being written is left for later).
func (s *Server) Messages() []string {
	s.t.Helper()
	b, err := os.ReadFile(s.MessagesFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	} else {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// WaitFor polls the messages file until at least n messages are there,
// and returns them; see Await.
func (s *Server) WaitFor(ctx context.Context, n int) []string {
	s.t.Helper()
	return s.Await(ctx, fmt.Sprintf("%d messages", n), func(msgs []string) bool { return len(msgs) >= n })
}

// Await polls the messages file until done holds of the messages there,
// and returns them. It fails the test, saying what it waited for, if
// rsyslogd exits meanwhile or the context ends first.
func (s *Server) Await(ctx context.Context, what string, done func(msgs []string) bool) []string {
	s.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		msgs := s.Messages()
		if done(msgs) {
			return msgs
		}
		var exited <-chan struct{}
		if s.cmd != nil {
			exited = s.done
		}
		select {
		case <-exited:
			s.t.Fatalf("rsyslogd exited while waiting for %s (%d messages written)", what, len(msgs))
		case <-ctx.Done():
			s.t.Fatalf("waiting for %s (%d messages written): %v", what, len(msgs), ctx.Err())
		case <-tick.C:
		}
	}
}

// Count returns how many messages are written so far. It reads only what
// was added since its last call: for benchmarks, whose files grow large.
func (s *Server) Count() int {
	s.t.Helper()
	f, err := os.Open(s.MessagesFile())
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.ReadAt(buf, s.offset)
		// Count whole lines only; a line being written is left for later.
		i := bytes.LastIndexByte(buf[:n], '\n')
		if i < 0 {
			return int(s.counted)
		}
		s.counted += int64(bytes.Count(buf[:i+1], []byte("\n")))
		s.offset += int64(i + 1)
		if err != nil || n < len(buf) {
			return int(s.counted)
		}
	}
}

// WaitForCount polls Count until it reaches n, as WaitFor does.
func (s *Server) WaitForCount(ctx context.Context, n int) {
	s.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.Count() < n {
		select {
		case <-ctx.Done():
			s.t.Fatalf("%d of %d messages written: %v", s.Count(), n, ctx.Err())
		case <-tick.C:
		}
	}
}

// Parse parses raw messages as RFC 5424 (MSG held to UTF-8 after a BOM),
// failing the test on the first that does not parse.
func Parse(t testing.TB, raw []string) []*rfc5424.SyslogMessage {
	t.Helper()
	p := rfc5424.NewParser(rfc5424.WithCompliantMsg())
	out := make([]*rfc5424.SyslogMessage, len(raw))
	for i, r := range raw {
		m, err := p.Parse([]byte(r))
		if err != nil {
			t.Fatalf("message %d does not parse as RFC 5424: %v\n%q", i, err, r)
		}
		out[i] = m.(*rfc5424.SyslogMessage)
	}
	return out
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
