// Package forward sends an account's events to other security tools: the
// formats they read (RFC 5424 syslog carrying CEF or JSON, NDJSON, Splunk
// HTTP Event Collector, OCSF) and the transports that carry them (syslog
// over TCP or TLS with octet-counting framing, batches over HTTPS).
//
// It is the lower half of streams (issue 17) and knows nothing of the store,
// the API or the console: a caller hands a Sender batches of events and
// sends a batch again when Send returns an error. docs/STREAMS.md describes
// the formats, the field mappings and the delivery guarantees.
package forward
