package console

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// The System page charts the performance figures Stele records about
// itself: system.api_latency (one event per account per minute: requests,
// errors, p50/p95/p99 in ms) for the viewer's account, and, for operators,
// system.resource_usage (one per minute in _system: CPU, memory, store
// size, ingest rate). The events are read back through search and
// decrypted: a day holds 1,440 of each, a week 10,080.

// systemRange is a choice of the page's range and the bucket its points
// summarise.
type systemRange struct {
	Value, Label string
	Span, Bucket time.Duration
}

var systemRanges = []systemRange{
	{Value: "24h", Label: "Last 24 hours", Span: 24 * time.Hour, Bucket: 5 * time.Minute},
	{Value: "7d", Label: "Last 7 days", Span: 7 * 24 * time.Hour, Bucket: time.Hour},
}

// aggregation says how a bucket's minutes become one point.
type aggregation int

const (
	aggMean     aggregation = iota // the mean of the minutes
	aggSum                         // their total
	aggWeighted                    // the mean weighted by each minute's requests
)

// metric is one line of a chart: a metadata key of the events.
type metric struct {
	Key, Label, Class string
	Agg               aggregation
}

// chartSpec is one chart of the page.
type chartSpec struct {
	ID, Title, YTitle string
	Action            string
	Unit              string // "ms", "count", "percent", "bytes", "rate"
	Metrics           []metric
}

var (
	latencyCharts = []chartSpec{
		{ID: "latency", Title: "API latency", YTitle: "Milliseconds", Action: "system.api_latency", Unit: "ms", Metrics: []metric{
			{Key: "p50_ms", Label: "p50", Class: "s1", Agg: aggWeighted},
			{Key: "p95_ms", Label: "p95", Class: "s2", Agg: aggWeighted},
			{Key: "p99_ms", Label: "p99", Class: "s3", Agg: aggWeighted},
		}},
		{ID: "requests", Title: "API requests", YTitle: "Requests", Action: "system.api_latency", Unit: "count", Metrics: []metric{
			{Key: "requests", Label: "requests", Class: "s1", Agg: aggSum},
			{Key: "errors", Label: "errors (5xx)", Class: "s3", Agg: aggSum},
		}},
	}
	resourceCharts = []chartSpec{
		{ID: "cpu", Title: "CPU", YTitle: "Percent of one core", Action: "system.resource_usage", Unit: "percent", Metrics: []metric{
			{Key: "cpu_percent", Label: "CPU", Class: "s1"},
		}},
		{ID: "memory", Title: "Memory", YTitle: "Bytes", Action: "system.resource_usage", Unit: "bytes", Metrics: []metric{
			{Key: "rss_bytes", Label: "RSS", Class: "s1"},
			{Key: "go_heap_bytes", Label: "Go heap", Class: "s2"},
		}},
		{ID: "store", Title: "Store size", YTitle: "Bytes", Action: "system.resource_usage", Unit: "bytes", Metrics: []metric{
			{Key: "store_bytes", Label: "store", Class: "s1"},
		}},
		{ID: "ingest", Title: "Ingest rate", YTitle: "Events per second", Action: "system.resource_usage", Unit: "rate", Metrics: []metric{
			{Key: "ingest_events_per_second", Label: "events/s", Class: "s1"},
		}},
	}
)

// lineChart is one chart as the template draws it: an inline SVG with a
// path per series, gridlines and labelled axes; geometry is computed here.
type lineChart struct {
	ID, Title, YTitle, Desc string
	Width, Height           int
	PlotX, PlotY            int
	PlotW, PlotH            int
	XAxisY, YLabelX         int
	YTicks, XTicks          []chartTick
	Series                  []lineSeries
	Bands                   []hoverBand
	Points                  int // buckets with data
	Empty                   bool
}

type lineSeries struct {
	Label, Class string
	Path         string       // SVG path data; gaps start a new subpath
	Dots         []chartPoint // points without a neighbour, which a path cannot show
	Peak, Last   string
}

type chartPoint struct{ X, Y float64 }

