package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// maxExcerpt bounds the part of an error response's body an error quotes.
const maxExcerpt = 256

// StatusError is a destination's answer outside 2xx. Body is an excerpt of
// what it said: at most 256 bytes, valid UTF-8, no control characters, the
// configured header values blanked out.
type StatusError struct {
	StatusCode int
	Body       string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("https destination answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// httpSender POSTs batches of lines to an HTTPS endpoint. A 2xx answer is
// the destination's acknowledgement of the request's events.
type httpSender struct {
	url      string // for requests
	safeURL  string // for errors and logs: no query, no credentials
	headers  http.Header
	format   Batch
	client   *http.Client
	o        Options
	body     []byte
	redacted []string // header values, kept out of error excerpts
	closed   bool
}

func newHTTPSender(d Destination, f Batch, o Options) *httpSender {
	u, _ := url.Parse(d.URL) // Validate parsed it
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	s := &httpSender{url: d.URL, safeURL: safe.String(), headers: http.Header{}, format: f, o: o}
	for k, v := range d.Headers {
		s.headers.Set(k, v)
		if len(v) >= 4 {
			s.redacted = append(s.redacted, v)
		}
	}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Control: control(o.AllowAddr)}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	s.client = &http.Client{
		Transport: transport,
		// A redirect would carry the batch, and its headers, somewhere the
		// stream's owner did not name: it is an error instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// Send POSTs the batch, in several requests when it exceeds MaxBatchBytes,
// one after the other; the first failure ends it.
func (s *httpSender) Send(ctx context.Context, events []*stele.Event) error {
	if s.closed {
		return errClosed
	}
	s.body = s.body[:0]
	var err error
	for _, e := range events {
		n := len(s.body)
		if s.body, err = s.format.Append(s.body, e); err != nil {
			return err
		}
		if len(s.body) > s.o.MaxBatchBytes && n > 0 {
			if err := s.post(ctx, s.body[:n]); err != nil {
				return err
			}
			s.body = append(s.body[:0], s.body[n:]...)
		}
	}
	if len(s.body) == 0 {
		return nil
	}
	return s.post(ctx, s.body)
}

func (s *httpSender) post(parent context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(parent, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("https %s: %w", s.safeURL, err)
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", s.format.ContentType())
	}
	req.Header.Set("User-Agent", "stele/"+s.o.Version)
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error quotes the whole URL, query string included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
			return fmt.Errorf("https %s: no answer within %s: %w", s.safeURL, s.o.Timeout, err)
		}
		return fmt.Errorf("https %s: %w", s.safeURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read a little of the answer so that the connection is reused.
		io.CopyN(io.Discard, resp.Body, 64<<10)
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4*maxExcerpt))
	s.o.Logger.Warn("https destination refused a batch", "url", s.safeURL, "status", resp.StatusCode)
	return fmt.Errorf("https %s: %w", s.safeURL, &StatusError{StatusCode: resp.StatusCode, Body: s.excerpt(head)})
}

// excerpt makes b fit an error message: header values blanked, valid
// UTF-8, control characters as spaces, runs of space as one, at most
// maxExcerpt bytes.
func (s *httpSender) excerpt(b []byte) string {
	text := strings.ToValidUTF8(string(b), "\uFFFD")
	for _, v := range s.redacted {
		text = strings.ReplaceAll(text, v, "[redacted]")
	}
	var out strings.Builder
	space := false
	for _, r := range text {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == ' ' {
			space = true
			continue
		}
		if space && out.Len() > 0 {
			out.WriteByte(' ')
		}
		space = false
		if out.Len()+utf8.RuneLen(r) > maxExcerpt {
			break
		}
		out.WriteRune(r)
	}
	return out.String()
}

// Close closes idle connections.
func (s *httpSender) Close() error {
	s.closed = true
	s.client.CloseIdleConnections()
	return nil
}
