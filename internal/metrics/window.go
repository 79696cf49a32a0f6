package metrics

import (
	"math/rand/v2"
	"slices"
	"time"
)

// MaxSamples bounds the latencies kept per account and route per minute.
const MaxSamples = 2048

// window accumulates one account's, or one route's, requests of a minute.
type window struct {
	count, errors, clientErrors int64
	samples                     []time.Duration // a uniform reservoir of at most MaxSamples
	max                         time.Duration
}

func (w *window) add(d time.Duration, status int, rng *rand.Rand) {
	w.count++
	switch {
	case status >= 500:
		w.errors++
	case status >= 400:
		w.clientErrors++
	}
	w.max = max(w.max, d)
	if len(w.samples) < MaxSamples {
		w.samples = append(w.samples, d)
		return
	}
	if i := rng.Int64N(w.count); i < MaxSamples { // reservoir sampling
		w.samples[i] = d
	}
}

// Summary is a window's figures.
type Summary struct {
	Count              int64
	Errors             int64 // 5xx responses
	ClientErrors       int64 // 4xx responses
	P50, P95, P99, Max time.Duration
}

func (w *window) summary() Summary {
	s := Summary{Count: w.count, Errors: w.errors, ClientErrors: w.clientErrors, Max: w.max}
	if len(w.samples) == 0 {
		return s
	}
	sorted := slices.Clone(w.samples)
	slices.Sort(sorted)
	s.P50, s.P95, s.P99 = quantile(sorted, 0.50), quantile(sorted, 0.95), quantile(sorted, 0.99)
	return s
}

// quantile is the nearest-rank quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
