package console

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// The System page's figures come from metadata that producers wrote: a
// system.api_latency event is as much a tenant's input as any other. Stores
// written before ingest checked numbers hold any JSON number (1e19, -1e308,
// 1e400 as text), and sums of many valid readings outgrow an int64. So a
// reading is taken only if it is a finite, non-negative decimal; sums
// saturate at the largest float instead of overflowing; and every figure is
// written without converting a float to an integer it may not fit in.

// largeFigure is where figures switch to scientific notation: below it a
// float converts to an int64 exactly enough, and digits still read.
const largeFigure = 1e15

// number reads a metadata value as a chart reading: a finite, non-negative
// number, given as a JSON number or as a string holding one (producers may
// send their own system.* events with strings). Anything else — NaN or
// Infinity spelled out, hexadecimal, out of a float's range, negative — is
// not a reading.
func number(x any) (float64, bool) {
	var text string
	switch v := x.(type) {
	case json.Number:
		text = string(v)
	case string:
		text = strings.TrimSpace(v)
	case float64:
		return reading(v)
	case int64:
		return reading(float64(v))
	case int:
		return reading(float64(v))
	default:
		return 0, false
	}
	if !isDecimal(text) {
		return 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil { // out of range: ±Inf
		return 0, false
	}
	return reading(f)
}

func reading(f float64) (float64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f + 0, true // -0 reads as 0
}

// isDecimal reports whether s is a number in JSON's grammar: an optional
// minus, digits without a leading zero, an optional fraction and exponent.
// strconv.ParseFloat takes more (Inf, NaN, 0x1p4, 1_000), none of it a
// reading.
func isDecimal(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// bucketAcc gathers a bucket's readings of one key: their count, their sum,
// their mean, and their mean weighted by each minute's requests. The means
// are kept as running means, never as a sum divided at the end, so that no
// reading, however large, makes them overflow.
type bucketAcc struct {
	count, sum    float64
	mean          float64
	weight, wmean float64
}

func (a *bucketAcc) add(x, weight float64) {
	a.count++
	a.sum = saturate(a.sum + x)
	a.mean += (x - a.mean) / a.count
	a.weight = saturate(a.weight + weight)
	a.wmean += (x - a.wmean) * (weight / a.weight)
}

// value is the bucket's point: NaN when it has no reading.
func (a *bucketAcc) value(agg aggregation) float64 {
	switch {
	case a.count == 0:
		return math.NaN()
	case agg == aggSum:
		return a.sum
	case agg == aggWeighted:
		return a.wmean
	}
	return a.mean
}

// saturate holds a sum of non-negative readings at the largest float.
func saturate(f float64) float64 { return min(f, math.MaxFloat64) }

// plottable is a point as the chart draws it: NaN (no data) stays a gap,
// and anything else is held within [0, the largest float], the range of
// readings.
func plottable(f float64) float64 {
	switch {
	case math.IsNaN(f):
		return f
	case f < 0:
		return 0
	}
	return saturate(f)
}

// unitScale picks the divisor and unit name of the axis: bytes in KiB up
// to EiB; other units as they are.
func unitScale(unit string, peak float64) (float64, string) {
	if unit != "bytes" {
		return 1, ""
	}
	for _, u := range []struct {
		shift uint
		name  string
	}{{60, "EiB"}, {50, "PiB"}, {40, "TiB"}, {30, "GiB"}, {20, "MiB"}} {
		if peak >= 4*float64(uint64(1)<<u.shift) {
			return float64(uint64(1) << u.shift), u.name
		}
	}
	return 1 << 10, "KiB"
}

// niceCeil rounds v up to four times a round step (1, 2 or 5 times a
// power of ten) and returns it with the step; 4 and 1 when v is 0. Near the
// largest float, where four steps would overflow, the top is the largest
// float itself.
func niceCeil(v float64) (top, step float64) {
	need := v / 4
	if need <= 0 || math.IsNaN(need) {
		return 4, 1
	}
	if math.IsInf(need, 0) {
		return math.MaxFloat64, math.MaxFloat64 / 4
	}
	p := math.Pow(10, math.Floor(math.Log10(need)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= need*(1-1e-9) {
			step = m * p
			break
		}
	}
	if step == 0 || math.IsInf(4*step, 0) {
		return math.MaxFloat64, math.MaxFloat64 / 4
	}
	return 4 * step, step
}

// formatTick labels a gridline of value v (already scaled) with as many
// decimals as the step needs.
func formatTick(v, step float64, unit, scaled string) string {
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step)))
	}
	s := figure(v, dec, unit == "count")
	switch unit {
	case "ms":
		return s + " ms"
	case "percent":
		return s + "%"
	case "bytes":
		return s + " " + scaled
	case "rate":
		return s + "/s"
	}
	return s
}

// formatValue writes one value for titles and the legend.
func formatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return figure(v, 1, false) + " ms"
	case "percent":
		return figure(v, 1, false) + "%"
	case "bytes":
		scale, name := unitScale(unit, v)
		return figure(v/scale, 1, false) + " " + name
	case "rate":
		return figure(v, 1, false) + " events/s"
	}
	return figure(v, 0, true)
}

// figure writes v with dec decimals (digits grouped by commas when group
// is set and dec is 0), or in scientific notation where that many digits
// would not read: large values, and small ones that need more than six
// decimals. It never converts a value to an integer it does not fit in.
func figure(v float64, dec int, group bool) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "-∞"
	case math.Abs(v) >= largeFigure || dec > 6:
		return strconv.FormatFloat(v, 'g', 4, 64)
	case group && dec == 0:
		return comma(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}
