package consumer

import (
	"log/slog"
	"testing"
	"time"
)

// kafka-go takes a member at the bounds (MaxTimeout, MaxHandleTimeout), and refuses one past
// them: the settings check against the bounds, so a value it would refuse is named by its
// variable before a member is made.
func TestBounds_AreWhatKafkaGoTakes(t *testing.T) {
	member := func(session, handle time.Duration) error {
		g := New(Config{Brokers: []string{"127.0.0.1:1"}, GroupID: "g", Topic: "t", BatchSize: 1,
			SessionTimeout: session, HandleTimeout: handle}, nil)
		cfg := g.groupConfig(slog.New(slog.DiscardHandler))
		return cfg.Validate()
	}
	if err := member(MaxTimeout, MaxHandleTimeout); err != nil {
		t.Errorf("at the bounds: %v", err)
	}
	if err := member(MaxTimeout+time.Millisecond, time.Second); err == nil {
		t.Error("a session timeout past MaxTimeout: taken, want it refused")
	}
	if err := member(time.Minute, MaxHandleTimeout+time.Millisecond); err == nil {
		t.Error("a handle timeout past MaxHandleTimeout: taken, want it refused")
	}
}
