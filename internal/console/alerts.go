package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/notify"
)

// Settings → Alerts: owners (settings.manage) list the account's alert
// rules, create one from a template or from scratch, edit, turn on and off,
// send a test and delete them, and read a rule's firings and deliveries.
// alert.Service checks and records every change; a member or an auditor
// never sees the page (the menu leaves it out and the routes refuse).

// alertsForm is the rule form as the page shows it: its fields as typed,
// and one row per destination.
type alertsForm struct {
	Name, Query, Count, Window, GroupBy, Cooldown string
	Threshold, Enabled                            bool
	Destinations                                  []destRow
}

// destRow is one destination of the form: a webhook (URL and optional
// secret), a Slack URL, or email recipients one per line.
type destRow struct {
	Type, URL, To string
}

// ruleFormOf returns the form showing rule r (nil: a blank rule).
func ruleFormOf(r *alert.Rule) alertsForm {
	f := alertsForm{Enabled: true}
	if r == nil {
		return f.withBlankRows()
	}
	f.Name, f.Query, f.Cooldown, f.Enabled = r.Name, r.Query, r.Cooldown, r.Enabled
	if t := r.Threshold; t != nil {
		f.Threshold, f.Count, f.Window, f.GroupBy = true, strconv.Itoa(t.Count), t.Window, t.GroupBy
	}
	for _, d := range r.Destinations {
		f.Destinations = append(f.Destinations, destRow{Type: d.Type, URL: d.URL, To: strings.Join(d.To, "\n")})
	}
	return f.withBlankRows()
}

// withBlankRows adds one empty row of each type, to add a destination.
func (f alertsForm) withBlankRows() alertsForm {
	f.Destinations = append(f.Destinations, destRow{Type: notify.TypeWebhook}, destRow{Type: notify.TypeSlack}, destRow{Type: notify.TypeEmail})
	return f
}

// ruleFormOfTemplate returns the form of a new rule from template t.
func ruleFormOfTemplate(t alert.Template) alertsForm {
	in := t.Input(nil)
	r := &alert.Rule{Name: in.Name, Query: in.Query, Cooldown: in.Cooldown, Enabled: true, Threshold: in.Threshold}
	return ruleFormOf(r)
}

// readForm reads the posted form into the form as typed and the rule's
// input. Rows left empty are no destination.
func readForm(r *http.Request) (alertsForm, alert.Input) {
	f := alertsForm{Name: r.PostFormValue("name"), Query: r.PostFormValue("query"), Count: r.PostFormValue("count"),
		Window: strings.TrimSpace(r.PostFormValue("window")), GroupBy: r.PostFormValue("group_by"),
		Cooldown: strings.TrimSpace(r.PostFormValue("cooldown")), Threshold: r.PostFormValue("threshold") == "on",
		Enabled: r.PostFormValue("enabled") == "on"}
	enabled := f.Enabled
	in := alert.Input{Name: f.Name, Query: f.Query, Cooldown: f.Cooldown, Enabled: &enabled, Destinations: []notify.Destination{}}
	if f.Threshold {
		n, err := strconv.Atoi(strings.TrimSpace(f.Count))
		if err != nil {
			n = 0 // refused by the service as out of range, naming the field
		}
		in.Threshold = &alert.ThresholdInput{Count: n, Window: f.Window, GroupBy: f.GroupBy}
	}
	types, urls, secrets, tos := r.PostForm["dest_type"], r.PostForm["dest_url"], r.PostForm["dest_secret"], r.PostForm["dest_to"]
	at := func(xs []string, i int) string {
		if i < len(xs) {
			return strings.TrimSpace(xs[i])
		}
		return ""
	}
	for i, typ := range types {
		row := destRow{Type: typ, URL: at(urls, i), To: at(tos, i)}
		f.Destinations = append(f.Destinations, row)
		d := notify.Destination{Type: typ}
		switch typ {
		case notify.TypeWebhook, notify.TypeSlack:
			if row.URL == "" {
				continue
			}
			d.URL = row.URL
			if typ == notify.TypeWebhook {
				d.Secret = at(secrets, i)
			}
		case notify.TypeEmail:
			for _, a := range strings.FieldsFunc(row.To, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' || r == ' ' }) {
				d.To = append(d.To, a)
			}
			if len(d.To) == 0 {
				continue
			}
		default:
			continue
		}
		in.Destinations = append(in.Destinations, d)
	}
	return f, in
}

func (s *Server) alertsAvailable(w http.ResponseWriter, r *http.Request, v *visit) bool {
	if !s.require(w, r, v, stele.PermSettingsManage) {
		return false
	}
	if s.Alerts == nil {
		s.renderError(w, r, v, http.StatusServiceUnavailable, "Not available", "Alert rules are not configured on this server.")
		return false
	}
	return true
}

// alertsPage renders the list of rules.
func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	rules, err := s.Alerts.List(r.Context(), v.account)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	data := map[string]any{"Rules": rules, "Templates": alert.Templates}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "alerts", data)
}

