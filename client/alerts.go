package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The types of this file mirror internal/alert's Rule, Input, TestResult
// and Firing (with their parts) deliberately, as the client imports
// nothing internal; internal/api/client_mirror_test.go holds their JSON
// equal.

// AlertRule is an alert rule as the server returns it (GET /v1/alert-rules).
// Destinations come back without their secrets, except a webhook secret
// the server generated, in the answer to the request that made it.
type AlertRule struct {
	ID           string             `json:"id"`
	Name         string             `json:"name"`
	Query        string             `json:"query"`
	Threshold    *AlertThreshold    `json:"threshold,omitempty"`
	Cooldown     string             `json:"cooldown,omitempty"`
	Enabled      bool               `json:"enabled"`
	Destinations []AlertDestination `json:"destinations"`
	CreatedAt    time.Time          `json:"created_at"`
	UpdatedAt    time.Time          `json:"updated_at"`
}

// AlertRuleInput is a rule to create, or the settings that replace a
// rule's. Threshold and Cooldown are optional; Enabled nil means true on
// create and unchanged on update.
type AlertRuleInput struct {
	Name         string             `json:"name"`
	Query        string             `json:"query"`
	Threshold    *AlertThreshold    `json:"threshold,omitempty"`
	Cooldown     string             `json:"cooldown,omitempty"`
	Enabled      *bool              `json:"enabled,omitempty"`
	Destinations []AlertDestination `json:"destinations"`
}

// AlertThreshold is "at least Count matching events within Window"
// ("10m"), counted per GroupBy (actor, ip or source) when set.
type AlertThreshold struct {
	Count   int    `json:"count"`
	Window  string `json:"window"`
	GroupBy string `json:"group_by,omitempty"`
}

// AlertDestination is a webhook (URL, Secret), a Slack incoming webhook
// (URL) or email (To).
type AlertDestination struct {
	Type   string   `json:"type"`
	URL    string   `json:"url,omitempty"`
	Secret string   `json:"secret,omitempty"`
	To     []string `json:"to,omitempty"`
}

// AlertTestResult is how one destination took a test alert.
type AlertTestResult struct {
	Destination AlertDestination `json:"destination"`
	OK          bool             `json:"ok"`
	Error       string           `json:"error,omitempty"`
}

// AlertFiring is one firing of a rule, with its deliveries.
type AlertFiring struct {
	ID          string          `json:"id"`
	FiredAt     time.Time       `json:"fired_at"`
	Count       int             `json:"count"`
	EventIDs    []string        `json:"event_ids"`
	WindowStart *time.Time      `json:"window_start,omitempty"`
	WindowEnd   *time.Time      `json:"window_end,omitempty"`
	Deliveries  []AlertDelivery `json:"deliveries"`
}

// AlertDelivery is one firing for one destination.
type AlertDelivery struct {
	ID          string           `json:"id"`
	Destination AlertDestination `json:"destination"`
	State       string           `json:"state"`
	Attempts    int              `json:"attempts"`
	NextAttempt *time.Time       `json:"next_attempt,omitempty"`
	LastError   string           `json:"last_error,omitempty"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

func rulePath(id string) string { return "/v1/alert-rules/" + url.PathEscape(id) }

// CreateAlertRule creates a rule (scope alerts:manage).
func (c *Client) CreateAlertRule(ctx context.Context, in AlertRuleInput) (*AlertRule, error) {
	var r AlertRule
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/alert-rules", in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// AlertRules lists the key's account's rules, oldest first.
func (c *Client) AlertRules(ctx context.Context) ([]AlertRule, error) {
	var out struct {
		AlertRules []AlertRule `json:"alert_rules"`
	}
	if err := c.getJSON(ctx, "/v1/alert-rules", &out); err != nil {
		return nil, err
	}
	return out.AlertRules, nil
}

// AlertRule reads one rule.
func (c *Client) AlertRule(ctx context.Context, id string) (*AlertRule, error) {
	var r AlertRule
	if err := c.getJSON(ctx, rulePath(id), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// UpdateAlertRule replaces a rule's settings. Secrets left out, and URLs
// sent back as AlertRule returned them, are kept.
func (c *Client) UpdateAlertRule(ctx context.Context, id string, in AlertRuleInput) (*AlertRule, error) {
	var r AlertRule
	if err := c.sendJSON(ctx, http.MethodPut, rulePath(id), in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteAlertRule deletes a rule; its history stays.
func (c *Client) DeleteAlertRule(ctx context.Context, id string) error {
	return c.sendJSON(ctx, http.MethodDelete, rulePath(id), nil, nil)
}

// TestAlertRule sends a test alert to each of the rule's destinations.
func (c *Client) TestAlertRule(ctx context.Context, id string) ([]AlertTestResult, error) {
	var out struct {
		Results []AlertTestResult `json:"results"`
	}
	if err := c.sendJSON(ctx, http.MethodPost, rulePath(id)+"/test", nil, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// AlertFirings returns a rule's firings, newest first, at most limit.
func (c *Client) AlertFirings(ctx context.Context, id string, limit int) ([]AlertFiring, error) {
	var out struct {
		Firings []AlertFiring `json:"firings"`
	}
	if err := c.getJSON(ctx, rulePath(id)+"/firings?limit="+fmt.Sprint(limit), &out); err != nil {
		return nil, err
	}
	return out.Firings, nil
}
