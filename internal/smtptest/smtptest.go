//go:build linux

// Package smtptest runs a real SMTP server for tests: Debian's exim4
// (package exim4-daemon-light), started by the test with a configuration of
// its own on a loopback port, offering STARTTLS with a test certificate and,
// when asked, requiring AUTH PLAIN, and delivering every accepted message to
// a maildir that the test reads.
//
// Recipients whose local part starts with "refuse" are refused for good
// (550) and those starting with "later" for now (451), so that a test can
// see both kinds of refusal.
//
// Without exim, or when not run as root (exim must switch users to run as a
// daemon), tests skip, unless STELE_REQUIRE_SMTP is set, as CI sets it: then
// they fail, so that email is never silently left untested.
package smtptest

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

// Options shape the server.
type Options struct {
	// Username and Password, when set, make the server require AUTH PLAIN
	// with them before it accepts mail. AUTH is offered only after STARTTLS.
	// Letters, digits and ._- only.
	Username, Password string
	// NoTLS makes the server offer no STARTTLS and take mail in clear.
	NoTLS bool
}

// Server is a running exim.
type Server struct {
	Host string // 127.0.0.1
	Port int
	// RootCAs trusts the server's test certificate, which names 127.0.0.1
	// and localhost. Nil with NoTLS.
	RootCAs *x509.CertPool

	dir     string
	maildir string
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

var credential = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Start starts exim for the test and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	exim := find(t)
	if (opts.Username != "" || opts.Password != "") && (!credential.MatchString(opts.Username) || !credential.MatchString(opts.Password)) {
		t.Fatal("smtptest: a test user name and password use letters, digits and ._- only")
	}
	if opts.Username != "" && opts.NoTLS {
		t.Fatal("smtptest: AUTH is offered only after STARTTLS; NoTLS and a user do not go together")
	}
	owner := eximUser(t)

	// Exim's processes run as its own user and must reach every file, so
	// the directory is not a 0700 t.TempDir.
	dir, err := os.MkdirTemp("", "stele-smtptest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Host: "127.0.0.1", dir: dir, maildir: filepath.Join(dir, "maildir")}
	must(t, os.Chmod(dir, 0o755))
	for _, d := range []string{"spool", "log", "maildir", "maildir/new", "maildir/cur", "maildir/tmp"} {
		must(t, os.Mkdir(filepath.Join(dir, d), 0o750))
		must(t, os.Chown(filepath.Join(dir, d), owner.uid, owner.gid))
	}
	conf := config{Dir: dir, User: owner.name, TLS: !opts.NoTLS, Username: opts.Username, Password: opts.Password}
	if conf.TLS {
		certPEM, keyPEM, pool := newCertificate(t)
		s.RootCAs = pool
		must(t, os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600))
		must(t, os.Chown(filepath.Join(dir, "key.pem"), owner.uid, owner.gid))
	}
	confPath := filepath.Join(dir, "exim.conf")
	// Readable by exim's user: the delivery process exim starts for each
	// message runs as that user and reads the configuration again.
	must(t, os.WriteFile(confPath, conf.render(), 0o644))
	if out, err := exec.Command(exim, "-C", confPath, "-bV").CombinedOutput(); err != nil {
		t.Fatalf("smtptest: exim refuses the configuration: %v\n%s", err, out)
	}

	// Exim's inetd wait mode (-bw) takes the listening socket as its
	// standard input: the port is known and connections queue from now on,
	// so there is nothing to wait for before the first one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	sock, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	output, err := os.Create(filepath.Join(dir, "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer output.Close()
	cmd := exec.Command(exim, "-C", confPath, "-bw")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = sock, output, output
	// Its own process group, so that the daemon and the processes it forks
	// end together; and killed should the test binary die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	sock.Close()
	if err != nil {
		t.Fatalf("smtptest: start exim: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return s
}

// find returns exim's path, or skips or fails the test without it.
func find(t testing.TB) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("STELE_REQUIRE_SMTP") != "" {
			t.Fatalf("STELE_REQUIRE_SMTP is set but %s", why)
		}
		t.Skip(why)
	}
	path, err := exec.LookPath("exim4")
	if err != nil {
		if path, err = exec.LookPath("exim"); err != nil {
			for _, p := range []string{"/usr/sbin/exim4", "/usr/sbin/exim"} {
				if _, err := os.Stat(p); err == nil {
					path = p
				}
			}
		}
	}
	switch {
	case path == "":
		skip("exim is not installed (apt-get install exim4-daemon-light)")
	case os.Geteuid() != 0:
		skip("exim runs as a daemon only for root")
	}
	return path
}

type account struct {
	name     string
	uid, gid int
}

// eximUser returns the user exim's processes run as.
func eximUser(t testing.TB) account {
	t.Helper()
	for _, name := range []string{"Debian-exim", "exim", "mail"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return account{name: name, uid: uid, gid: gid}
	}
	t.Fatal("smtptest: exim's user (Debian-exim) does not exist")
	return account{}
}

// Log returns what exim wrote: its main and panic logs and its output.
func (s *Server) Log() string {
	var b bytes.Buffer
	for _, f := range []string{"log/mainlog", "log/paniclog", "log/rejectlog", "output"} {
		if data, err := os.ReadFile(filepath.Join(s.dir, f)); err == nil {
			fmt.Fprintf(&b, "== %s\n%s", f, data)
		} else if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(&b, "== %s: %v\n", f, err)
		}
	}
	return b.String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
