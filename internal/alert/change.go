package alert

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
)

// RuleChange is what an operator says about a rule on the command line
// (stele alerts create and update): a template to start from, and the
// settings to set; a nil or empty field says nothing.
type RuleChange struct {
	Template                  string
	Name, Query               *string
	Count                     *int
	Window, GroupBy, Cooldown *string
	Webhooks, Slacks, Emails  []string // given, they replace the destinations
	Enabled                   *bool
}

// DecodeRule reads a rule as the API's JSON body (client.AlertRuleInput)
// over in, refusing fields it does not know.
func DecodeRule(r io.Reader, in *client.AlertRuleInput) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		return &stele.Error{Code: stele.EINVALID, Message: "--file: not an alert rule's JSON: " + err.Error(),
			Details: []stele.FieldError{{Field: "file", Rule: "json"}}}
	}
	return nil
}

// Apply is the rule the change makes of in (a rule read from a file, the
// rule as it is, or nothing): the template first, then each setting given.
func (c RuleChange) Apply(in client.AlertRuleInput) (client.AlertRuleInput, error) {
	if c.Template != "" {
		t, ok := TemplateNamed(c.Template)
		if !ok {
			var names []string
			for _, t := range Templates {
				names = append(names, t.Name)
			}
			return in, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("--template: no template %q (%s)", c.Template, strings.Join(names, ", ")),
				Details: []stele.FieldError{{Field: "template", Rule: "one_of"}}}
		}
		in.Name, in.Query, in.Cooldown = t.Title, t.Query, t.Cooldown
		in.Threshold = nil
		if t.Threshold != nil {
			in.Threshold = &client.AlertThreshold{Count: t.Threshold.Count, Window: t.Threshold.Window, GroupBy: t.Threshold.GroupBy}
		}
	}
	setTo(&in.Name, c.Name)
	setTo(&in.Query, c.Query)
	if c.Count != nil || c.Window != nil || c.GroupBy != nil {
		th := client.AlertThreshold{}
		if in.Threshold != nil {
			th = *in.Threshold
		}
		setTo(&th.Count, c.Count)
		setTo(&th.Window, c.Window)
		setTo(&th.GroupBy, c.GroupBy)
		in.Threshold = &th
	}
	setTo(&in.Cooldown, c.Cooldown)
	if len(c.Webhooks)+len(c.Slacks)+len(c.Emails) > 0 {
		in.Destinations = c.destinations()
	}
	if c.Enabled != nil {
		in.Enabled = new(*c.Enabled)
	}
	return in, nil
}

// destinations are the destinations the change names: webhooks, Slack
// webhooks, then one email destination to every address.
func (c RuleChange) destinations() []client.AlertDestination {
	var ds []client.AlertDestination
	for _, u := range c.Webhooks {
		ds = append(ds, client.AlertDestination{Type: "webhook", URL: u})
	}
	for _, u := range c.Slacks {
		ds = append(ds, client.AlertDestination{Type: "slack", URL: u})
	}
	if len(c.Emails) > 0 {
		ds = append(ds, client.AlertDestination{Type: "email", To: c.Emails})
	}
	return ds
}

func setTo[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
