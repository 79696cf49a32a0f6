package forward_test

import (
	"context"
	"testing"
	"time"

	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/rsyslogtest"
)

// BenchmarkSyslogIntoRsyslog forwards demo events in batches of 500 into a
// real rsyslogd writing them to a file, and reports events/s from the
// first Send until rsyslogd has written the last message: the rate a
// stream sustains end to end, not only what the socket takes.
func BenchmarkSyslogIntoRsyslog(b *testing.B) {
	evs := demoEvents(b, 20000)
	const batch = 500
	for _, tr := range []string{"tcp", "tls"} {
		for _, format := range []string{"cef", "json"} {
			b.Run(tr+"/"+format, func(b *testing.B) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				server := rsyslogtest.Start(b, rsyslogtest.Options{TLS: tr == "tls"})
				o := testOptions(b, server)
				o.Logger = nil
				s := newSyslogSender(b, server, tr == "tls", format, o)
				sent := 0
				start := time.Now()
				for b.Loop() {
					lo := sent % len(evs)
					if err := s.Send(ctx, evs[lo:lo+batch]); err != nil {
						b.Fatal(err)
					}
					sent += batch
				}
				server.WaitForCount(ctx, sent)
				b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(0, "ns/op") // per batch, and without the receiver's share: misleading here
			})
		}
	}
}

// BenchmarkSyslogFormat formats demo events as syslog messages.
func BenchmarkSyslogFormat(b *testing.B) {
	evs := demoEvents(b, 20000)
	for _, format := range []string{"cef", "json"} {
		b.Run(format, func(b *testing.B) {
			f := forward.NewSyslog(format)
			var buf []byte
			i := 0
			for b.Loop() {
				buf = f.Append(buf[:0], evs[i%len(evs)])
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
