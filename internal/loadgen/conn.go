package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A worker sends its requests one after another on a keep-alive HTTP/1.1
// connection of its own, writing each request and reading its response on
// its own goroutine. net/http's Transport hands every request between three
// goroutines: with single events that cost the loader ≈ 70 µs of CPU a
// request against ≈ 43 here (docs/PERFORMANCE.md), CPU taken from the server
// when both share a machine. The response is parsed by net/http.

// target is where and how requests are sent.
type target struct {
	addr string      // host:port to dial
	tls  *tls.Config // nil for http
	head string      // the request line and headers, up to Content-Length's value
}

// newTarget parses base, the server's URL, and builds the request head for
// POST base/v1/events with key. tlsConfig, if not nil, is cloned for https.
func newTarget(base, key string, tlsConfig *tls.Config) (*target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("loadgen: URL: %w", err)
	}
	t := &target{addr: u.Host}
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
	if strings.ContainsAny(key, "\r\n") {
		return nil, errors.New("loadgen: the key contains a line break")
	}
	path := strings.TrimRight(u.EscapedPath(), "/") + "/v1/events"
	t.head = "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: stele-loadgen\r\n" +
		"Authorization: Bearer " + key + "\r\nContent-Type: application/json\r\nContent-Length: "
	return t, nil
}

// conn is a worker's connection, dialled when first needed and again after
// an error or a response that closes it.
type conn struct {
	t  *target
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// stop ends a request in flight when the run's context is done.
	stop func() bool
}

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
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (c *conn) close() {
	if c.nc != nil {
		c.stop()
		c.nc.Close()
		c.nc = nil
	}
}

// post sends body and returns the response's status and, unless it is 201,
// the start of its body. The response is read to its end, so that the
// connection can carry the next request.
func (c *conn) post(ctx context.Context, body []byte) (int, string, error) {
	if c.nc == nil {
		if err := c.dial(ctx); err != nil {
			return 0, "", err
		}
	}
	c.bw.WriteString(c.t.head)
	c.bw.WriteString(strconv.Itoa(len(body)))
	c.bw.WriteString("\r\n\r\n")
	c.bw.Write(body)
	if err := c.bw.Flush(); err != nil {
		c.close()
		return 0, "", err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, "", err
	}
	var msg string
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		msg = strings.TrimSpace(string(b))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return resp.StatusCode, msg, err
}
