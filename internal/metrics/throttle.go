package metrics

import "github.com/prometheus/client_golang/prometheus"

// Throttled is what an account's ingest quota has refused since the
// process started (ingest.Quotas.Refusals), by the quota that refused it.
type Throttled struct {
	Account  string
	Quota    string // events_per_second or bytes_per_second
	Requests int64
	Events   int64
}

// throttledCollector exposes the refusals as counters, read at each scrape.
type throttledCollector struct {
	read             func() []Throttled
	requests, events *prometheus.Desc
}

func newThrottledCollector(read func() []Throttled) *throttledCollector {
	labels := []string{"account", "quota"}
	return &throttledCollector{read: read,
		requests: prometheus.NewDesc("stele_ingest_throttled_requests_total",
			"Ingest requests refused by the account's quota (429 or 413) since start, by the quota that refused them.", labels, nil),
		events: prometheus.NewDesc("stele_ingest_throttled_events_total",
			"Events in the ingest requests refused by the account's quota since start (estimated from the body's size for a request refused before its body was read).", labels, nil)}
}

func (c *throttledCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.events
}

func (c *throttledCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.read() {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(t.Requests), t.Account, t.Quota)
		ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(t.Events), t.Account, t.Quota)
	}
}