// hoverBand is a bucket's column: its title lists the bucket's values.
type hoverBand struct {
	X, W  float64
	Title string
}

func (s *Server) handleSystem(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermAuditLogsRead) {
		return
	}
	rng, status := systemRanges[0], http.StatusOK
	data := map[string]any{"Ranges": systemRanges, "Operator": v.user.Operator()}
	if q := r.URL.Query().Get("range"); q != "" {
		found := false
		for _, x := range systemRanges {
			if x.Value == q {
				rng, found = x, true
			}
		}
		if !found {
			status = http.StatusBadRequest
			data["Error"] = fmt.Sprintf("Range: %q is not one of 24h or 7d; showing the last 24 hours.", q)
		}
	}
	data["Range"] = rng
	end := s.now().UTC()
	start := end.Add(-rng.Span)
	specs := latencyCharts
	if v.user.Operator() {
		specs = append(append([]chartSpec(nil), latencyCharts...), resourceCharts...)
	}
	charts, err := s.systemCharts(r.Context(), v.account, specs, start, end, rng.Bucket)
	if err != nil {
		s.Logger.Error("system charts", "account", v.account.Name, "err", err)
		status = statusFor(err)
		data["LoadError"] = "The figures could not be loaded. The error was logged; try again in a moment."
	}
	for _, c := range charts {
		data["Chart_"+c.ID] = c
	}
	data["Start"], data["End"], data["Bucket"] = start, end, bucketLabel(rng.Bucket)
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "system", data)
}

