package console_test

import (
	"fmt"
	"html"
	"strings"
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
			case strings.HasPrefix(strings.Join(strings.Fields(v), ""), "javascript:"):
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
