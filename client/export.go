package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Export formats the API serves (the format parameter of Export).
const (
	FormatCSV    = "csv"    // for spreadsheets
	FormatJSONL  = "jsonl"  // JSON Lines, one event per line
	FormatOCSF   = "ocsf"   // JSON Lines of OCSF events, for SIEMs
	FormatBundle = "bundle" // events with their checkpoint and inclusion proofs, to verify offline
)

// Export streams the events that match q ("" for all) to w in format (""
// for JSON Lines) and returns the bytes written. It needs a key with the
// events:export scope; the server records each export in the account's log.
// Once the server has started to send, a failure on its side ends the
// stream early, which shows here as an error after part of the export.
func (c *Client) Export(ctx context.Context, w io.Writer, q, format string) (int64, error) {
	v := url.Values{}
	if format != "" {
		v.Set("format", format)
	}
	if q != "" {
		v.Set("q", q)
	}
	path := "/v1/export"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET %s: after %d bytes: %w", endpoint(path), n, err)
	}
	return n, nil
}
