package console

import (
	"encoding/base64"
	"runtime"
)

// hasher bounds how many password hashes run at once: each takes 19 MiB
// and a core for tens of milliseconds, so a burst of sign-ins must queue,
// not exhaust memory.
type hasher struct{ slots chan struct{} }

func newHasher() *hasher { return &hasher{slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))} }

func (h *hasher) acquire() func() {
	h.slots <- struct{}{}
	return func() { <-h.slots }
}

// dummyHash is checked against when a sign-in names no user, so that the
// answer takes as long as for a wrong password.
var dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c3RlbGVzdGVsZXN0ZWxl$" + base64.RawStdEncoding.EncodeToString(make([]byte, 32))
