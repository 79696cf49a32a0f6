package demo

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// busy is how loaded the account's platform is at t: near 1 during office
// hours on weekdays, low at night and at weekends.
func (s *state) busy(t time.Time) float64 {
	l := t.In(s.loc)
	h := float64(l.Hour()) + float64(l.Minute())/60
	// A smooth bump centred on 13:30 local, about nine hours wide.
	f := 0.08 + 0.92*math.Exp(-math.Pow((h-13.5)/4.2, 4))
	if wd := l.Weekday(); wd == time.Saturday || wd == time.Sunday {
		f *= 0.25
	}
	return f
}

var routeBase = map[string]struct{ rpm, p50 float64 }{
	"POST /v1/events":       {900, 9},
	"GET /v1/events":        {120, 35},
	"GET /v1/export":        {4, 420},
	"GET /v1/checkpoint":    {30, 4},
	"GET /admin/audit-logs": {40, 60},
}

// apiLatency is the 15-minute roll-up of one route's response times.
func (s *state) apiLatency(r *rand.Rand, t time.Time, route string) stele.Event {
	b, ok := routeBase[route]
	if !ok {
		b.rpm, b.p50 = 50, 20
	}
	busy := s.busy(t)
	count := int(b.rpm*15*s.p.scale*busy*(0.8+0.4*r.Float64())) + r.IntN(5)
	p50 := b.p50 * (0.85 + 0.3*r.Float64()) * (1 + 0.5*busy)
	p95 := p50 * (2.2 + r.Float64())
	p99 := p95 * (1.6 + 1.5*r.Float64())
	if r.IntN(200) == 0 { // the odd slow spell
		p99 *= 6
	}
	errs := 0
	if count > 0 && r.IntN(8) == 0 {
		errs = 1 + r.IntN(1+count/500)
	}
	e := s.event(r, t, "system.api_latency", stele.OutcomeSuccess)
	e.Actor = ref(s.system)
	e.RequestID = ""
	e.Description = route + ": " + strconv.Itoa(count) + " requests, p99 " + strconv.FormatFloat(p99, 'f', 0, 64) + " ms"
	e.Metadata = map[string]any{
		"route": route, "count": num(count), "p50_ms": dec(p50, 1), "p95_ms": dec(p95, 1), "p99_ms": dec(p99, 1),
		"errors": num(errs), "window": "15m",
	}
	return e
}

func (s *state) resourceUsage(r *rand.Rand, t time.Time) stele.Event {
	busy := s.busy(t)
	cpu := 4 + 55*busy*s.p.scale + 6*r.Float64()
	rss := 180 + 900*busy*s.p.scale + 40*r.Float64()
	s.diskGB += 0.0015 * s.p.scale * (0.5 + r.Float64())
	e := s.event(r, t, "system.resource_usage", stele.OutcomeSuccess)
	e.Actor = ref(s.system)
	e.RequestID = ""
	e.Description = "CPU " + strconv.FormatFloat(cpu, 'f', 0, 64) + "%, memory " + strconv.FormatFloat(rss, 'f', 0, 64) + " MB, disk " + strconv.FormatFloat(s.diskGB, 'f', 1, 64) + " GB"
	e.Metadata = map[string]any{"cpu_percent": dec(cpu, 1), "rss_mb": dec(rss, 0), "disk_gb": dec(s.diskGB, 2), "host": "stele-1"}
	return e
}

func (s *state) scannerEvent(r *rand.Rand, t time.Time, src *source, action, outcome, desc string) stele.Event {
	e := s.event(r, t, action, outcome)
	e.Actor = ref(s.scanner)
	e.Source = ref(src.ref)
	e.Description = desc
	return e
}

func (s *state) findingEvent(r *rand.Rand, t time.Time, src *source, f finding, action, desc string) stele.Event {
	e := s.scannerEvent(r, t, src, action, stele.OutcomeSuccess, desc)
	e.Target = &stele.Ref{Type: "finding", ID: f.id, Name: f.rule}
	e.Metadata = map[string]any{"finding_id": f.id, "rule": f.rule, "resource": f.resource, "severity": f.severity, "scan_id": src.ref.ID + "-" + strconv.FormatInt(t.Unix(), 36)}
	return e
}

