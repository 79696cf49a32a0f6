package console

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func TestCommaWritesEveryInt64(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 7: "7", 999: "999", 1000: "1,000", -1000: "-1,000", 1234567: "1,234,567", -12: "-12",
		math.MaxInt64: "9,223,372,036,854,775,807",
		math.MinInt64: "-9,223,372,036,854,775,808", // its own negation: once an endless recursion
	} {
		if got := comma(n); got != want {
			t.Errorf("comma(%d) = %q, want %q", n, got, want)
		}
	}
}

// hostileValues are numbers a chart may be handed: what stores written
// before metadata numbers were checked hold (1e19 requests, -1e308, a
// float's extremes), and what sums of them overflow to.
var hostileValues = []float64{0, 0.5, 1, 3, 1e15, 1e19, 9.3e18, math.Ldexp(1, 63), 1e300, math.MaxFloat64,
	math.SmallestNonzeroFloat64, 1e-300, -1, -1e308, -math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN()}

var units = []string{"ms", "count", "percent", "bytes", "rate"}

// sensible reports what is wrong with a number as a chart writes it: an
// int64 that wrapped, a float's spelling of nothing, or a wall of digits.
func sensible(s string) string {
	switch {
	case s == "":
		return "empty"
	case strings.Contains(s, "9,223,372") || strings.Contains(s, "-922"):
		return "an int64 that wrapped"
	case strings.Contains(s, "NaN") || strings.Contains(s, "Inf"):
		return "a float's non-number"
	case len(s) > 24:
		return "too long"
	}
	return ""
}

func TestChartFormattersTakeAnyNumber(t *testing.T) {
	for _, unit := range units {
		for _, v := range hostileValues {
			if got := formatValue(v, unit); sensible(got) != "" {
				t.Errorf("formatValue(%g, %s) = %q: %s", v, unit, got, sensible(got))
			}
			for _, step := range []float64{1e-300, 0.25, 1, 5e18, 1e307} {
				if got := formatTick(v, step, unit, "GiB"); sensible(got) != "" {
					t.Errorf("formatTick(%g, step %g, %s) = %q: %s", v, step, unit, got, sensible(got))
				}
			}
		}
	}
}

// checkLineChart fails unless every label of c reads sensibly and every
// coordinate lies inside the plot.
func checkLineChart(t *testing.T, c *lineChart) {
	t.Helper()
	top, bottom := float64(c.PlotY), float64(c.PlotY+c.PlotH)
	for _, tk := range c.YTicks {
		if sensible(tk.Label) != "" || strings.HasPrefix(tk.Label, "-") {
			t.Errorf("y tick %q: %s", tk.Label, sensible(tk.Label))
		}
		if tk.Pos < top || tk.Pos > bottom || math.IsNaN(tk.Pos) {
			t.Errorf("y tick %q at %g, outside [%g, %g]", tk.Label, tk.Pos, top, bottom)
		}
	}
	for _, s := range c.Series {
		for _, txt := range []string{s.Peak, s.Last} {
			if txt != "" && (sensible(txt) != "" || strings.HasPrefix(txt, "-")) {
				t.Errorf("series %s: legend %q: %s", s.Label, txt, sensible(txt))
			}
		}
		for i, n := range strings.Fields(strings.NewReplacer("M", "", "L", "").Replace(s.Path)) {
			y, err := strconv.ParseFloat(n, 64)
			if err != nil || i%2 == 1 && (y < top || y > bottom) {
				t.Errorf("series %s: coordinate %s (y %v) outside [%g, %g] in %q", s.Label, n, i%2 == 1, top, bottom, s.Path)
			}
		}
		for _, d := range s.Dots {
			if d.Y < top || d.Y > bottom || math.IsNaN(d.Y) {
				t.Errorf("series %s: dot at y %g", s.Label, d.Y)
			}
		}
	}
	for _, b := range c.Bands {
		if strings.Contains(b.Title, "NaN") || strings.Contains(b.Title, "Inf") || strings.Contains(b.Title, "9,223,372") {
			t.Errorf("band title %q", b.Title)
		}
	}
}

func TestLineChartsOfHostileValuesStayInsideThePlot(t *testing.T) {
	first := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for _, unit := range units {
		sp := chartSpec{ID: "x", Title: "X", YTitle: "Y", Unit: unit, Metrics: []metric{{Key: "a", Label: "a"}, {Key: "b", Label: "b"}}}
		for _, v := range hostileValues {
			for _, other := range []float64{math.NaN(), 1, v} {
				series := [][]float64{{math.NaN(), v, 2, v}, {other, math.NaN(), other, 1}}
				c := buildLineChart(sp, series, first, first.Add(time.Hour), 15*time.Minute)
				t.Run(unit, func(t *testing.T) { checkLineChart(t, c) })
			}
		}
	}
}

// TestBucketsOfHugeReadingsStayFinite: sums and weighted means of any
// number of readings, each as large as a float goes, are charted.
func TestBucketsOfHugeReadingsStayFinite(t *testing.T) {
	for _, x := range []float64{math.MaxFloat64, 1e308, 1e19, 1, 0} {
		var a bucketAcc
		for range 1000 {
			a.add(x, math.MaxFloat64)
			a.add(x, 1)
		}
		for _, agg := range []aggregation{aggMean, aggSum, aggWeighted} {
			v := a.value(agg)
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("readings of %g: aggregation %d gives %g", x, agg, v)
			}
			if agg != aggSum && (v > x*(1+1e-9) || v < x*(1-1e-9)) {
				t.Errorf("readings all %g: aggregation %d gives %g", x, agg, v)
			}
		}
	}
}

func TestNumberReadsOnlyFiniteDecimalReadings(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want float64
		ok   bool
	}{
		{json.Number("1e19"), 1e19, true}, {json.Number("0.1e-400"), 0, true}, {json.Number("12"), 12, true},
		{json.Number("1e400"), 0, false}, {json.Number("-1e308"), 0, false}, {json.Number("-0"), 0, true},
		{"42.5", 42.5, true}, {" 7 ", 7, true}, {"NaN", 0, false}, {"nan", 0, false}, {"Infinity", 0, false},
		{"-Inf", 0, false}, {"+Inf", 0, false}, {"0x1p4", 0, false}, {"1_000", 0, false}, {"1e999", 0, false},
		{"", 0, false}, {true, 0, false}, {nil, 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false},
	} {
		got, ok := number(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("number(%#v) = %g, %v; want %g, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestActivityChartOfHugeCountsStaysInsideThePlot(t *testing.T) {
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for _, n := range []int64{0, 1, 3, 999, 4e18, math.MaxInt64 / 2, math.MaxInt64 - 2, math.MaxInt64} {
		counts := []stele.BucketCount{{Start: start.UnixMicro(), Category: stele.CategorySystem, Count: n}}
		c := buildChart(counts, start, start.Add(4*time.Hour), time.Hour, "hour")
		if c.Max < n || c.Max <= 0 {
			t.Errorf("count %d: scale %d", n, c.Max)
		}
		for _, tk := range c.YTicks {
			if strings.HasPrefix(tk.Label, "-") || tk.Pos < float64(c.PlotY) || tk.Pos > float64(c.PlotY+c.PlotH) {
				t.Errorf("count %d: y tick %q at %g", n, tk.Label, tk.Pos)
			}
		}
		for _, b := range c.Bars {
			for _, sg := range b.Segments {
				if sg.H < 0 || sg.H > float64(c.PlotH)+1e-9 || sg.Y < float64(c.PlotY)-1e-9 {
					t.Errorf("count %d: segment %+v", n, sg)
				}
			}
		}
	}
}
