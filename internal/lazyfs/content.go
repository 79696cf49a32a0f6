package lazyfs

import "maps"

const pageSize = 4096

// content is a file's data, as the program sees it (live) and as a power
// cut would leave it (durable). Pages not written since the last sync are
// shared by the two; a write copies a shared page first.
type content struct {
	size, durableSize int64
	pages, durable    map[int64][]byte // page index → pageSize bytes; absent pages read as zeros
	// dirty holds the pages changed since the last sync: written, or
	// dropped by a truncation. Exactly these pages are not shared.
	dirty map[int64]bool
}

func newContent() *content {
	return &content{pages: map[int64][]byte{}, durable: map[int64][]byte{}, dirty: map[int64]bool{}}
}

// unsynced reports the bytes of pages changed since the last sync, and
// whether the size has.
func (c *content) unsynced() (bytes int64, size bool) {
	return int64(len(c.dirty)) * pageSize, c.size != c.durableSize
}

func (c *content) read(dest []byte, off int64) int {
	if off >= c.size {
		return 0
	}
	n := int(min(int64(len(dest)), c.size-off))
	for done := 0; done < n; {
		idx, in := (off+int64(done))/pageSize, int((off+int64(done))%pageSize)
		k := min(n-done, pageSize-in)
		if p := c.pages[idx]; p != nil {
			copy(dest[done:done+k], p[in:in+k])
		} else {
			clear(dest[done : done+k])
		}
		done += k
	}
	return n
}

// page returns page idx for writing: the program's own copy.
func (c *content) page(idx int64) []byte {
	p := c.pages[idx]
	if !c.dirty[idx] {
		q := make([]byte, pageSize)
		copy(q, p) // a nil p leaves zeros
		p = q
		c.pages[idx] = p
		c.dirty[idx] = true
	}
	return p
}

func (c *content) write(data []byte, off int64) {
	for done := 0; done < len(data); {
		idx, in := (off+int64(done))/pageSize, int((off+int64(done))%pageSize)
		k := copy(c.page(idx)[in:], data[done:])
		done += k
	}
	c.size = max(c.size, off+int64(len(data)))
}

func (c *content) truncate(size int64) {
	if size < c.size {
		// Pages past the end go; the bytes past it in the last page are
		// zeroed, so that the file reads zeros there if it grows again.
		last := (size + pageSize - 1) / pageSize
		for idx := range c.pages {
			if idx >= last {
				delete(c.pages, idx)
				c.dirty[idx] = true
			}
		}
		if in := size % pageSize; in != 0 && c.pages[size/pageSize] != nil {
			clear(c.page(size / pageSize)[in:])
		}
		// Pages already dropped since the last sync are dirty; so are
		// the durable ones that the truncation removes.
		for idx := range c.durable {
			if idx >= last {
				c.dirty[idx] = true
			}
		}
	}
	c.size = size
}

// sync makes the live data durable.
func (c *content) sync() {
	for idx := range c.dirty {
		if p := c.pages[idx]; p != nil {
			c.durable[idx] = p
		} else {
			delete(c.durable, idx)
		}
	}
	clear(c.dirty)
	c.durableSize = c.size
}

// drop forgets what was not synced.
func (c *content) drop() {
	c.pages = maps.Clone(c.durable)
	clear(c.dirty)
	c.size = c.durableSize
}
