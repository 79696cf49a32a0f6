package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A worker sends its requests one after another on a keep-alive HTTP/1.1
// connection of its own, writing each request and reading its response on
// its own goroutine. net/http's Transport hands every request between three
// goroutines, which costs the loader more CPU a request than the whole of
// this (docs/PERFORMANCE.md), CPU taken from the server when both share a
// machine. The connection is an http.RoundTripper: the requests themselves,
// and what their answers mean, are the client package's.

// target is the server requests go to.
type target struct {
	scheme, host string      // as in the URL: what requests must name
	addr         string      // host:port to dial
	tls          *tls.Config // nil for http
}

// newTarget parses base, the server's URL. tlsConfig, if not nil, is
// cloned for https.
func newTarget(base string, tlsConfig *tls.Config) (*target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("loadgen: URL: %w", err)
	}
	t := &target{scheme: u.Scheme, host: u.Host, addr: u.Host}
	switch u.Scheme {
	case "http":
		if u.Port() == "" {
			t.addr = net.JoinHostPort(u.Hostname(), "80")
		}
	case "https":
		if u.Port() == "" {
			t.addr = net.JoinHostPort(u.Hostname(), "443")
		}
		t.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsConfig != nil {
			t.tls = tlsConfig.Clone()
		}
		if t.tls.ServerName == "" {
			t.tls.ServerName = u.Hostname()
		}
	default:
		return nil, fmt.Errorf("loadgen: URL %q: the scheme must be http or https", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("loadgen: URL %q has no host", base)
	}
	return t, nil
}

// conn is a worker's connection, dialled when first needed and again after
// an error or a response that closes it. It carries one request at a time:
// a request waits until the response before it has been read and closed.
type conn struct {
	t  *target
	mu sync.Mutex // held from a request's write to its response body's Close
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// watched is the Done channel of the context whose end ends the
	// connection's requests; unwatch stops that. Every request of a run
	// carries the run's context: it is watched once, not per request.
	watched <-chan struct{}
	unwatch func() bool
	scratch []byte
}

var _ http.RoundTripper = (*conn)(nil)

func (c *conn) dial(ctx context.Context) error {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	var (
		nc  net.Conn
		err error
	)
	if c.t.tls != nil {
		nc, err = (&tls.Dialer{NetDialer: d, Config: c.t.tls}).DialContext(ctx, "tcp", c.t.addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", c.t.addr)
	}
	if err != nil {
		return err
	}
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, 16<<10)
	c.bw = bufio.NewWriterSize(nc, 64<<10)
	return nil
}

func (c *conn) close() {
	if c.unwatch != nil {
		c.unwatch()
		c.watched, c.unwatch = nil, nil
	}
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// watch makes the end of ctx end the request in flight on the connection,
// and the connection with it.
func (c *conn) watch(ctx context.Context) {
	done := ctx.Done()
	if done == c.watched {
		return
	}
	if c.unwatch != nil {
		c.unwatch()
	}
	c.watched, c.unwatch = done, nil
	if done != nil {
		nc := c.nc
		c.unwatch = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	}
}

// RoundTrip sends req on the connection and reads the head of its response;
// the body is read from the connection as the caller reads it, and closing
// it frees the connection for the next request.
func (c *conn) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != c.t.scheme || req.URL.Host != c.t.host {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("loadgen: a request for %s://%s on the connection to %s", req.URL.Scheme, req.URL.Host, c.t.host)
	}
	c.mu.Lock()
	resp, err := c.roundTrip(req)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	return resp, nil
}

func (c *conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if c.nc == nil {
		if err := c.dial(ctx); err != nil {
			return nil, err
		}
	}
	c.watch(ctx)
	if err := c.write(req); err != nil {
		c.close()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		c.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	resp.Body = &respBody{ReadCloser: resp.Body, c: c, ctx: ctx, keep: !resp.Close}
	return resp, nil
}

// write writes req's request line, headers and body.
func (c *conn) write(req *http.Request) error {
	if req.Body != nil {
		defer req.Body.Close()
	}
	bw := c.bw
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(c.t.host)
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		for _, v := range vs {
			if strings.ContainsAny(k, "\r\n:") || strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("loadgen: header %q holds a line break", k)
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	switch {
	case hasBody && req.ContentLength < 0:
		return fmt.Errorf("loadgen: a request body of unknown length")
	case hasBody || req.Method == http.MethodPost || req.Method == http.MethodPut:
		bw.WriteString("Content-Length: ")
		c.scratch = strconv.AppendInt(c.scratch[:0], req.ContentLength, 10)
		bw.Write(c.scratch)
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	if hasBody {
		if n, err := io.Copy(bw, req.Body); err != nil || n != req.ContentLength {
			return fmt.Errorf("loadgen: request body of %d bytes, not %d: %v", n, req.ContentLength, err)
		}
	}
	return bw.Flush()
}

// respBody is a response's body on the connection. Closing it reads what
// is left, so that the connection can carry the next request, or closes
// the connection when it cannot.
type respBody struct {
	io.ReadCloser
	c      *conn
	ctx    context.Context
	keep   bool // the server keeps the connection open
	closed bool
}

func (b *respBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	_, err := io.Copy(io.Discard, b.ReadCloser)
	b.ReadCloser.Close()
	// Once the caller's context is done, the deadline it set is past.
	if b.ctx.Err() != nil || err != nil || !b.keep {
		b.c.close()
	}
	b.c.mu.Unlock()
	return nil
}