// scan appends the events of one scan of src: findings that appeared,
// changed or went away, then the scan's summary.
func (s *state) scan(r *rand.Rand, t time.Time, src *source, out []stele.Event) []stele.Event {
	dur := time.Duration(20+r.IntN(400)) * time.Second
	if r.IntN(60) == 0 {
		e := s.scannerEvent(r, t.Add(dur), src, "source.scan_failed", stele.OutcomeFailure, "Scan of "+src.ref.Name+" failed: "+pick(r, scanErrors))
		e.Metadata = map[string]any{"duration_s": num(int(dur.Seconds())), "error": e.Description[len("Scan of "+src.ref.Name+" failed: "):]}
		return append(out, e)
	}
	scale := float64(src.every) / float64(time.Hour)
	var created, updated, deleted int
	for range poisson(r, 0.45*scale) {
		f := src.newFinding(r)
		src.open = append(src.open, f)
		created++
		out = append(out, s.findingEvent(r, t.Add(time.Duration(r.Int64N(int64(dur)))), src, f, "finding.generated",
			src.ref.Name+": "+src.ruleTitle(f.rule)+" ("+f.severity+") on "+f.resource))
	}
	for range poisson(r, 0.3*scale) {
		if len(src.open) == 0 {
			break
		}
		f := &src.open[r.IntN(len(src.open))]
		old := f.severity
		for f.severity == old {
			f.severity = pick(r, []string{"low", "medium", "high", "critical"})
		}
		updated++
		e := s.findingEvent(r, t.Add(time.Duration(r.Int64N(int64(dur)))), src, *f, "finding.updated",
			src.ref.Name+": "+src.ruleTitle(f.rule)+" on "+f.resource+" changed severity from "+old+" to "+f.severity)
		e.Metadata["severity_before"] = old
		out = append(out, e)
	}
	del := 0.35 * scale
	if len(src.open) > 40 {
		del *= 3
	}
	for range poisson(r, del) {
		if len(src.open) == 0 {
			break
		}
		i := r.IntN(len(src.open))
		f := src.open[i]
		src.open = append(src.open[:i], src.open[i+1:]...)
		deleted++
		out = append(out, s.findingEvent(r, t.Add(time.Duration(r.Int64N(int64(dur)))), src, f, "finding.deleted",
			src.ref.Name+": "+f.resource+" no longer exists; removed \""+src.ruleTitle(f.rule)+"\""))
	}
	e := s.scannerEvent(r, t.Add(dur), src, "source.scan_completed", stele.OutcomeSuccess,
		"Scanned "+src.ref.Name+": "+strconv.Itoa(created)+" new, "+strconv.Itoa(deleted)+" removed, "+strconv.Itoa(len(src.open))+" open findings")
	e.Metadata = map[string]any{
		"duration_s": num(int(dur.Seconds())), "resources_scanned": num(50 + r.IntN(2000)),
		"findings_new": num(created), "findings_updated": num(updated), "findings_removed": num(deleted), "findings_open": num(len(src.open)),
	}
	return append(out, e)
}

var scanErrors = []string{"credentials expired", "rate limited by provider", "timeout after 900s", "permission denied: missing read role"}

// poisson draws from a Poisson distribution with mean lambda (small lambda).
func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// bruteForce appends a password-guessing burst against one person from one
// foreign address: 20 to 60 failures within minutes, and a lockout.
func (s *state) bruteForce(r *rand.Rand, t time.Time, out []stele.Event) []stele.Event {
	victim := s.anyUser(r, nil)
	ss := session{u: victim, ip: attackIP(r), ua: pick(r, attackAgents)}
	country := pick(r, attackCountry)
	n := 20 + r.IntN(41)
	gap := time.Duration(2000+r.IntN(8000)) * time.Millisecond
	for i := 1; i <= n; i++ {
		reason := "invalid_password"
		if i > 10 {
			reason = "account_locked"
		}
		e := s.userEvent(r, t, ss, "user.login_failed", stele.OutcomeFailure,
			"Failed sign-in as "+victim.ref.Name+" from "+ss.ip+" ("+country+"): "+reason)
		e.Metadata = map[string]any{"reason": reason, "attempt": num(i), "country": country}
		out = append(out, e)
		if i == 10 {
			lock := s.userEvent(r, t.Add(time.Millisecond), ss, "user.locked_out", stele.OutcomeSuccess,
				victim.ref.Name+" was locked out after 10 failed sign-ins from "+ss.ip)
			lock.Metadata = map[string]any{"failed_attempts": num(10), "country": country, "lock_minutes": num(30)}
			out = append(out, lock)
		}
		t = t.Add(gap/2 + time.Duration(r.Int64N(int64(gap))))
	}
	return out
}
