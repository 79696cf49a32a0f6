//go:build unix

package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockSpool takes the spool directory for this process: an exclusive
// flock on its lock file, which the kernel lets go when the process ends,
// however it ends. A second Client on the same directory, in this process
// or another, is refused rather than let two writers interleave segments
// and send each other's events twice.
func lockSpool(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("stele client: spool: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("stele client: spool %s is in use by another Client (one directory belongs to one Client at a time)", dir)
		}
		return nil, fmt.Errorf("stele client: spool: lock %s: %w", dir, err)
	}
	return f, nil
}