// systemCharts reads each action's events in [start, end) once and lays
// out the charts of specs.
func (s *Server) systemCharts(ctx context.Context, account *stele.Account, specs []chartSpec, start, end time.Time, bucket time.Duration) ([]*lineChart, error) {
	first := start.Truncate(bucket)
	n := max(1, int((end.Sub(first)+bucket-1)/bucket))
	values := map[string]map[string][]bucketAcc{} // action, key, bucket
	for _, sp := range specs {
		if values[sp.Action] == nil {
			values[sp.Action] = map[string][]bucketAcc{}
		}
		for _, m := range sp.Metrics {
			values[sp.Action][m.Key] = make([]bucketAcc, n)
		}
	}
	for action, keys := range values {
		q := stele.Query{Terms: []stele.Term{{Field: stele.FieldAction, Values: []string{action}}}, After: start, Before: end}
		_, err := s.Search.Each(ctx, account, q, func(e *stele.Event) error {
			i := int(e.Time.Sub(first) / bucket)
			if i < 0 || i >= n {
				return nil
			}
			weight := 1.0
			if reqs, ok := number(e.Metadata["requests"]); ok && reqs > 0 {
				weight = reqs
			}
			for key, buckets := range keys {
				if x, ok := number(e.Metadata[key]); ok {
					buckets[i].add(x, weight)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	charts := make([]*lineChart, 0, len(specs))
	for _, sp := range specs {
		series := make([][]float64, len(sp.Metrics)) // NaN where a bucket has no data
		for j, m := range sp.Metrics {
			series[j] = make([]float64, n)
			for i, a := range values[sp.Action][m.Key] {
				series[j][i] = a.value(m.Agg)
			}
		}
		charts = append(charts, buildLineChart(sp, series, first, end, bucket))
	}
	return charts, nil
}

// buildLineChart lays out series (one value per bucket from first, NaN
// for none) over [first, end). Values are held in place within what a
// reading can be (see plottable), so that any series draws inside the plot.
func buildLineChart(sp chartSpec, series [][]float64, first, end time.Time, bucket time.Duration) *lineChart {
	c := &lineChart{ID: sp.ID, Title: sp.Title, Width: 960, Height: 220, PlotX: 72, PlotY: 12}
	c.PlotW, c.PlotH = c.Width-c.PlotX-12, c.Height-c.PlotY-40
	c.XAxisY, c.YLabelX = c.PlotY+c.PlotH, c.PlotX-8
	n := len(series[0])
	peak := 0.0
	for _, vs := range series {
		for i, x := range vs {
			vs[i] = plottable(x)
			if !math.IsNaN(vs[i]) {
				peak = max(peak, vs[i])
			}
		}
	}
	scale, unit := unitScale(sp.Unit, peak)
	top, step := niceCeil(peak / scale)
	switch c.YTitle = sp.YTitle; sp.Unit {
	case "bytes":
		c.YTitle = unit
	case "count":
		c.YTitle += " per " + bucketLabel(bucket)
	}
	slot := float64(c.PlotW) / float64(n)
	x := func(i int) float64 { return round2(float64(c.PlotX) + (float64(i)+0.5)*slot) }
	y := func(v float64) float64 {
		return round2(float64(c.PlotY+c.PlotH) - v/scale/top*float64(c.PlotH))
	}
	for k := 0; k <= 4; k++ {
		v := top / 4 * float64(k) // not top*k/4, which overflows near the largest float
		c.YTicks = append(c.YTicks, chartTick{Pos: round2(float64(c.PlotY+c.PlotH) - v/top*float64(c.PlotH)), Label: formatTick(v, step, sp.Unit, unit)})
	}
	for i := range n {
		t := first.Add(time.Duration(i) * bucket).UTC()
		if lbl, ok := axisLabel(t, bucket); ok {
			c.XTicks = append(c.XTicks, chartTick{Pos: round2(float64(c.PlotX) + float64(i)*slot), Label: lbl})
		}
	}
	for j, m := range sp.Metrics {
		vs := series[j]
		ls := lineSeries{Label: m.Label, Class: m.Class}
		var path strings.Builder
		seriesPeak, last := math.NaN(), math.NaN()
		for i, v := range vs {
			if math.IsNaN(v) {
				continue
			}
			if math.IsNaN(seriesPeak) || v > seriesPeak {
				seriesPeak = v
			}
			last = v
			joined := i > 0 && !math.IsNaN(vs[i-1])
			if joined {
				fmt.Fprintf(&path, " L%g %g", x(i), y(v))
			} else {
				fmt.Fprintf(&path, " M%g %g", x(i), y(v))
				if i+1 >= n || math.IsNaN(vs[i+1]) {
					ls.Dots = append(ls.Dots, chartPoint{X: x(i), Y: y(v)})
				}
			}
		}
		ls.Path = strings.TrimSpace(path.String())
		if !math.IsNaN(seriesPeak) {
			ls.Peak, ls.Last = formatValue(seriesPeak, sp.Unit), formatValue(last, sp.Unit)
		}
		c.Series = append(c.Series, ls)
	}
	for i := range n {
		var parts []string
		for j, m := range sp.Metrics {
			if v := series[j][i]; !math.IsNaN(v) {
				parts = append(parts, m.Label+" "+formatValue(v, sp.Unit))
			}
		}
		if len(parts) == 0 {
			continue
		}
		c.Points++
		t := first.Add(time.Duration(i) * bucket).UTC()
		c.Bands = append(c.Bands, hoverBand{X: round2(float64(c.PlotX) + float64(i)*slot), W: round2(slot),
			Title: t.Format("Mon 2 Jan 15:04") + "–" + t.Add(bucket).Format("15:04 UTC") + ": " + strings.Join(parts, ", ")})
	}
	c.Empty = c.Points == 0
	c.Desc = fmt.Sprintf("%s per %s from %s to %s: %d points.", sp.Title, bucketLabel(bucket),
		first.UTC().Format("2 Jan 15:04"), end.UTC().Format("2 Jan 15:04 UTC"), c.Points)
	return c
}

// axisLabel says whether bucket start t gets an x-axis label, and which:
// every three hours (the date at midnight) for 5-minute buckets, the date
// at midnights for hourly ones.
func axisLabel(t time.Time, bucket time.Duration) (string, bool) {
	switch {
	case t.Minute() != 0 || t.Second() != 0:
		return "", false
	case t.Hour() == 0:
		return t.Format("2 Jan"), true
	case bucket < time.Hour && t.Hour()%3 == 0:
		return t.Format("15:00"), true
	}
	return "", false
}

func bucketLabel(d time.Duration) string {
	if d == time.Hour {
		return "hour"
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes()))
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
