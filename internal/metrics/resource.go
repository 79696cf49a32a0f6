package metrics

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stele-audit/stele"
)

// usageSample is the process's resource figures at one moment.
type usageSample struct {
	at        time.Time
	cpu       time.Duration // user + system since start
	rss       int64
	heap      int64
	gorout    int
	ingested  int64
	storeSize int64
}

func (c *Collector) sample(ctx context.Context) usageSample {
	s := usageSample{at: c.cfg.Now(), cpu: cpuTime(), rss: rss(), heap: heapBytes(), gorout: runtime.NumGoroutine()}
	if c.cfg.Ingested != nil {
		s.ingested = c.cfg.Ingested()
	}
	if c.cfg.StoreSize != nil {
		if n, err := c.cfg.StoreSize(ctx); err == nil {
			s.storeSize = n
		}
	}
	return s
}

// resourceEvent samples the process and returns the minute's
// system.resource_usage event, rates taken against the previous sample.
func (c *Collector) resourceEvent(ctx context.Context, start, now time.Time) stele.Event {
	cur := c.sample(ctx)
	c.mu.Lock()
	prev := c.prev
	c.prev = cur
	c.mu.Unlock()
	elapsed := cur.at.Sub(prev.at).Seconds()
	cpuPct, rate := 0.0, 0.0
	if elapsed > 0 {
		cpuPct = 100 * (cur.cpu - prev.cpu).Seconds() / elapsed
		rate = float64(cur.ingested-prev.ingested) / elapsed
	}
	c.rate.Set(rate)
	conns := c.conns.Load()
	return stele.Event{Account: stele.SystemAccount, Action: "system.resource_usage", Category: stele.CategorySystem,
		Outcome: stele.OutcomeSuccess, Time: now, Actor: systemActor,
		Description: fmt.Sprintf("CPU %.1f%%, RSS %d MiB, Go heap %d MiB, %d goroutines, %d connections, store %d MiB, %.0f events/s",
			cpuPct, cur.rss>>20, cur.heap>>20, cur.gorout, conns, cur.storeSize>>20, rate),
		Metadata: map[string]any{
			"window_start": start.UTC().Format(time.RFC3339Nano), "window_seconds": seconds(now.Sub(start)),
			"cpu_seconds_total": round3(cur.cpu.Seconds()), "cpu_percent": round3(cpuPct),
			"rss_bytes": cur.rss, "go_heap_bytes": cur.heap, "goroutines": cur.gorout,
			"open_connections": conns, "store_bytes": cur.storeSize,
			"ingested_events": cur.ingested - prev.ingested, "ingest_events_per_second": round3(rate),
		}}
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss reads the resident set size from /proc/self/statm, or, where there is
// no /proc, what the Go runtime has mapped.
func rss() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	return readUint("/memory/classes/total:bytes")
}

func heapBytes() int64 { return readUint("/memory/classes/heap/objects:bytes") }

func readUint(name string) int64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
