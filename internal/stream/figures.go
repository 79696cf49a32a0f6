package stream

import (
	"cmp"
	"slices"
	"sync"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/metrics"
)

// Figures are the numbers of one stream this node runs, for /metrics.
type Figures struct {
	mu       sync.Mutex
	fig      metrics.StreamFigure
	accounts map[int64]*metrics.StreamAccountFigure
}

func newFigures(s *stele.Stream) *Figures {
	return &Figures{fig: metrics.StreamFigure{Stream: s.ID, Name: s.Name, Owner: s.Account},
		accounts: map[int64]*metrics.StreamAccountFigure{}}
}

func (f *Figures) account(c *cursor) *metrics.StreamAccountFigure {
	a, ok := f.accounts[c.id]
	if !ok {
		a = &metrics.StreamAccountFigure{Account: c.account}
		f.accounts[c.id] = a
	}
	return a
}

// read records what a read of one account found: how far behind the
// stream is there, and what it forwarded and skipped.
func (f *Figures) read(c *cursor, lagSeconds float64, forwarded, skipped int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.account(c)
	a.LagEvents, a.LagSeconds = max(0, c.head-c.next), lagSeconds
	a.Forwarded += forwarded
	a.Skipped += skipped
}

// dropAccounts forgets the accounts not in keep (deleted ones).
func (f *Figures) dropAccounts(keep map[int64]*cursor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.accounts {
		if _, ok := keep[id]; !ok {
			delete(f.accounts, id)
		}
	}
}

func (f *Figures) failed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fig.Errors++
	f.fig.Failing = true
}

func (f *Figures) succeeded() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fig.Failing = false
}

func (f *Figures) snapshot() metrics.StreamFigure {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.fig
	out.Accounts = make([]metrics.StreamAccountFigure, 0, len(f.accounts))
	for _, a := range f.accounts {
		out.Accounts = append(out.Accounts, *a)
	}
	slices.SortFunc(out.Accounts, func(a, b metrics.StreamAccountFigure) int { return cmp.Compare(a.Account, b.Account) })
	return out
}

// Figures returns the numbers of the streams this node runs, by stream id,
// for /metrics.
func (f *Forwarder) Figures() []metrics.StreamFigure {
	f.init()
	f.mu.Lock()
	all := make([]*Figures, 0, len(f.figures))
	for _, fig := range f.figures {
		all = append(all, fig)
	}
	f.mu.Unlock()
	out := make([]metrics.StreamFigure, 0, len(all))
	for _, fig := range all {
		out = append(out, fig.snapshot())
	}
	slices.SortFunc(out, func(a, b metrics.StreamFigure) int { return cmp.Compare(a.Stream, b.Stream) })
	return out
}
