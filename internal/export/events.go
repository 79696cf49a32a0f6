package export

import (
	"bufio"
	"context"
	"io"

	"github.com/stele-audit/stele"
)

// Source is where an export reads an account's events: search.Service.
type Source interface {
	// Encode hands the events matching q, encoded by enc, to out in order
	// (decrypting and encoding on several goroutines).
	Encode(ctx context.Context, account *stele.Account, q stele.Query,
		enc func(dst []byte, e *stele.Event) ([]byte, error), out func([]byte) error) (int64, error)
	// Each calls fn with the events matching q, in order.
	Each(ctx context.Context, account *stele.Account, q stele.Query, fn func(*stele.Event) error) (int64, error)
}

// Events writes the events of account matching q, newest first, to w in
// format f, and returns how many it wrote. The console, the API and the
// CLI export through it. Once bytes are out an error cannot take them
// back: w just ends, and the caller reports it and records the export.
func Events(ctx context.Context, w io.Writer, src Source, account *stele.Account, q stele.Query, f Format) (int64, error) {
	if f.Append != nil { // decrypted and encoded on every core
		return Stream(w, f, func(out func([]byte) error) (int64, error) {
			return src.Encode(ctx, account, q, f.Append, out)
		})
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	ew := f.New(bw)
	n, err := src.Each(ctx, account, q, ew.Write)
	if cerr := ew.Close(); err == nil {
		err = cerr
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	flush(w)
	return n, err
}
