package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// userAgent names Stele to receivers; its version is the payload's.
const userAgent = "Stele-Alerts/1"

// maxAnswer is how much of a receiver's answer is read (and thrown away)
// so that its connection can be reused.
const maxAnswer = 64 << 10

// newHTTPClient returns the client of webhook and Slack deliveries. It
// follows no redirect (a redirect could lead a tenant's alerts, or Stele,
// somewhere the URL check did not see), uses no proxy from the
// environment, and connects only to addresses the policy allows, checked
// on the address actually dialled so that DNS cannot rebind around it.
func newHTTPClient(roots *x509.CertPool, p URLPolicy, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, ControlContext: p.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// control refuses a connection to an address the policy does not allow.
func (p URLPolicy) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", errAddressNotAllowed, address)
	}
	a := ap.Addr().Unmap()
	switch {
	case isPublic(a):
		return nil
	case a.IsLoopback() && (p.AllowLoopbackHTTP || p.AllowPrivateNetworks):
		return nil
	case p.AllowPrivateNetworks && !a.IsUnspecified() && !a.IsMulticast():
		return nil
	}
	return errAddressNotAllowed
}

// nonPublic lists special-purpose ranges (RFC 6890 and its successors)
// beyond those netip.Addr's own predicates name.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local NAT64
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"), // 6to4: embeds any IPv4 address
}

// isPublic reports whether a is a unicast address on the public internet.
func isPublic(a netip.Addr) bool {
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// post sends body to url with the given extra headers and classifies the
// outcome: nil for a 2xx, else a *DeliveryError.
func (n *Notifier) post(ctx context.Context, typ, url string, body []byte, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		// The URL passed Validate, so this is not the destination's fault
		// and says nothing worth a retry.
		return &DeliveryError{Type: typ, Reason: "the request could not be built"}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := n.http.Do(req)
	if err != nil {
		return transportError(typ, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return httpStatusError(typ, resp, n.now())
}
