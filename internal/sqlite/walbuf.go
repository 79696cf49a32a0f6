//go:build linux && (amd64 || arm64) && cgo && !stele_nowalbuf

package sqlite

/*
#include <stdlib.h>
#include "walbuf.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// walBufVFS is the VFS of the writer's connections (walbuf.c) on the
// platforms it is written and tested for (walbuf_other.go elsewhere): the default
// VFS, with each WAL file's consecutive writes gathered into one and the WAL
// synced with fdatasync. A commit of n pages costs one write system call per
// walBufSize bytes instead of 2n, and its sync no journal commit for the
// file's modification time. The unix VFS writes at
// most 128 KiB in one call (it masks larger sizes), hence 120 KiB: 29
// frames of 4 KiB pages.
const (
	walBufVFS  = "stele-walbuf"
	walBufSize = 120 << 10
)

var (
	walBufOnce sync.Once
	walBufErr  error
)

// registerWALBuf registers walBufVFS once; the connections that name it in
// their DSN fail to open if it could not be.
func registerWALBuf() error {
	walBufOnce.Do(func() {
		name := C.CString(walBufVFS) // kept for the life of the process, as SQLite holds it
		if rc := C.walbuf_register(name, walBufSize); rc != 0 {
			C.free(unsafe.Pointer(name))
			walBufErr = fmt.Errorf("sqlite: register the %s VFS: code %d", walBufVFS, int(rc))
		}
	})
	return walBufErr
}

// walBufCounts returns the WAL writes SQLite has asked of walBufVFS, the
// writes it made and the fdatasyncs, for tests.
func walBufCounts() (asked, made, datasyncs int64) {
	var a, m, d C.longlong
	C.walbuf_counts(&a, &m, &d)
	return int64(a), int64(m), int64(d)
}
