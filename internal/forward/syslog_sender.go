package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// errClosed is what a closed sender's Send returns.
var errClosed = errors.New("forward: sender is closed")

// syslogSender sends RFC 5424 messages with RFC 6587 octet-counting
// framing over one TCP or TLS connection, kept open between batches.
//
// Plain syslog has no acknowledgement: a write that returns has reached the
// kernel, not the receiver, and a receiver that stops drops what it had
// not read. So the sender keeps the last ReplayBytes it wrote (the tail)
// and, when a connection breaks, writes the tail again on the next one
// before anything new. A goroutine per connection reads from it, which
// tells as soon as the receiver closes or resets it.
type syslogSender struct {
	addr   string
	tls    *tls.Config // nil for plain TCP
	dialer *net.Dialer
	format *Syslog
	o      Options

	conn   net.Conn
	dead   chan struct{} // closed when conn's reader sees the end
	broken bool          // a connection broke since the tail was last written whole
	tail   tail

	failures int       // failed attempts in a row
	retryAt  time.Time // no dial before it
	closed   bool

	msg, batch []byte
}

func newSyslogSender(d Destination, f *Syslog, o Options) *syslogSender {
	s := &syslogSender{addr: d.Address, format: f, o: o, tail: tail{max: o.ReplayBytes},
		dialer: &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Control: control(o.AllowAddr)}}
	if d.TLS {
		host, _, _ := net.SplitHostPort(d.Address)
		s.tls = &tls.Config{ServerName: host, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return s
}

// Send frames every event and writes the batch in one go.
func (s *syslogSender) Send(ctx context.Context, events []*stele.Event) error {
	if s.closed {
		return errClosed
	}
	if len(events) == 0 {
		return nil
	}
	s.batch = s.batch[:0]
	for _, e := range events {
		s.msg = s.format.Append(s.msg[:0], e)
		s.batch = strconv.AppendInt(s.batch, int64(len(s.msg)), 10)
		s.batch = append(s.batch, ' ')
		s.batch = append(s.batch, s.msg...)
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.write(ctx, s.batch); err != nil {
		return s.fail(err)
	}
	s.tail.add(s.batch)
	s.failures = 0
	return nil
}

// connect makes sure there is a live connection, dialling one (after the
// backoff, if the last attempt failed) and writing the tail on it when the
// last one broke.
func (s *syslogSender) connect(ctx context.Context) error {
	if s.conn != nil {
		select {
		case <-s.dead:
			s.drop()
			s.o.Logger.Warn("syslog receiver closed the connection", "address", s.addr)
		default:
			return nil
		}
	}
	if wait := time.Until(s.retryAt); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("syslog %s: waiting to reconnect: %w", s.addr, ctx.Err())
		case <-t.C:
		}
	}
	var conn net.Conn
	var err error
	if s.tls != nil {
		d := tls.Dialer{NetDialer: s.dialer, Config: s.tls}
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = s.dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		s.failures++
		s.retryAt = time.Now().Add(backoff(s.failures, s.o.MinBackoff, s.o.MaxBackoff))
		return fmt.Errorf("syslog %s: connect: %w", s.addr, err)
	}
	s.conn, s.dead = conn, make(chan struct{})
	go watch(conn, s.dead)
	s.o.Logger.Info("syslog connected", "address", s.addr, "tls", s.tls != nil)
	if s.broken {
		for _, b := range s.tail.batches {
			if err := s.write(ctx, b); err != nil {
				return s.fail(err)
			}
		}
		s.o.Logger.Info("syslog replayed what the last connection may have lost", "address", s.addr, "bytes", s.tail.size)
		s.broken = false
	}
	return nil
}

// watch reads conn until it ends: receivers send nothing, so the end is the
// receiver going away (or Close).
func watch(conn net.Conn, dead chan<- struct{}) {
	var b [512]byte
	for {
		if _, err := conn.Read(b[:]); err != nil {
			close(dead)
			return
		}
	}
}

// write writes b within the timeout and the context.
func (s *syslogSender) write(ctx context.Context, b []byte) error {
	deadline := time.Now().Add(s.o.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	conn := s.conn // the func may run after write returned and drop cleared s.conn
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	_, err := s.conn.Write(b)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// fail drops the connection after a failed write and returns the error
// for Send.
func (s *syslogSender) fail(err error) error {
	s.drop()
	s.failures++
	s.retryAt = time.Now().Add(backoff(s.failures, s.o.MinBackoff, s.o.MaxBackoff))
	s.o.Logger.Warn("syslog connection lost", "address", s.addr, "error", err)
	return fmt.Errorf("syslog %s: write: %w", s.addr, err)
}

func (s *syslogSender) drop() {
	s.conn.Close()
	s.conn, s.dead, s.broken = nil, nil, true
}

// Close closes the connection. What the receiver had not read by then is
// lost to it: close a sender when its stream stops, not to flush it.
func (s *syslogSender) Close() error {
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// tail holds the last batches written, at least max bytes of them when
// there were that many, for writing them again on a new connection.
type tail struct {
	max     int
	size    int
	batches [][]byte
	spare   [][]byte // buffers of dropped batches, reused
}

func (t *tail) add(b []byte) {
	var buf []byte
	if n := len(t.spare); n > 0 {
		buf, t.spare = t.spare[n-1][:0], t.spare[:n-1]
	}
	t.batches = append(t.batches, append(buf, b...))
	t.size += len(b)
	// Drop the oldest batches while the rest still covers max.
	for len(t.batches) > 1 && t.size-len(t.batches[0]) >= t.max {
		t.size -= len(t.batches[0])
		if len(t.spare) < 4 {
			t.spare = append(t.spare, t.batches[0])
		}
		t.batches[0] = nil
		t.batches = t.batches[1:]
	}
}
