//go:build race

package ingest

// raceEnabled reports whether the race detector is on: it changes how
// often some code allocates, so allocation counts are not checked then.
const raceEnabled = true
