package forward

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/stele-audit/stele"
)

// Sender sends batches of events to one destination, in order.
//
// Send is all-or-nothing from the caller's view: nil means every event of
// the batch was handed to the destination (as far as its protocol tells:
// docs/STREAMS.md); an error means "send this batch again", and some of its
// events may arrive twice. Send is not safe for concurrent use: a stream
// has one sender and sends one batch at a time.
type Sender interface {
	Send(ctx context.Context, events []*stele.Event) error
	Close() error
}

// Options are the settings of a Sender that the destination does not
// carry: the node's, and the operator's. The zero value is ready to use.
type Options struct {
	// Hostname names this node: syslog's HOSTNAME and Splunk HEC's host.
	// Default: the machine's host name.
	Hostname string
	// EnterpriseID is the private enterprise number of the syslog
	// structured data's SD-ID (stele@PEN). Default: ExamplePEN.
	EnterpriseID string
	// Version is the CEF header's Device Version. Default: the version of
	// the running binary's module, or "dev".
	Version string
	// MaxMessageSize bounds a syslog message (DefaultMaxMessageSize).
	MaxMessageSize int
	// MaxBatchBytes bounds the body of one HTTPS request; a batch that
	// exceeds it goes in several requests (default 1 MiB).
	MaxBatchBytes int
	// Timeout bounds one connection attempt, one write of a batch or one
	// HTTPS request (default 10 s); the context given to Send bounds
	// the whole call.
	Timeout time.Duration
	// RootCAs verifies the receiver's certificate (default: the system's).
	RootCAs *x509.CertPool
	// MinBackoff and MaxBackoff bound the wait before the syslog sender
	// dials again after an error (defaults 250 ms and 30 s; doubled after
	// each failure in between, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// ReplayBytes is how much of what the syslog sender last wrote on a
	// connection it keeps to write again on the next connection, when the
	// receiver went away before reading it (default 4 MiB).
	ReplayBytes int
	// AllowAddr, when set, is asked about every address a sender connects
	// to, after name resolution; an error refuses the connection. Without
	// it, link-local, multicast and unspecified addresses are refused
	// (cloud metadata services live at link-local addresses).
	AllowAddr func(netip.Addr) error
	// Logger receives connection changes (never a payload or a header
	// value). Default: none.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Hostname == "" {
		h, _ := os.Hostname()
		o.Hostname = syslogHostname(h)
	}
	if o.EnterpriseID == "" {
		o.EnterpriseID = ExamplePEN
	}
	if o.Version == "" {
		o.Version = version()
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.ReplayBytes <= 0 {
		o.ReplayBytes = 4 << 20
	}
	if o.AllowAddr == nil {
		o.AllowAddr = allowPublicAndPrivate
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// New validates d and returns a Sender for it. An invalid destination is an
// EINVALID *stele.Error naming its fields; invalid options are an error of
// the caller's (EINTERNAL). New does not connect: the first Send does.
func New(d Destination, o Options) (Sender, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if !printUSASCII(o.Hostname) || len(o.Hostname) > 255 {
		return nil, fmt.Errorf("forward: hostname %q must be 1 to 255 printable ASCII characters", o.Hostname)
	}
	switch d.Type {
	case TypeSyslog:
		f := &Syslog{Hostname: o.Hostname, EnterpriseID: o.EnterpriseID, Facility: facilityLogAudit,
			Message: d.Format, CEF: CEF{Version: o.Version}, MaxSize: o.MaxMessageSize}
		if err := f.check(); err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		return newSyslogSender(d, f, o), nil
	default:
		return newHTTPSender(d, Batch{Format: d.Format, Host: o.Hostname}, o), nil
	}
}

// allowPublicAndPrivate refuses the addresses no receiver lives at and a
// metadata service may: link-local, multicast and unspecified ones.
func allowPublicAndPrivate(a netip.Addr) error {
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return stele.Errorf(stele.EFORBIDDEN, "address %s is link-local, multicast or unspecified: no receiver may be there", a)
	}
	return nil
}

// control is a net.Dialer Control that asks allow about the address about
// to be connected to.
func control(allow func(netip.Addr) error) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("forward: unexpected address %q: %w", address, err)
		}
		return allow(ap.Addr().Unmap())
	}
}

// backoff returns the wait before attempt n+1 after n failures in a row:
// min doubled n-1 times, at most max, less up to a fifth at random so that
// many streams do not dial back in step.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
