package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// Webhook body's type and version. A change that could break a receiver
// gets a new version; fields may be added within one.
const (
	WebhookType    = "alert.fired"
	WebhookVersion = 1
)

// WebhookBody is the JSON body of a webhook delivery (docs/ALERTS.md
// shows one). Times are RFC 3339 in UTC; durations are written as the
// query language writes them ("10m", "1h30m").
type WebhookBody struct {
	Type       string `json:"type"`
	Version    int    `json:"version"`
	DeliveryID string `json:"delivery_id"`
	AlertID    string `json:"alert_id"`
	// Test is true for an alert sent by "send test": the rule did not fire.
	Test    bool        `json:"test"`
	Account string      `json:"account"`
	FiredAt time.Time   `json:"fired_at"`
	Rule    BodyRule    `json:"rule"`
	Group   *Group      `json:"group,omitempty"`
	Count   int         `json:"count"`
	Window  *BodyWindow `json:"window,omitempty"`
	Events  []BodyEvent `json:"events"`
	// EventsOmitted counts the matching events not listed; URL finds all.
	EventsOmitted int    `json:"events_omitted"`
	URL           string `json:"url"`
}

// BodyRule is the rule that fired.
type BodyRule struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Query     string         `json:"query"`
	Threshold *BodyThreshold `json:"threshold,omitempty"`
}

// BodyThreshold is the rule's threshold.
type BodyThreshold struct {
	Count   int    `json:"count"`
	Window  string `json:"window"`
	GroupBy string `json:"group_by,omitempty"`
}

// BodyWindow bounds the counted events' times: (start, end].
type BodyWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// BodyEvent is one triggering event, with its page in the console.
type BodyEvent struct {
	ID          string     `json:"id"`
	Seq         int64      `json:"seq"`
	Time        time.Time  `json:"time"`
	Action      string     `json:"action"`
	Category    string     `json:"category"`
	Outcome     string     `json:"outcome"`
	Actor       *stele.Ref `json:"actor,omitempty"`
	Target      *stele.Ref `json:"target,omitempty"`
	Source      *stele.Ref `json:"source,omitempty"`
	IP          string     `json:"ip,omitempty"`
	Description string     `json:"description,omitempty"`
	URL         string     `json:"url"`
}

// webhookBody returns the body of a delivery of a.
func (n *Notifier) webhookBody(deliveryID string, a *Alert) WebhookBody {
	b := WebhookBody{
		Type: WebhookType, Version: WebhookVersion, DeliveryID: deliveryID, AlertID: a.ID, Test: a.Test,
		Account: a.Account, FiredAt: a.FiredAt.UTC(), Group: a.Group, Count: a.Count,
		Rule:          BodyRule{ID: a.Rule.ID, Name: a.Rule.Name, Query: a.Rule.Query},
		Events:        make([]BodyEvent, 0, min(len(a.Events), MaxEvents)),
		EventsOmitted: a.Omitted(),
		URL:           n.console.SearchURL(a),
	}
	if th := a.Rule.Threshold; th != nil {
		b.Rule.Threshold = &BodyThreshold{Count: th.Count, Window: formatDuration(th.Window), GroupBy: th.GroupBy}
	}
	if !a.WindowStart.IsZero() || !a.WindowEnd.IsZero() {
		b.Window = &BodyWindow{Start: a.WindowStart.UTC(), End: a.WindowEnd.UTC()}
	}
	for i, e := range a.Events {
		if i == MaxEvents {
			b.EventsOmitted += len(a.Events) - MaxEvents
			break
		}
		b.Events = append(b.Events, BodyEvent{
			ID: e.ID, Seq: e.Seq, Time: e.Time.UTC(), Action: e.Action, Category: e.Category, Outcome: e.Outcome,
			Actor: e.Actor, Target: e.Target, Source: e.Source, IP: e.IP, Description: e.Description,
			URL: n.console.EventURL(e.ID),
		})
	}
	return b
}

// formatDuration writes d as the query language does: 10m, 1h, 1h30m, 45s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// deliverWebhook posts the signed body.
func (n *Notifier) deliverWebhook(ctx context.Context, d Delivery) error {
	body, err := json.Marshal(n.webhookBody(d.ID, d.Alert))
	if err != nil {
		return &DeliveryError{Type: TypeWebhook, Reason: "the body could not be encoded", err: err}
	}
	secrets := []string{d.Destination.Secret, d.Destination.PreviousSecret}
	h := http.Header{}
	h.Set(SignatureHeader, Sign(secrets, n.now(), body))
	h.Set(DeliveryIDHeader, d.ID)
	return n.post(ctx, TypeWebhook, d.Destination.URL, body, h)
}
