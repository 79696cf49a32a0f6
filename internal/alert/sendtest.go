package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/notify"
)

// TestResult is how one destination took a test alert.
type TestResult struct {
	Destination notify.Destination `json:"destination"` // redacted
	OK          bool               `json:"ok"`
	Error       string             `json:"error,omitempty"`
}

// testTimeout bounds a whole "send test": each destination has its own
// timeout too.
const testTimeout = 45 * time.Second

// Test sends a test alert of a rule to each of its destinations, at once
// and once (no retry), and says how each took it. The alert is marked a
// test; it carries no event of the account.
func (s *Service) Test(ctx context.Context, account *stele.Account, id string, a audit.Actor) ([]TestResult, error) {
	if s.Notifier == nil {
		return nil, stele.Errorf(stele.EUNAVAILABLE, "alert delivery is not configured on this server")
	}
	r, ds, err := s.load(ctx, account, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	alert := &notify.Alert{ID: NewFiringID(), Account: account.Name, Count: 1, FiredAt: now, Test: true,
		Rule: notify.Rule{ID: r.ID, Name: r.Name, Query: r.Query}}
	if t := r.Threshold; t != nil {
		alert.Rule.Threshold = &notify.Threshold{Count: t.Count, Window: t.Window, GroupBy: t.GroupBy}
		alert.Count = t.Count
	}
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	results := make([]TestResult, len(ds))
	done := make(chan struct{}, len(ds))
	for i, st := range ds {
		go func() {
			defer func() { done <- struct{}{} }()
			dest := st.destination(now)
			results[i] = TestResult{Destination: dest.Redacted(), OK: true}
			if err := s.Notifier.Deliver(ctx, notify.Delivery{ID: notify.NewDeliveryID(), Alert: alert, Destination: dest}); err != nil {
				results[i].OK, results[i].Error = false, err.Error()
			}
		}()
	}
	for range ds {
		<-done
	}
	lines, allOK := make([]string, len(results)), true
	for i, res := range results {
		lines[i] = fmt.Sprintf("%s: ok", summary([]notify.Destination{res.Destination}))
		if !res.OK {
			allOK = false
			lines[i] = fmt.Sprintf("%s: %s", summary([]notify.Destination{res.Destination}), res.Error)
		}
	}
	v := view(r, destinationsOf(ds))
	s.Audit.Log(s.Audit.AlertRuleTested(context.WithoutCancel(ctx), a, account.Name, state(v), lines, allOK))
	return results, nil
}

// Firing is one firing of a rule as its history shows it, with how each
// of its destinations took it.
type Firing struct {
	ID          string         `json:"id"`
	FiredAt     time.Time      `json:"fired_at"`
	Count       int            `json:"count"`
	EventIDs    []string       `json:"event_ids"`
	WindowStart *time.Time     `json:"window_start,omitempty"`
	WindowEnd   *time.Time     `json:"window_end,omitempty"`
	Deliveries  []DeliveryView `json:"deliveries"`
}

// DeliveryView is one delivery of a firing.
type DeliveryView struct {
	ID          string             `json:"id"`
	Destination notify.Destination `json:"destination"` // redacted
	State       string             `json:"state"`
	Attempts    int                `json:"attempts"`
	NextAttempt *time.Time         `json:"next_attempt,omitempty"`
	LastError   string             `json:"last_error,omitempty"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

// History returns a rule's firings, newest first, at most limit, with
// their deliveries. A deleted rule's firings stay readable.
func (s *Service) History(ctx context.Context, account *stele.Account, ruleID string, limit int) ([]Firing, error) {
	fs, err := s.Store.AlertFirings(ctx, account.ID, ruleID, time.Time{}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Firing, 0, len(fs))
	for _, f := range fs {
		v := Firing{ID: f.ID, FiredAt: f.FiredAt, Count: f.Count, EventIDs: []string{}, Deliveries: []DeliveryView{}}
		for _, seq := range f.Seqs {
			v.EventIDs = append(v.EventIDs, stele.EventID(account.ID, seq))
		}
		if f.Threshold != nil {
			st, en := time.UnixMicro(f.WindowStart).UTC(), time.UnixMicro(f.WindowEnd).UTC()
			v.WindowStart, v.WindowEnd = &st, &en
		}
		ds, err := OpenDestinations(ctx, s.Sealer, account.ID, f.Destinations, s.now())
		if err != nil {
			return nil, err
		}
		dls, err := s.Store.AlertDeliveries(ctx, account.ID, f.ID)
		if err != nil {
			return nil, err
		}
		for _, dl := range dls {
			dv := DeliveryView{ID: dl.ID, State: dl.State, Attempts: dl.Attempts, LastError: dl.LastError, UpdatedAt: dl.UpdatedAt}
			if dl.Destination < len(ds) {
				dv.Destination = ds[dl.Destination].Redacted()
			}
			if dl.State == stele.DeliveryPending {
				next := dl.NextAttempt
				dv.NextAttempt = &next
			}
			v.Deliveries = append(v.Deliveries, dv)
		}
		out = append(out, v)
	}
	return out, nil
}
