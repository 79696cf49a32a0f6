package client

import (
	"math/rand/v2"
	"slices"
	"time"
)

// maxSamples bounds the latencies kept per tenant and route per window.
const maxSamples = 2048

// window accumulates one tenant's, or one route's, requests of a window.
// It mirrors internal/metrics/window.go deliberately (the client imports
// nothing internal); internal/api/client_mirror_test.go holds the two equal.
type window struct {
	count, errors, clientErrors int64
	samples                     []time.Duration // a uniform reservoir of at most maxSamples
	max                         time.Duration
}

func (w *window) add(d time.Duration, status int) {
	w.count++
	switch {
	case status >= 500:
		w.errors++
	case status >= 400:
		w.clientErrors++
	}
	w.max = max(w.max, d)
	if len(w.samples) < maxSamples {
		w.samples = append(w.samples, d)
		return
	}
	if i := rand.Int64N(w.count); i < maxSamples { // reservoir sampling
		w.samples[i] = d
	}
}

type summary struct {
	count, errors, clientErrors int64
	p50, p95, p99, max          time.Duration
}

func (w *window) summary() summary {
	s := summary{count: w.count, errors: w.errors, clientErrors: w.clientErrors, max: w.max}
	if len(w.samples) == 0 {
		return s
	}
	sorted := slices.Clone(w.samples)
	slices.Sort(sorted)
	s.p50, s.p95, s.p99 = quantile(sorted, 0.50), quantile(sorted, 0.95), quantile(sorted, 0.99)
	return s
}

// quantile is the nearest-rank quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
