package demo

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// profile is the fixed description of one demo account.
type profile struct {
	name, typ string
	company   string
	domain    string
	utcOffset int     // hours
	users     int     // people on the account
	scale     float64 // activity relative to the largest account
	office    [3]int  // office egress /24
	sources   int     // connected integrations
	routes    []string
	// owner, when set, is the first person on the account, the same on
	// every run (first name, last name, email), so that documented queries
	// (actor:ada@acme.io) find something whatever the seed.
	owner [3]string
}

var profiles = []profile{
	{name: "acme", typ: "business", company: "Acme", domain: "acme.io", utcOffset: -5, users: 40, scale: 1,
		office: [3]int{64, 39, 112}, sources: 7, routes: []string{"POST /v1/events", "GET /v1/events", "GET /v1/export", "GET /v1/checkpoint", "GET /admin/audit-logs"},
		owner: [3]string{"Ada", "Lovelace", "ada@acme.io"}},
	{name: "globex", typ: "team", company: "Globex", domain: "globex.com", utcOffset: 1, users: 16, scale: 0.4,
		office: [3]int{82, 165, 23}, sources: 4, routes: []string{"POST /v1/events", "GET /v1/events", "GET /admin/audit-logs"}},
	{name: "initech", typ: "enterprise", company: "Initech", domain: "initech.com", utcOffset: -6, users: 28, scale: 0.7,
		office: [3]int{66, 207, 84}, sources: 6, routes: []string{"POST /v1/events", "GET /v1/events", "GET /v1/export", "GET /admin/audit-logs"}},
	{name: "hooli", typ: "free", company: "Hooli", domain: "hooli.xyz", utcOffset: -8, users: 8, scale: 0.2,
		office: [3]int{104, 28, 60}, sources: 2, routes: []string{"POST /v1/events", "GET /v1/events"}},
}

// profileFor returns the profile of a demo account, or a small generic one for
// any other name (the load generator may write to accounts of its own).
func profileFor(name string) (profile, bool) {
	for _, p := range profiles {
		if p.name == name {
			return p, true
		}
	}
	return profile{name: name, typ: "team", company: name, domain: name + ".example.com", users: 12, scale: 0.3,
		office: [3]int{192, 0, 2}, sources: 3, routes: []string{"POST /v1/events", "GET /v1/events"}}, false
}

type user struct {
	ref    stele.Ref // type "user"
	first  string
	role   string
	homeIP string
	agent  string
	active bool
}

type finding struct {
	id, rule, resource, severity string
}

type source struct {
	ref       stele.Ref
	kind      string
	every     time.Duration // scan interval
	resources []string
	rules     []rule
	open      []finding
	next      int // finding counter
}

// state is an account's evolving world: its people, integrations and open
// findings. Events and Next each work on their own copy.
type state struct {
	p        profile
	loc      *time.Location
	users    []*user
	spare    []*user // people who may join later
	sources  []*source
	services []stele.Ref // API keys of automation
	system   stele.Ref
	scanner  stele.Ref
	diskGB   float64
	seq      int // counter for generated ids
}

func newState(p profile, r *rand.Rand) *state {
	s := &state{
		p:       p,
		loc:     time.FixedZone(p.name, p.utcOffset*3600),
		system:  stele.Ref{Type: "service", ID: "stele-api", Name: "Stele API"},
		scanner: stele.Ref{Type: "service", ID: "source-scanner", Name: "Source scanner"},
		diskGB:  2 + 20*p.scale,
	}
	used := map[string]bool{}
	for i := 0; i < p.users; i++ {
		var first, last string
		email := ""
		if i == 0 && p.owner[0] != "" {
			first, last, email = p.owner[0], p.owner[1], p.owner[2]
			used[first+last] = true
		}
		for email == "" {
			first, last = pick(r, firstNames), pick(r, lastNames)
			if !used[first+last] {
				used[first+last] = true
				email = emailLocal(first, last) + "@" + p.domain
			}
		}
		role := roleMember
		switch {
		case i == 0:
			role = roleOwner
		case i <= p.users/10+1:
			role = roleAdmin
		case i <= p.users/10+1+max(1, p.users/12):
			role = roleAuditor
		}
		u := &user{
			ref: stele.Ref{Type: "user", ID: "u_" + strconv.Itoa(1000+r.IntN(9000)) + strconv.Itoa(i),
				Name: first + " " + last, Email: email},
			first:  first,
			role:   role,
			homeIP: homeIP(r),
			agent:  pick(r, browserAgents),
			active: true,
		}
		// The last few join during the demo period.
		if i >= p.users-max(1, p.users/10) {
			u.active = false
			s.spare = append(s.spare, u)
			continue
		}
		s.users = append(s.users, u)
	}
	for i, k := range r.Perm(len(sourceKinds))[:min(p.sources, len(sourceKinds))] {
		s.sources = append(s.sources, newSource(r, sourceKinds[k], p, i))
	}
	s.services = []stele.Ref{
		{Type: "api_key", ID: hexID(r, "key_", 12), Name: "terraform-ci"},
		{Type: "api_key", ID: hexID(r, "key_", 12), Name: "siem-export"},
	}
	if p.scale >= 0.5 {
		s.services = append(s.services, stele.Ref{Type: "api_key", ID: hexID(r, "key_", 12), Name: "backend-producer"})
	}
	return s
}

// clone returns a deep copy of s, so that the fixed world of an account can
// be replayed from the start.
func (s *state) clone() *state {
	c := *s
	cp := func(us []*user) []*user {
		out := make([]*user, len(us))
		for i, u := range us {
			v := *u
			out[i] = &v
		}
		return out
	}
	c.users, c.spare = cp(s.users), cp(s.spare)
	c.sources = make([]*source, len(s.sources))
	for i, src := range s.sources {
		v := *src
		v.open = append([]finding(nil), src.open...)
		c.sources[i] = &v
	}
	c.services = append([]stele.Ref(nil), s.services...)
	return &c
}

func (s *state) activeUsers() []*user {
	var out []*user
	for _, u := range s.users {
		if u.active {
			out = append(out, u)
		}
	}
	return out
}

// admin returns an active owner or admin.
func (s *state) admin(r *rand.Rand) *user {
	for range 8 {
		u := s.users[r.IntN(len(s.users))]
		if u.active && (u.role == roleOwner || u.role == roleAdmin) {
			return u
		}
	}
	return s.users[0]
}

// anyUser returns a random active user other than not.
func (s *state) anyUser(r *rand.Rand, not *user) *user {
	for range 8 {
		u := s.users[r.IntN(len(s.users))]
		if u.active && u != not {
			return u
		}
	}
	for _, u := range s.users {
		if u.active && u != not {
			return u
		}
	}
	return s.users[0]
}

func (s *state) officeIP(r *rand.Rand) string {
	o := s.p.office
	return ipv4(o[0], o[1], o[2], 10+r.IntN(20))
}

func (s *state) nextID(prefix string) string {
	s.seq++
	return prefix + strconv.Itoa(s.seq)
}
