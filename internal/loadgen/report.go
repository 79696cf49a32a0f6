package loadgen

import (
	"strconv"
	"time"
)

// report prints a progress line every progressEvery until done is closed.
func (r *runner) report(start time.Time, done <-chan struct{}) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	lastEvents, lastAt, lastHist := r.events.Load(), start, r.hist.snapshot()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			events, hist := r.events.Load(), r.hist.snapshot()
			rate := float64(events-lastEvents) / now.Sub(lastAt).Seconds()
			r.printf("  %4ds  %8.0f ev/s  p99 %s\n", int(now.Sub(start).Round(time.Second)/time.Second), rate, round(quantile(hist, lastHist, 0.99)))
			lastEvents, lastAt, lastHist = events, now, hist
		}
	}
}

func (r *runner) printResult(res Result) {
	r.printf("\nevents     %d\nrequests   %d\nerrors     %d\nelapsed    %s\nevents/s   %s\nlatency    p50 %s  p95 %s  p99 %s  max %s\n",
		res.Events, res.Requests, res.Errors, res.Elapsed.Round(time.Millisecond),
		strconv.FormatFloat(res.EventsPerSec, 'f', 0, 64),
		round(res.P50), round(res.P95), round(res.P99), round(res.Max))
}

// round shortens a latency to three significant digits or so.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
