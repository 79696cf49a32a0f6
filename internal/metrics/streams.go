package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stele-audit/stele/internal/recovery"
)

// StreamFigure is what a stream this node runs has done and how far behind
// it is (stream.Forwarder.Figures): counts since the node started running
// it, lag as of its last read.
type StreamFigure struct {
	Stream   string // id
	Name     string
	Owner    string // the account the stream belongs to
	Errors   int64  // failed batches
	Failing  bool   // its last batch failed
	Accounts []StreamAccountFigure
}

// StreamAccountFigure is a stream's figures in one account it reads.
type StreamAccountFigure struct {
	Account    string
	LagEvents  int64
	LagSeconds float64
	Forwarded  int64
	Skipped    int64 // purged by retention before they were forwarded
}

// streamCollector exposes the figures, read at each scrape.
type streamCollector struct {
	read                                func() []StreamFigure
	lag, lagSeconds, forwarded, skipped *prometheus.Desc
	errors, failing                     *prometheus.Desc
}

func newStreamCollector(read func() []StreamFigure) *streamCollector {
	per := []string{"stream", "name", "owner", "account"}
	stream := []string{"stream", "name", "owner"}
	return &streamCollector{read: read,
		lag: prometheus.NewDesc("stele_stream_lag_events",
			"Events recorded in the account and not yet forwarded by the stream, as of its last read.", per, nil),
		lagSeconds: prometheus.NewDesc("stele_stream_lag_seconds",
			"Age (by received_at) of the oldest event of the account the stream has not yet forwarded; 0 when it is caught up.", per, nil),
		forwarded: prometheus.NewDesc("stele_stream_forwarded_events_total",
			"Events of the account the stream sent since this node started running it.", per, nil),
		skipped: prometheus.NewDesc("stele_stream_skipped_purged_events_total",
			"Events of the account purged by retention before the stream could forward them, since this node started running it.", per, nil),
		errors: prometheus.NewDesc("stele_stream_errors_total",
			"Batches the stream failed to send since this node started running it (each is sent again).", stream, nil),
		failing: prometheus.NewDesc("stele_stream_failing",
			"1 while the stream's last batch failed, else 0. Only the node running a stream reports it.", stream, nil)}
}

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lag, c.lagSeconds, c.forwarded, c.skipped, c.errors, c.failing} {
		ch <- d
	}
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	var figures []StreamFigure
	// A scrape must not take the process down with it.
	if err := recovery.Call(func() error { figures = c.read(); return nil }); err != nil {
		return
	}
	for _, f := range figures {
		failing := 0.0
		if f.Failing {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(f.Errors), f.Stream, f.Name, f.Owner)
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing, f.Stream, f.Name, f.Owner)
		for _, a := range f.Accounts {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(a.LagEvents), f.Stream, f.Name, f.Owner, a.Account)
			ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, a.LagSeconds, f.Stream, f.Name, f.Owner, a.Account)
			ch <- prometheus.MustNewConstMetric(c.forwarded, prometheus.CounterValue, float64(a.Forwarded), f.Stream, f.Name, f.Owner, a.Account)
			ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(a.Skipped), f.Stream, f.Name, f.Owner, a.Account)
		}
	}
}
