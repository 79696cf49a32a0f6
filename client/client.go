package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/stele-audit/stele"
)

// DefaultUserAgent is the User-Agent of a Client made without WithUserAgent.
const DefaultUserAgent = "stele-go-client"

// maxAnswerBytes bounds how much of a JSON answer is read: a page of the
// largest events fits many times over, a server that never stops does not.
const maxAnswerBytes = 256 << 20

// Client sends requests to one Stele server with one API key. It is safe for
// concurrent use.
type Client struct {
	base      string // scheme://host[:port][/path], without a trailing slash
	roundTrip func(*http.Request) (*http.Response, error)
	userAgent string
	// The headers of requests without and with a body, which every request
	// shares: neither a transport nor an http.Client may change them.
	header, jsonHeader http.Header

	// The recorder behind Record, Flush and Close, started on first use
	// (or by New, to send what a spool kept).
	rec         recordConfig
	recOnce     sync.Once
	recorderRun atomic.Pointer[recorder]
	recorderErr error
}

// An Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc, for its timeout or cookie jar.
// Redirects are never followed, whatever hc's CheckRedirect says: http.Client
// would follow a POST's 301 or 302 with a GET, and the list of events it
// fetched would read as receipts of events never stored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			h := *hc
			h.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			c.roundTrip = h.Do
		}
	}
}

// WithTransport sends each request straight through rt: a transport with
// its own TLS settings, proxy or timeouts, or a load generator's connection
// of its own. The default is http.DefaultTransport. Requests carry the
// caller's context and no other deadline.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *Client) {
		if rt != nil {
			c.roundTrip = rt.RoundTrip
		}
	}
}

// WithUserAgent sets the User-Agent header of every request; the server
// records it with what the key does (an export, for one).
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at baseURL (http or https, with an
// optional path prefix) that authenticates with the API key key.
func New(baseURL, key string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "the server URL must be http(s)://HOST[:PORT][/PATH]",
			Details: []stele.FieldError{{Field: "url", Rule: "url"}}}
	}
	if key == "" {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "an API key is required",
			Details: []stele.FieldError{{Field: "key", Rule: "required"}}}
	}
	if !headerSafe(key) {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "the API key may hold only printable ASCII characters",
			Details: []stele.FieldError{{Field: "key", Rule: "format"}}}
	}
	c := &Client{
		base:      u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		roundTrip: http.DefaultTransport.RoundTrip, userAgent: DefaultUserAgent, rec: defaultRecordConfig(),
	}
	for _, o := range opts {
		o(c)
	}
	if err := c.rec.check(); err != nil {
		return nil, err
	}
	c.header = http.Header{"Authorization": {"Bearer " + key}, "User-Agent": {c.userAgent}}
	c.jsonHeader = c.header.Clone()
	c.jsonHeader.Set("Content-Type", "application/json")
	if !headerSafe(c.userAgent) {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "the User-Agent may hold only printable ASCII characters",
			Details: []stele.FieldError{{Field: "user_agent", Rule: "format"}}}
	}
	if c.rec.spoolDir != "" {
		// Events a previous run kept in the spool leave now, Record or not.
		if _, err := c.recorder(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// headerSafe reports whether s can be sent as a header value as it is: no
// line break that would start a header of its own, nothing unprintable.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// send makes a request to path (relative to the base URL, with its query),
// with body as JSON if not nil, and returns the response when its status is
// 2xx; the caller closes its body. Any other status, redirects included, is
// returned as a *StatusError.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, endpoint(path), err)
	}
	req.Header = c.header
	if body != nil {
		req.Header = c.jsonHeader
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		// An http.Client's *url.Error repeats the whole URL; the endpoint
		// is enough, and the cause stays reachable with errors.Is.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", method, c.base+endpoint(path), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer discard(resp)
		return nil, statusError(resp)
	}
	return resp, nil
}

// getJSON decodes the answer to a GET into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer discard(resp)
	return decodeAnswer(resp, http.MethodGet, path, v)
}

// decodeAnswer decodes a JSON answer into v, numbers kept exact as
// json.Number (an event's metadata is hashed as it was sent).
func decodeAnswer(resp *http.Response, method, path string, v any) error {
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBytes))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, endpoint(path), err)
	}
	return nil
}

// readAnswer reads a whole answer, at most maxAnswerBytes of it, into a
// buffer of its Content-Length when it has one.
func readAnswer(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxAnswerBytes {
		// The body ends at Content-Length, net/http makes sure of it.
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, 4<<10))
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxAnswerBytes+1)); err != nil {
		return nil, err
	}
	if buf.Len() > maxAnswerBytes {
		return nil, fmt.Errorf("the answer is larger than %d bytes", maxAnswerBytes)
	}
	return buf.Bytes(), nil
}

// discard reads what is left of a response, so that its connection can
// carry the next request, and closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// endpoint is path without its query, for error messages: a query may be long.
func endpoint(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

// sendJSON sends v as the body of a request and decodes the answer into out
// (when not nil).
func (c *Client) sendJSON(ctx context.Context, method, path string, v, out any) error {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("%s %s: %w", method, endpoint(path), err)
		}
	}
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer discard(resp)
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return decodeAnswer(resp, method, path, out)
}
