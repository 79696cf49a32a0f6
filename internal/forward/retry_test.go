package forward

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
)

func TestPermanentErrorsAreRefusalsNoRetryChanges(t *testing.T) {
	guard := CheckAddr(netip.MustParseAddr("169.254.169.254"))
	if guard == nil {
		t.Fatal("the metadata address passed the guard")
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 401}), true},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 403}), true},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 404}), true},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 400}), true},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 408}), false},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 429}), false},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 500}), false},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 503}), false},
		{fmt.Errorf("https x: %w", &StatusError{StatusCode: 302}), false},
		{fmt.Errorf("syslog x: connect: %w", &net.OpError{Op: "dial", Err: guard}), true},
		{errors.New("connection refused"), false},
	} {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("Permanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if CheckAddr(netip.MustParseAddr("::ffff:169.254.1.1")) == nil || CheckAddr(netip.MustParseAddr("10.1.2.3")) != nil {
		t.Error("CheckAddr refuses the wrong addresses")
	}
}
