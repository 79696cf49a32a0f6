package client

import (
	"fmt"
	"time"

	"github.com/stele-audit/stele"
)

// Defaults of the recorder (Record, Flush, Close).
const (
	DefaultBatchSize     = 500
	DefaultFlushInterval = time.Second
	DefaultBufferSize    = 20_000
	DefaultConcurrency   = 16
	DefaultSpoolBytes    = 64 << 20
	DefaultBackoffMin    = 100 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
)

// recordConfig is how a Client's recorder buffers and delivers events.
type recordConfig struct {
	batchSize     int
	flushInterval time.Duration
	bufferSize    int
	concurrency   int
	failClosed    bool
	onDrop        func(Dropped)
	onError       func(error)
	onReceipts    func([]stele.Receipt)
	spoolDir      string
	spoolBytes    int64
	backoffMin    time.Duration
	backoffMax    time.Duration
}

func defaultRecordConfig() recordConfig {
	return recordConfig{batchSize: DefaultBatchSize, flushInterval: DefaultFlushInterval, bufferSize: DefaultBufferSize,
		concurrency: DefaultConcurrency, spoolBytes: DefaultSpoolBytes, backoffMin: DefaultBackoffMin, backoffMax: DefaultBackoffMax}
}

// WithBatchSize sends recorded events in batches of up to n events (at
// most stele.MaxBatchEvents); a batch also leaves when the flush interval
// is over, full or not.
func WithBatchSize(n int) Option {
	return func(c *Client) { c.rec.batchSize = n }
}

// WithFlushInterval is the longest a recorded event waits in the buffer
// before it is sent.
func WithFlushInterval(d time.Duration) Option {
	return func(c *Client) { c.rec.flushInterval = d }
}

// WithBufferSize bounds the events held in memory, waiting to be sent.
// What happens when it is full is FailOpen's or FailClosed's to say.
func WithBufferSize(n int) Option {
	return func(c *Client) { c.rec.bufferSize = n }
}

// WithConcurrency is how many batches may be on their way at once.
func WithConcurrency(n int) Option {
	return func(c *Client) { c.rec.concurrency = n }
}

// WithBackoff sets the first and the longest wait between two attempts at
// delivering a batch; each wait doubles the last, with random jitter, and
// a Retry-After the server names is honoured when longer.
func WithBackoff(first, longest time.Duration) Option {
	return func(c *Client) { c.rec.backoffMin, c.rec.backoffMax = first, longest }
}

// Dropped reports events that Record let go because the buffer was full
// while Stele could not be reached (fail-open).
type Dropped struct {
	// Events is how many were dropped this time (the oldest buffered).
	Events int
	// Total is how many this client has dropped since it was made.
	Total int64
}

// FailOpen is the default outage behaviour: when the buffer is full,
// Record drops the oldest buffered event to make room, never blocking the
// caller, and reports it to onDrop (nil to only count it; see
// Client.Dropped). onDrop runs on the goroutine that called Record and
// must be quick.
func FailOpen(onDrop func(Dropped)) Option {
	return func(c *Client) { c.rec.failClosed, c.rec.onDrop = false, onDrop }
}

// FailClosed makes Record wait for room in the buffer when it is full;
// when its context ends first, Record returns an error that wraps the
// context's and says why events are not leaving (the last delivery error).
// For platforms that must not act without a record of it.
func FailClosed() Option {
	return func(c *Client) { c.rec.failClosed = true }
}

// WithErrorHandler receives what goes wrong out of the caller's sight:
// events the server refused (a *RejectedError, with the server's details;
// these are never retried), delivery attempts that failed and will be
// retried (a *DeliveryError), and spool records found torn (a
// *SpoolError). A key the server does not take (401, or a 403 that names
// no event) is a *DeliveryError wrapping its *StatusError: the events
// wait for a working key as through an outage, never thrown away. It runs
// on the recorder's goroutines and must be quick.
func WithErrorHandler(f func(error)) Option {
	return func(c *Client) { c.rec.onError = f }
}

// WithReceiptHandler receives the receipts of each batch Stele stored
// (replayed ones included), in the order of the batch's events, for
// VerifyReceipt to prove later. It runs on the recorder's goroutines and
// must be quick.
func WithReceiptHandler(f func([]stele.Receipt)) Option {
	return func(c *Client) { c.rec.onReceipts = f }
}

// WithSpool keeps events on disk in dir while Stele cannot be reached, up
// to maxBytes (0 for DefaultSpoolBytes), so that they survive a restart of
// the producer: a Client made with the same directory sends them first, in
// the order they were recorded. Each record is framed with its length and
// a checksum and the files are synced, so a crash in the middle of a write
// leaves a torn record that is skipped and reported, never sent in part.
// One directory belongs to one Client at a time: on Unix a second Client
// on a directory in use, in any process, is refused by New.
func WithSpool(dir string, maxBytes int64) Option {
	return func(c *Client) {
		c.rec.spoolDir = dir
		if maxBytes > 0 {
			c.rec.spoolBytes = maxBytes
		}
	}
}

// check names the first option out of its range.
func (rc *recordConfig) check() error {
	bad := func(field, msg string) error {
		return &stele.Error{Code: stele.EINVALID, Message: msg, Details: []stele.FieldError{{Field: field, Rule: "range"}}}
	}
	switch {
	case rc.batchSize < 1 || rc.batchSize > stele.MaxBatchEvents:
		return bad("batch_size", fmt.Sprintf("the batch size must be from 1 to %d events", stele.MaxBatchEvents))
	case rc.flushInterval <= 0:
		return bad("flush_interval", "the flush interval must be positive")
	case rc.bufferSize < 1:
		return bad("buffer_size", "the buffer must hold at least one event")
	case rc.concurrency < 1 || rc.concurrency > 64:
		return bad("concurrency", "the concurrency must be from 1 to 64")
	case rc.backoffMin <= 0 || rc.backoffMax < rc.backoffMin:
		return bad("backoff", "the backoff must be positive, its longest wait no shorter than its first")
	case rc.spoolDir != "" && rc.spoolBytes < 64<<10:
		return bad("spool_bytes", "the spool must allow at least 64 KiB")
	}
	return nil
}
