package access

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// callTimeout reads a call's deadline as connect does: Connect's milliseconds, gRPC's digits
// and unit; anything else is no deadline.
func TestCallTimeout_ReadsConnectsAndGRPCsDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        time.Duration
		ok          bool
	}{
		{"Connect-Timeout-Ms", "1500", 1500 * time.Millisecond, true},
		{"Connect-Timeout-Ms", "0", 0, true},
		{"Connect-Timeout-Ms", "soon", 0, false},
		{"Connect-Timeout-Ms", "-5", 0, false},
		{"Grpc-Timeout", "250m", 250 * time.Millisecond, true},
		{"Grpc-Timeout", "2S", 2 * time.Second, true},
		{"Grpc-Timeout", "1H", time.Hour, true},
		{"Grpc-Timeout", "99999999H", math.MaxInt64, true},
		{"Grpc-Timeout", "5", 0, false},
		{"Grpc-Timeout", "5x", 0, false},
		{"Grpc-Timeout", "123456789S", 0, false}, // more than 8 digits
	} {
		h := http.Header{}
		h.Set(tc.name, tc.value)
		if got, ok := callTimeout(h); got != tc.want || ok != tc.ok {
			t.Errorf("%s: %s = %v, %t; want %v, %t", tc.name, tc.value, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := callTimeout(http.Header{}); ok {
		t.Error("no header: a deadline, want none")
	}
}
