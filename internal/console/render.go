package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

var funcs = template.FuncMap{
	"utc":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":       func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"ref":       refText,
	"hasPrefix": strings.HasPrefix,
	"join":      strings.Join,
	"add":       func(a, b int) int { return a + b },
	"comma":     comma,
	"div2":      func(n int) int { return n / 2 },
	"stateCSS":  stateClass,
}

// parsePages parses the layout with each page once, at start.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// navItem is an entry of the Administration menu.
type navItem struct {
	Href, Label string
	Current     bool
}

// render writes a page inside the layout. v is nil on signed-out pages.
func (s *Server) render(w http.ResponseWriter, r *http.Request, v *visit, page string, data map[string]any) {
	t, ok := s.pages[page]
	if !ok {
		s.Logger.Error("no such template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Page"] = page
	if v != nil {
		data["User"] = v.user
		data["Account"] = v.account
		data["CSRF"] = v.csrf
		data["Nav"] = s.nav(r, v)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.Logger.Error("render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func (s *Server) nav(r *http.Request, v *visit) []navItem {
	items := []navItem{{Href: "/admin/audit-logs", Label: "Audit Logs"}}
	if v.can(stele.PermUsersManage) {
		items = append(items, navItem{Href: "/admin/users", Label: "Users"})
	}
	if v.can(stele.PermKeysManage) {
		items = append(items, navItem{Href: "/admin/api-keys", Label: "API keys"})
	}
	if v.can(stele.PermAuditLogsRead) {
		items = append(items, navItem{Href: "/admin/system", Label: "System"})
	}
	items = append(items, navItem{Href: "/admin/settings", Label: "Settings"})
	if v.user.Operator() {
		items = append(items, navItem{Href: "/admin/accounts", Label: "Accounts"})
	}
	for i := range items {
		items[i].Current = strings.HasPrefix(r.URL.Path, items[i].Href)
	}
	return items
}

// renderError renders the error page with a status.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, v *visit, status int, title, detail string) {
	w.WriteHeader(status)
	s.render(w, r, v, "error", map[string]any{"Title": title, "Detail": detail, "Status": status})
}

// serverError logs err and renders a page that says what the visitor can do;
// application errors show their message, internal ones nothing of their detail.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	code := stele.ErrorCode(err)
	switch code {
	case stele.ENOTFOUND:
		s.renderError(w, r, v, http.StatusNotFound, "Not found", stele.ErrorMessage(err))
	case stele.EINVALID:
		s.renderError(w, r, v, http.StatusBadRequest, "That request is not valid", stele.ErrorMessage(err))
	case stele.EFORBIDDEN:
		s.renderError(w, r, v, http.StatusForbidden, "Not allowed", stele.ErrorMessage(err))
	case stele.EUNAVAILABLE:
		s.renderError(w, r, v, http.StatusServiceUnavailable, "Busy", "Stele is busy; try again in a moment.")
	case stele.EGONE:
		s.renderError(w, r, v, http.StatusGone, "Gone for good", stele.ErrorMessage(err))
	default:
		s.Logger.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.renderError(w, r, v, http.StatusInternalServerError, "Something went wrong",
			"The error was logged. Try again; if it persists, ask your operator to look at the server log.")
	}
}

func refText(r *stele.Ref) string {
	switch {
	case r.IsZero():
		return ""
	case r.Email != "":
		return r.Email
	case r.Name != "":
		return r.Name
	default:
		return r.ID
	}
}

// comma writes n with a comma between groups of three digits. It works on
// the magnitude as a uint64, in one loop: math.MinInt64 is its own
// negation, so a version that recursed on -n never ended.
func comma(n int64) string {
	mag := uint64(n)
	if n < 0 {
		mag = -mag
	}
	digits := strconv.FormatUint(mag, 10)
	b := make([]byte, 0, len(digits)+len(digits)/3+1)
	if n < 0 {
		b = append(b, '-')
	}
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, digits[i])
	}
	return string(b)
}
