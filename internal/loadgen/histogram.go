package loadgen

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// histogram counts latencies in logarithmic buckets, about 4% wide, so that
// the progress line can show a recent p99 without locking the workers.
type histogram struct {
	counts [bucketCount]atomic.Int64
}

const (
	bucketCount = 400
	bucketBase  = 1.04
	bucketMin   = 10 * time.Microsecond
)

func bucketOf(d time.Duration) int {
	if d <= bucketMin {
		return 0
	}
	b := int(math.Log(float64(d)/float64(bucketMin))/math.Log(bucketBase)) + 1
	return min(b, bucketCount-1)
}

// bucketUpper is the largest latency bucket b holds.
func bucketUpper(b int) time.Duration {
	return time.Duration(float64(bucketMin) * math.Pow(bucketBase, float64(b)))
}

func (h *histogram) record(d time.Duration) { h.counts[bucketOf(d)].Add(1) }

// snapshot returns the counts so far.
func (h *histogram) snapshot() []int64 {
	out := make([]int64, bucketCount)
	for i := range out {
		out[i] = h.counts[i].Load()
	}
	return out
}

// quantile returns the q-quantile of the counts in since-to, by bucket upper
// bound; since may be nil.
func quantile(now, since []int64, q float64) time.Duration {
	var total int64
	for i := range now {
		total += now[i] - at(since, i)
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i := range now {
		if seen += now[i] - at(since, i); seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(bucketCount - 1)
}

func at(s []int64, i int) int64 {
	if s == nil {
		return 0
	}
	return s[i]
}

// percentiles returns exact percentiles of samples, which it sorts.
func percentiles(samples []time.Duration) (p50, p95, p99, maxd time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	q := func(f float64) time.Duration {
		i := int(math.Ceil(f*float64(len(samples)))) - 1
		return samples[max(0, min(i, len(samples)-1))]
	}
	return q(0.50), q(0.95), q(0.99), samples[len(samples)-1]
}
