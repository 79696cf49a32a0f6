//go:build !(linux && (amd64 || arm64) && cgo) || stele_nowalbuf

package sqlite

// walbuf.c is written for Linux on amd64 and arm64, where it is tested
// (fdatasync, ELF weak symbols, the layouts it declares): elsewhere, or
// when built with -tags stele_nowalbuf, the writer writes its WAL through
// SQLite's default VFS.
const walBufVFS = ""

func registerWALBuf() error { return nil }
