package ingest

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target for a process that serves
// ingest (GOGC): a collection once the heap has grown four times what the
// last one kept, against Go's default of once. Stele's live heap is a few
// megabytes while requests allocate fast, so at Go's default the
// collector ran about 70 times a second under load and set the p99 of a
// single-event request: 1.3 ms against 0.7 ms at 400, on the same
// machine (docs/PERFORMANCE.md). The heap between collections grows to
// about five times the live one, a few tens of megabytes.
const GCPercent = 400

// TuneGC sets GCPercent unless the environment sets GOGC, which the
// operator's choice then stays (an empty GOGC, which Go reads as its
// default, counts as unset). GOMEMLIMIT, if set, still caps the heap.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
