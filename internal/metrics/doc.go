// Package metrics measures Stele itself and writes what it measures into
// the audit log: one system.api_latency event per account per minute
// (requests, errors, p50/p95/p99 per account, with a breakdown by route) and
// one system.resource_usage event per minute in _system (CPU, RSS, Go heap,
// goroutines, open connections, store size, ingest rate). The same figures
// are exported for Prometheus on a private registry.
//
// Percentiles are exact over the requests of the minute while they fit the
// per-account sample buffer (MaxSamples), and computed from a uniform
// reservoir sample of them beyond that, so memory stays bounded.
package metrics
