package demo

import (
	"math/rand/v2"
	"time"

	"github.com/stele-audit/stele"
)

// day appends the activity of the local day starting at d, in no particular
// order.
func (s *state) day(r *rand.Rand, d time.Time, out []stele.Event) []stele.Event {
	end := d.Add(24 * time.Hour)
	for t := d; t.Before(end); t = t.Add(15 * time.Minute) {
		for _, route := range s.p.routes {
			out = append(out, s.apiLatency(r, t.Add(time.Duration(1+r.IntN(20))*time.Second), route))
		}
		out = append(out, s.resourceUsage(r, t.Add(time.Duration(1+r.IntN(20))*time.Second)))
	}
	for _, src := range s.sources {
		for t := d.Add(time.Duration(r.Int64N(int64(src.every)))); t.Before(end); t = t.Add(src.every) {
			out = s.scan(r, t, src, out)
		}
	}
	for h := d; h.Before(end); h = h.Add(time.Hour) {
		for range poisson(r, 14*s.p.scale*s.busy(h.Add(30*time.Minute))) {
			out = append(out, s.apiKeyUsed(r, h.Add(time.Duration(r.Int64N(int64(time.Hour))))))
		}
	}
	weekend := d.Weekday() == time.Saturday || d.Weekday() == time.Sunday
	// Admin changes per admin session, so that the account sees a handful a day.
	adminRate := 0.5
	people := s.activeUsers()
	for _, u := range people {
		works := 0.9
		if weekend {
			works = 0.07
		}
		if r.Float64() < works {
			out = s.workday(r, d, u, adminRate, out)
		}
		if r.IntN(60) == 0 { // on call, or just can't sleep
			at := d.Add(time.Duration(r.IntN(7)) * time.Hour).Add(time.Duration(r.Int64N(int64(time.Hour))))
			out = s.visit(r, at, at.Add(time.Duration(5+r.IntN(30))*time.Minute), u, 0, out)
		}
	}
	return out
}

// workday appends one person's sessions of a working day, the day starting
// at local midnight d.
func (s *state) workday(r *rand.Rand, d time.Time, u *user, adminRate float64, out []stele.Event) []stele.Event {
	t := d.Add(time.Duration((7.5 + 2.5*r.Float64()) * float64(time.Hour)))
	for range 1 + r.IntN(3) {
		length := time.Duration((0.75 + 3*r.Float64()) * float64(time.Hour))
		out = s.visit(r, t, t.Add(length), u, adminRate, out)
		t = t.Add(length + time.Duration((0.3+1.2*r.Float64())*float64(time.Hour)))
		if t.Sub(d) > 19*time.Hour {
			break
		}
	}
	return out
}

// visit appends one session of u between from and to: sign in, work, sign out.
func (s *state) visit(r *rand.Rand, from, to time.Time, u *user, adminRate float64, out []stele.Event) []stele.Event {
	ss := session{u: u, ip: s.officeIP(r), ua: u.agent, id: hexID(r, "ses_", 16)}
	if r.IntN(10) < 3 {
		ss.ip = u.homeIP
	}
	if r.IntN(12) == 0 {
		ss.ua = pick(r, browserAgents)
	}
	out, t := s.signIn(r, from, ss, out)
	span := int64(to.Sub(t))
	if span <= 0 {
		span = int64(time.Minute)
	}
	work := 3 + poisson(r, 5)
	for range work {
		out = append(out, s.work(r, t.Add(time.Duration(r.Int64N(span))), ss))
	}
	if u.role == roleOwner || u.role == roleAdmin {
		for range poisson(r, adminRate) {
			out = append(out, s.adminAction(r, t.Add(time.Duration(r.Int64N(span))), ss))
		}
	}
	return append(out, s.signOut(r, to.Add(time.Duration(r.IntN(60))*time.Second), ss))
}