func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	s.alertsPage(w, r, v, http.StatusOK, nil)
}

// rulePage renders the form of a new rule (rule nil) or of rule id, with
// its history.
func (s *Server) rulePage(w http.ResponseWriter, r *http.Request, v *visit, status int, id string, f alertsForm, extra map[string]any) {
	data := map[string]any{"Form": f, "ID": id, "GroupBys": []string{"actor", "ip", "source"}, "ErrorFields": map[string]bool{}}
	if id != "" {
		h, err := s.Alerts.History(r.Context(), v.account, id, 50)
		if err != nil {
			s.serverError(w, r, v, err)
			return
		}
		data["History"] = h
	}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "alert_rule", data)
}

func (s *Server) handleNewAlertRule(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	f := ruleFormOf(nil)
	if name := r.URL.Query().Get("template"); name != "" {
		t, ok := alert.TemplateNamed(name)
		if !ok {
			s.renderError(w, r, v, http.StatusNotFound, "Not found", "There is no alert template of that name.")
			return
		}
		f = ruleFormOfTemplate(t)
	}
	s.rulePage(w, r, v, http.StatusOK, "", f, nil)
}

func (s *Server) handleCreateAlertRule(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	f, in := readForm(r)
	rule, err := s.Alerts.Create(r.Context(), v.account, in, v.who(r))
	if err != nil {
		s.ruleRefused(w, r, v, "", f, err)
		return
	}
	s.rulePage(w, r, v, http.StatusOK, rule.ID, ruleFormOf(rule), map[string]any{
		"Notice": "Alert rule " + rule.Name + " was created. The change was recorded.", "Secrets": generatedSecrets(rule)})
}

// generatedSecrets lists the webhook secrets Stele made for this answer.
func generatedSecrets(r *alert.Rule) []notify.Destination {
	var out []notify.Destination
	for _, d := range r.Destinations {
		if d.Secret != "" {
			out = append(out, d)
		}
	}
	return out
}

// ruleRefused shows the form again as typed, with the service's message
// and the fields it names marked.
func (s *Server) ruleRefused(w http.ResponseWriter, r *http.Request, v *visit, id string, f alertsForm, err error) {
	if stele.ErrorCode(err) != stele.EINVALID {
		s.serverError(w, r, v, err)
		return
	}
	fields := map[string]bool{}
	var msgs []string
	if e, ok := err.(*stele.Error); ok {
		for _, d := range e.Details {
			fields[strings.SplitN(d.Field, "[", 2)[0]] = true
			msgs = append(msgs, d.Message)
		}
	}
	if len(msgs) == 0 {
		msgs = []string{stele.ErrorMessage(err)}
	}
	s.rulePage(w, r, v, http.StatusBadRequest, id, f, map[string]any{"Errors": msgs, "ErrorFields": fields})
}

func (s *Server) handleAlertRule(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	rule, err := s.Alerts.Get(r.Context(), v.account, r.PathValue("id"))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.rulePage(w, r, v, http.StatusOK, rule.ID, ruleFormOf(rule), nil)
}

func (s *Server) handleUpdateAlertRule(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	id := r.PathValue("id")
	f, in := readForm(r)
	rule, err := s.Alerts.Update(r.Context(), v.account, id, in, v.who(r))
	if err != nil {
		s.ruleRefused(w, r, v, id, f, err)
		return
	}
	s.rulePage(w, r, v, http.StatusOK, rule.ID, ruleFormOf(rule), map[string]any{
		"Notice": "Alert rule " + rule.Name + " was saved. The change was recorded.", "Secrets": generatedSecrets(rule)})
}

func (s *Server) handleToggleAlertRule(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	on := r.PostFormValue("enabled") == "on"
	rule, err := s.Alerts.SetEnabled(r.Context(), v.account, r.PathValue("id"), on, v.who(r))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	state := "off"
	if rule.Enabled {
		state = "on"
	}
	s.alertsPage(w, r, v, http.StatusOK, map[string]any{"Notice": "Alert rule " + rule.Name + " is " + state + ". The change was recorded."})
}

func (s *Server) handleTestAlertRule(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	id := r.PathValue("id")
	results, err := s.Alerts.Test(context.WithoutCancel(r.Context()), v.account, id, v.who(r))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	rule, err := s.Alerts.Get(r.Context(), v.account, id)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.rulePage(w, r, v, http.StatusOK, id, ruleFormOf(rule), map[string]any{"TestResults": results})
}

func (s *Server) handleDeleteAlertRule(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.alertsAvailable(w, r, v) {
		return
	}
	id := r.PathValue("id")
	rule, err := s.Alerts.Get(r.Context(), v.account, id)
	if err == nil {
		err = s.Alerts.Delete(r.Context(), v.account, id, v.who(r))
	}
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.alertsPage(w, r, v, http.StatusOK, map[string]any{"Notice": "Alert rule " + rule.Name + " was deleted. The change was recorded."})
}
