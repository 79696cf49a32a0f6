package users_test

import (
	"strings"
	"testing"

	"github.com/stele-audit/stele/internal/users"
)

func TestPasswordHashIsArgon2idAndChecks(t *testing.T) {
	h := users.HashPassword("hunter2 hunter2")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %s", h)
	}
	if !users.CheckPassword(h, "hunter2 hunter2") || users.CheckPassword(h, "hunter2 hunter3") || users.CheckPassword("garbage", "x") {
		t.Fatal("check")
	}
}

// BenchmarkPasswordHash is what one sign-in pays for checking a password:
// one argon2id hash with the console's parameters.
func BenchmarkPasswordHash(b *testing.B) {
	hash := users.HashPassword("correct horse battery staple")
	for b.Loop() {
		if !users.CheckPassword(hash, "correct horse battery staple") {
			b.Fatal("the password does not check")
		}
	}
}
