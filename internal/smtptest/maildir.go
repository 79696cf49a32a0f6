//go:build linux

package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Message is one delivered message.
type Message struct {
	Raw    []byte
	Header mail.Header
	// Subject is the Subject header, decoded (RFC 2047).
	Subject string
	// Text and HTML are the decoded text/plain and text/html parts.
	Text, HTML string
}

// Wait bounds how long Messages waits for deliveries.
const Wait = 30 * time.Second

// Messages waits until at least n messages have been delivered and returns
// them all, in the order of their delivery. Exim delivers after it has
// answered the client, so a test that has sent mail waits here: on the
// maildir's directory changing (inotify), not on a timer.
func (s *Server) Messages(t testing.TB, n int) []*Message {
	t.Helper()
	dir := filepath.Join(s.maildir, "new")
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("smtptest: inotify: %v", err)
	}
	events := os.NewFile(uintptr(fd), "inotify") // non-blocking, so it takes deadlines
	defer events.Close()
	// Watch first, then look: a delivery between the two is not missed.
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MOVED_TO|syscall.IN_CREATE); err != nil {
		t.Fatalf("smtptest: watch %s: %v", dir, err)
	}
	deadline := time.Now().Add(Wait)
	buf := make([]byte, 64<<10)
	for {
		names := s.delivered(t)
		if len(names) >= n {
			msgs := make([]*Message, len(names))
			for i, name := range names {
				msgs[i] = readMessage(t, filepath.Join(dir, name))
			}
			return msgs
		}
		if err := events.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		if _, err := events.Read(buf); err != nil {
			t.Fatalf("smtptest: %d of %d messages delivered after %v (%v)\n%s", len(names), n, Wait, err, s.Log())
		}
	}
}

// delivered lists the delivered messages' files in delivery order: a
// maildir name starts with the delivery's seconds, then M and microseconds.
func (s *Server) delivered(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.maildir, "new"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		return strings.Compare(deliveryKey(a), deliveryKey(b))
	})
	return names
}

// deliveryKey pads a maildir name's time so that names sort by it.
func deliveryKey(name string) string {
	sec, rest, _ := strings.Cut(name, ".")
	micro, rest, _ := strings.Cut(strings.TrimPrefix(rest, "M"), "P")
	return fmt.Sprintf("%020s.%06s.%s", sec, micro, rest)
}

func readMessage(t testing.TB, path string) *Message {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("smtptest: %s is not a mail message: %v", path, err)
	}
	msg := &Message{Raw: raw, Header: m.Header}
	if msg.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("smtptest: subject: %v", err)
	}
	if err := msg.readPart(m.Header, m.Body); err != nil {
		t.Fatalf("smtptest: %s: %v", path, err)
	}
	return msg
}

type partHeader interface{ Get(string) string }

// readPart reads a body of the given header into Text or HTML, walking
// into multipart bodies.
func (m *Message) readPart(h partHeader, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			// multipart decodes quoted-printable parts itself.
			if err := m.readPart(p.Header, p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // it skips line breaks
	case "quoted-printable": // a part of a multipart body comes decoded
		body = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/plain":
		m.Text += string(data)
	case "text/html":
		m.HTML += string(data)
	}
	return nil
}
