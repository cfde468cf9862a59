package frontdoor

import (
	"strings"
	"testing"
	"time"
)

// A range that ends before it begins says where it begins, also when the caller gave no from
// (today, UTC): "before from (2026-12-06)" named a day the caller never gave.
func TestUsageRange_ABackwardRangeSaysWhereItBegins(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ from, to, want string }{
		{"", "2026-12-01", "to (2026-12-01) is before from (today, UTC, when not given: 2026-12-06)"},
		{"2026-12-03", "2026-12-01", "to (2026-12-01) is before from (2026-12-03)"},
	} {
		if _, _, err := usageRange(tc.from, tc.to, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("from %q to %q: %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
}
