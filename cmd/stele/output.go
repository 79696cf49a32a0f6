package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// exportOutput is where an export goes: a file written whole or not at
// all (--output), or standard output, to which nothing is written until
// the export has produced its first block of rows, so that an export that
// fails at once (a bad key, a bad query, a server that refuses) leaves
// nothing behind.
type exportOutput struct {
	path string // "" for out
	out  io.Writer
	tmp  *os.File // the file being written, renamed to path on success
	dev  *os.File // --output names a device or a pipe: written through, as out
	held bytes.Buffer
	live bool // held has been written through: writes go straight out
}

// holdBytes is how much standard output holds back before it starts
// writing: the header and the first rows of any export.
const holdBytes = 64 << 10

func openExportOutput(path string, out io.Writer) (*exportOutput, error) {
	o := &exportOutput{path: path, out: out}
	if path == "" || path == "-" {
		o.path = ""
		return o, nil
	}
	// A device or a pipe (/dev/null, /dev/stdout, a FIFO) is written to as
	// standard output is: renaming a file over it would replace it.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, fmt.Errorf("--output: %s is a directory; name a file", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("--output: %w", err)
		}
		o.path, o.out, o.dev = "", f, f
		return o, nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("--output: %w", err)
	}
	o.tmp, o.live = f, true
	return o, nil
}

func (o *exportOutput) Write(p []byte) (int, error) {
	if o.tmp != nil {
		return o.tmp.Write(p)
	}
	if o.live {
		return o.out.Write(p)
	}
	o.held.Write(p)
	if o.held.Len() >= holdBytes {
		o.live = true
		if _, err := o.out.Write(o.held.Bytes()); err != nil {
			return 0, err
		}
		o.held.Reset()
	}
	return len(p), nil
}

// finish completes the output after the export ended with err: on success
// the file takes its name (synced first) or what standard output held is
// written; on failure the file is removed and held bytes are dropped.
func (o *exportOutput) finish(err error) error {
	if o.tmp != nil {
		name := o.tmp.Name()
		if err == nil {
			err = o.tmp.Sync()
		}
		if cerr := o.tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(name, o.path)
		}
		if err != nil {
			os.Remove(name)
		}
		return err
	}
	if err == nil && !o.live {
		_, err = o.out.Write(o.held.Bytes())
	}
	if o.dev != nil {
		if cerr := o.dev.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
