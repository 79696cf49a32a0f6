package console_test

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// unsafeMarkup returns what in page would run code: a script element other
// than the console's own, an on* attribute, a style attribute, or a URL
// attribute with the javascript: scheme. html/template escapes every < in
// text and every quote in attribute values, so each < left in the page
// starts one of the template's own tags: what an event holds can only
// appear here if that escaping failed.
func unsafeMarkup(page string) []string {
	var found []string
	for i := strings.IndexByte(page, '<'); i >= 0; {
		end := strings.IndexByte(page[i:], '>')
		if end < 0 {
			return append(found, fmt.Sprintf("unclosed tag at %d", i))
		}
		tag := page[i+1 : i+end]
		page = page[i+end+1:]
		i = strings.IndexByte(page, '<')
		if strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "/") {
			continue
		}
		name, attrs := cutName(tag)
		for _, a := range attributes(attrs) {
			v := strings.ToLower(strings.TrimSpace(html.UnescapeString(a[1])))
			switch {
			case strings.HasPrefix(a[0], "on"), a[0] == "style":
				found = append(found, fmt.Sprintf("<%s %s=%q>", name, a[0], a[1]))
			case urlAttributes[a[0]] && strings.HasPrefix(strings.Join(strings.Fields(v), ""), "javascript:"):
				found = append(found, fmt.Sprintf("<%s %s=%q>", name, a[0], a[1]))
			}
		}
		if name == "script" && !strings.Contains(attrs, `src="/static/console.js"`) {
			found = append(found, "<"+tag+">")
		}
		if name == "iframe" || name == "object" || name == "embed" || name == "base" {
			found = append(found, "<"+tag+">")
		}
	}
	return found
}

// urlAttributes are the attributes whose value a browser follows or loads.
var urlAttributes = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "xlink:href": true,
	"data": true, "poster": true, "background": true, "cite": true, "srcset": true, "ping": true}

// templateMarkup is what the console's templates write: the tag and
// attribute names they use, and their text, read from templates/.
var templateMarkup = sync.OnceValues(func() (map[string]bool, string) {
	names := map[string]bool{}
	var text strings.Builder
	files, _ := filepath.Glob("templates/*.html")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		text.Write(b)
		for _, m := range regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>`).FindAllStringSubmatch(string(b), -1) {
			names["<"+strings.ToLower(m[1])] = true
			for _, a := range attributes(m[2]) {
				names[a[0]] = true
			}
		}
	}
	if len(names) < 20 {
		panic("templates/*.html not found: run the tests in internal/console")
	}
	return names, text.String()
})

// foreignMarkup returns the tags and attributes of page that no template
// writes (so they came from data that was not escaped), and those of strs
// that hold a tag and appear in page verbatim though no template holds
// them.
func foreignMarkup(page string, strs []string) []string {
	names, text := templateMarkup()
	var found []string
	for _, m := range regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>`).FindAllStringSubmatch(page, -1) {
		if !names["<"+strings.ToLower(m[1])] {
			found = append(found, m[0])
		}
		for _, a := range attributes(m[2]) {
			if !names[a[0]] {
				found = append(found, fmt.Sprintf("<%s %s>", m[1], a[0]))
			}
		}
	}
	for _, s := range strs {
		if startsTag.MatchString(s) && strings.Contains(page, s) && !strings.Contains(text, s) {
			found = append(found, s)
		}
	}
	return found
}

var startsTag = regexp.MustCompile(`<[a-zA-Z/!?]`)

func cutName(tag string) (string, string) {
	i := strings.IndexAny(tag, " \t\r\n/")
	if i < 0 {
		return strings.ToLower(tag), ""
	}
	return strings.ToLower(tag[:i]), tag[i:]
}

// attributes splits a tag's attributes into names (lower case) and values.
func attributes(s string) [][2]string {
	var out [][2]string
	for {
		s = strings.TrimLeft(s, " \t\r\n/")
		if s == "" {
			return out
		}
		i := strings.IndexAny(s, " \t\r\n=/")
		if i < 0 {
			return append(out, [2]string{strings.ToLower(s), ""})
		}
		name := strings.ToLower(s[:i])
		s = strings.TrimLeft(s[i:], " \t\r\n")
		if !strings.HasPrefix(s, "=") {
			out = append(out, [2]string{name, ""})
			continue
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		var val string
		switch {
		case strings.HasPrefix(s, `"`), strings.HasPrefix(s, "'"):
			j := strings.IndexByte(s[1:], s[0])
			if j < 0 {
				return append(out, [2]string{name, s})
			}
			val, s = s[1:j+1], s[j+2:]
		default:
			j := strings.IndexAny(s, " \t\r\n")
			if j < 0 {
				j = len(s)
			}
			val, s = s[:j], s[j:]
		}
		out = append(out, [2]string{name, val})
	}
}

// TestForeignMarkupFindsWhatNoTemplateWrites holds the checker itself to
// account.
func TestForeignMarkupFindsWhatNoTemplateWrites(t *testing.T) {
	for _, tc := range []struct {
		page string
		strs []string
		want int
	}{
		{`<td class="mono">&lt;b&gt;x&lt;/b&gt;</td>`, []string{"<b>x</b>"}, 0},
		{`<td class="mono"><b>x</b></td>`, []string{"<b>x</b>"}, 2}, // the tag, and the string
		{`<td class="mono" zzz="1">y</td>`, nil, 1},
		{`<td class="mono">x</td>`, []string{`<td class="mono">`}, 0}, // the template's own
		{`<marquee>`, nil, 1},
	} {
		if got := foreignMarkup(tc.page, tc.strs); len(got) != tc.want {
			t.Errorf("%s: found %q, want %d", tc.page, got, tc.want)
		}
	}
}

// TestUnsafeMarkupFindsWhatWouldRun holds the checker itself to account.
func TestUnsafeMarkupFindsWhatWouldRun(t *testing.T) {
	for page, want := range map[string]int{
		`<p>&lt;script&gt;alert(1)&lt;/script&gt; onerror=x javascript:y</p>`:    0,
		`<script src="/static/console.js" defer></script><a href="/x?q=a">x</a>`: 0,
		`<td title="&#34; onmouseover=&#34;x">`:                                  0,
		`<script>alert(1)</script>`:                                              1,
		`<img src=x onerror=alert(2)>`:                                           1,
		`<a href=" JavaScript:alert(1)">x</a>`:                                   1,
		`<a href="&#106;avascript:alert(1)">x</a>`:                               1,
		`<div style="x" ONCLICK='y'>`:                                            2,
		`<iframe src="/x">`:                                                      1,
	} {
		if got := unsafeMarkup(page); len(got) != want {
			t.Errorf("%s: found %q, want %d", page, got, want)
		}
	}
}
