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

// walBufVFS is the VFS of the writer's connections (walbuf.c): the default
// VFS, with each WAL file's consecutive writes gathered into one. A commit
// of n pages costs one write system call per walBufSize bytes instead of
// 2n; the commit's fsync writes them out as before. The unix VFS writes at
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

// walBufCounts returns the WAL writes SQLite has asked of walBufVFS and the
// writes it made, for tests.
func walBufCounts() (asked, made int64) {
	var a, m C.longlong
	C.walbuf_counts(&a, &m)
	return int64(a), int64(m)
}
