//go:build !unix

package client

import "os"

// lockSpool is not enforced on this platform: one directory must still
// belong to one Client at a time.
func lockSpool(dir string) (*os.File, error) { return nil, nil }
