package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stele-audit/stele"
)

// apiClient is the small HTTP client of the ingest and query commands.
type apiClient struct {
	base string
	key  string
	http *http.Client
}

func newClient(c clientFlags) (*apiClient, error) {
	if c.key == "" {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "an API key is required: --key or STELE_KEY",
			Details: []stele.FieldError{{Field: "key", Rule: "required"}}}
	}
	if _, err := url.Parse(c.url); err != nil || !strings.HasPrefix(c.url, "http") {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "--url must be an http(s) URL", Details: []stele.FieldError{{Field: "url", Rule: "url"}}}
	}
	return &apiClient{base: strings.TrimRight(c.url, "/"), key: c.key, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// do sends a request and decodes a JSON answer into v, or the API's error.
func (c *apiClient) do(ctx context.Context, method, path string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code    stele.Code         `json:"code"`
				Message string             `json:"message"`
				Details []stele.FieldError `json:"details"`
			} `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code == "" {
			return fmt.Errorf("server answered %s", resp.Status)
		}
		return &stele.Error{Code: e.Error.Code, Message: e.Error.Message, Details: e.Error.Details}
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func runIngest(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("ingest", "ingest [--url U --key K] [--batch N] [FILE|-]   (JSON Lines, one event per line)")
	var cf clientFlags
	cf.register(fs)
	batchSize := fs.Int("batch", 500, "events per request (at most 1000)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *batchSize < 1 || *batchSize > stele.MaxBatchEvents {
		return &stele.Error{Code: stele.EINVALID, Message: "--batch must be from 1 to 1000", Details: []stele.FieldError{{Field: "batch", Rule: "range"}}}
	}
	c, err := newClient(cf)
	if err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	sent, err := ingestLines(ctx, c, in, *batchSize)
	fmt.Fprintf(out, "stored %d events\n", sent)
	return err
}

// ingestLines sends JSON Lines in batches bounded by count and bytes. An
// error names the line of the event the server rejected.
func ingestLines(ctx context.Context, c *apiClient, in io.Reader, batchSize int) (int, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), stele.MaxEventBytes+1024)
	var (
		body      bytes.Buffer
		lines     []int // line number of each event in the batch
		sent      int
		lineNo    int
		maxBody   = stele.MaxBodyBytes - 64
		flushErrs error
	)
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		body.WriteString("]}")
		var resp struct {
			Events []stele.Receipt `json:"events"`
		}
		if err := c.do(ctx, http.MethodPost, "/v1/events", body.Bytes(), &resp); err != nil {
			return withLines(err, lines)
		}
		sent += len(resp.Events)
		body.Reset()
		lines = lines[:0]
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(lines) > 0 && (len(lines) == batchSize || body.Len()+len(line)+3 > maxBody) {
			if flushErrs = flush(); flushErrs != nil {
				return sent, flushErrs
			}
		}
		if len(lines) == 0 {
			body.WriteString(`{"events":[`)
		} else {
			body.WriteByte(',')
		}
		body.Write(line)
		lines = append(lines, lineNo)
	}
	if err := sc.Err(); err != nil {
		return sent, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	return sent, flush()
}

// withLines rewrites batch indexes in an API error as input line numbers.
func withLines(err error, lines []int) error {
	var e *stele.Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	out.Details = make([]stele.FieldError, len(e.Details))
	for i, d := range e.Details {
		if d.Index >= 0 && d.Index < len(lines) {
			d.Field = "line " + strconv.Itoa(lines[d.Index]) + ": " + d.Field
		}
		out.Details[i] = d
	}
	return &out
}

func runQuery(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("query", "query [--url U --key K] [--limit N] [--all] [--json] 'QUERY'")
	var cf clientFlags
	cf.register(fs)
	limit := fs.Int("limit", 50, "events per page (at most 1000)")
	all := fs.Bool("all", false, "follow cursors to the last page")
	asJSON := fs.Bool("json", false, "print JSON Lines, one event per line")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := newClient(cf)
	if err != nil {
		return err
	}
	q := strings.Join(pos, " ")
	enc := json.NewEncoder(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "TIME\tACTION\tOUTCOME\tACTOR\tTARGET\tIP\tDESCRIPTION")
	}
	cursor := ""
	for {
		v := url.Values{"q": {q}, "limit": {strconv.Itoa(*limit)}}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		var page struct {
			Events     []stele.Event `json:"events"`
			NextCursor *string       `json:"next_cursor"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/events?"+v.Encode(), nil, &page); err != nil {
			return err
		}
		for i := range page.Events {
			e := &page.Events[i]
			if *asJSON {
				if err := enc.Encode(e); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Action, e.Outcome,
				refText(e.Actor, true), refText(e.Target, false), e.IP, truncate(e.Description, 80))
		}
		if page.NextCursor == nil || !*all {
			if !*asJSON && page.NextCursor != nil {
				tw.Flush()
				fmt.Fprintln(out, "(more: run with --all)")
			}
			break
		}
		cursor = *page.NextCursor
	}
	return tw.Flush()
}

func refText(r *stele.Ref, email bool) string {
	switch {
	case r == nil:
		return "-"
	case email && r.Email != "":
		return r.Email
	case r.Name != "":
		return r.Name
	default:
		return r.ID
	}
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
