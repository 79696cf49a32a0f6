package ingest

import (
	"runtime/debug"
	"testing"
)

// TestTuneGCKeepsTheOperatorsGOGC: without GOGC in the environment the
// collector's target becomes GCPercent; with it, it stays what it was.
func TestTuneGCKeepsTheOperatorsGOGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	t.Setenv("GOGC", "150") // restored after the test, set or not
	TuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, TuneGC changed the target to %d", got)
	}
	t.Setenv("GOGC", "") // as Go reads it: unset
	TuneGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("without GOGC, the target is %d, want %d", got, GCPercent)
	}
}
