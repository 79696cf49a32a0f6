package lazyfs

import (
	"errors"
	"os"
	"testing"
)

// MountTest mounts a lazy file system on a temporary directory for the
// test and unmounts it when the test ends. The test skips where there is no
// /dev/fuse, unless STELE_REQUIRE_FUSE is set (as CI sets it), when it
// fails instead.
func MountTest(t testing.TB) *FS {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); errors.Is(err, os.ErrNotExist) {
		if os.Getenv("STELE_REQUIRE_FUSE") != "" {
			t.Fatal("no /dev/fuse, and STELE_REQUIRE_FUSE is set")
		}
		t.Skip("no /dev/fuse: the power-loss tests need FUSE")
	}
	f, err := Mount(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return f
}
