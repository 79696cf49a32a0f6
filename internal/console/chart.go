package console

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stele-audit/stele"
)

// chart is the activity chart of the Audit Logs page as the template draws
// it: an inline SVG of stacked bars, one stack per time bucket, one colour
// (a CSS class) per category. Geometry is computed here so the template
// holds no arithmetic.
type chart struct {
	Width, Height   int
	PlotX, PlotY    int
	PlotW, PlotH    int
	Bars            []chartBar
	YTicks          []chartTick
	XTicks          []chartTick
	Legend          []legendItem
	Total           int64
	Unit            string // "hour" or "day"
	Max             int64
	Start, End      time.Time
	XAxisY, YLabelX int
}

type chartBar struct {
	X, W     float64
	Segments []chartSegment
	Title    string
}

type chartSegment struct {
	Y, H     float64
	Category string
}

type chartTick struct {
	Pos   float64
	Label string
}

type legendItem struct {
	Category string
	Count    int64
}

// bucketFor picks hours for ranges up to eight days, days beyond.
func bucketFor(start, end time.Time) (time.Duration, string) {
	if end.Sub(start) <= 8*24*time.Hour {
		return time.Hour, "hour"
	}
	return 24 * time.Hour, "day"
}

// buildChart lays out counts over [start, end).
func buildChart(counts []stele.BucketCount, start, end time.Time, bucket time.Duration, unit string) *chart {
	c := &chart{Width: 960, Height: 240, PlotX: 56, PlotY: 12, Unit: unit, Start: start, End: end}
	c.PlotW, c.PlotH = c.Width-c.PlotX-12, c.Height-c.PlotY-40
	c.XAxisY, c.YLabelX = c.PlotY+c.PlotH, c.PlotX-8
	bus := bucket.Microseconds()
	first := start.UnixMicro() / bus * bus
	n := int((end.UnixMicro() - first + bus - 1) / bus)
	if n < 1 {
		n = 1
	}
	stacks := make([]map[string]int64, n)
	totals := make([]int64, n)
	byCat := map[string]int64{}
	for _, bc := range counts {
		i := int((bc.Start - first) / bus)
		if i < 0 || i >= n {
			continue
		}
		if stacks[i] == nil {
			stacks[i] = map[string]int64{}
		}
		stacks[i][bc.Category] += bc.Count
		totals[i] += bc.Count
		byCat[bc.Category] += bc.Count
		c.Total += bc.Count
	}
	c.Max = niceMax(slices.Max(totals))
	slot := float64(c.PlotW) / float64(n)
	gap := min(2, slot*0.2)
	for i := range n {
		bar := chartBar{X: float64(c.PlotX) + float64(i)*slot + gap/2, W: slot - gap}
		y := float64(c.PlotY + c.PlotH)
		t := time.UnixMicro(first + int64(i)*bus).UTC()
		bar.Title = fmt.Sprintf("%s: %s events", label(t, unit, true), comma(totals[i]))
		for _, cat := range stele.Categories {
			v := stacks[i][cat]
			if v == 0 {
				continue
			}
			h := float64(v) / float64(c.Max) * float64(c.PlotH)
			y -= h
			bar.Segments = append(bar.Segments, chartSegment{Y: y, H: h, Category: cat})
		}
		c.Bars = append(c.Bars, bar)
	}
	for k := 0; k <= 4; k++ {
		v := c.Max / 4 * int64(k) // not Max*k/4, which overflows for the largest counts
		if k == 4 {
			v = c.Max
		}
		c.YTicks = append(c.YTicks, chartTick{Pos: float64(c.PlotY+c.PlotH) - float64(v)/float64(c.Max)*float64(c.PlotH), Label: comma(v)})
	}
	// Hourly bars over more than two days are labelled at midnights only,
	// with the date; otherwise about eight evenly spaced labels.
	daily := unit == "hour" && n > 48
	step := max(1, n/8)
	for i := range n {
		t := time.UnixMicro(first + int64(i)*bus).UTC()
		if (daily && t.Hour() == 0) || (!daily && i%step == 0) {
			c.XTicks = append(c.XTicks, chartTick{Pos: float64(c.PlotX) + float64(i)*slot, Label: label(t, unit, false)})
		}
	}
	for _, cat := range stele.Categories {
		if byCat[cat] > 0 {
			c.Legend = append(c.Legend, legendItem{Category: cat, Count: byCat[cat]})
		}
	}
	return c
}

func label(t time.Time, unit string, long bool) string {
	switch {
	case unit == "hour" && long:
		return t.Format("Mon 2 Jan 15:00 UTC")
	case unit == "hour" && t.Hour() == 0:
		return t.Format("2 Jan")
	case unit == "hour":
		return t.Format("15:00")
	case long:
		return t.Format("Mon 2 Jan 2006")
	default:
		return t.Format("2 Jan")
	}
}

// niceMax rounds a count up to four times a round step (1, 2 or 5 times a
// power of ten), so the four gridlines fall on round numbers; beyond the
// largest such scale an int64 holds, the count itself is the scale.
func niceMax(v int64) int64 {
	need := max(1, v/4)
	if v%4 != 0 && need < math.MaxInt64 {
		need++
	}
	for p := int64(1); p <= math.MaxInt64/10; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= need {
				if m*p > math.MaxInt64/4 {
					return max(v, 1)
				}
				return 4 * m * p
			}
		}
	}
	return max(v, 1)
}
