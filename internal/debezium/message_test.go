package debezium

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// The heartbeat's message as the real connector writes it, in both of JsonConverter's forms,
// gives the time its content says; whatever else the topic could hold gives none.
func TestCapturedAt_ReadsTheHeartbeatMessageOfTheRealConnector(t *testing.T) {
	event := string(fixture(t, "events/message/heartbeat.json"))
	want := time.Unix(1796694778, 968713000)
	withContent := func(content string) string {
		return strings.Replace(event, "MTc5NjY5NDc3OC45Njg3MTM=", base64.StdEncoding.EncodeToString([]byte(content)), 1)
	}
	for _, tt := range []struct {
		name, value string
		want        time.Time
	}{
		{"schemas disabled", event, want},
		{"schemas enabled", `{"schema":{"type":"struct","fields":[]},"payload":` + event + `}`, want},
		{"now()::text, UTC", withContent("2026-12-08 01:52:58.968713+00"), time.Date(2026, 12, 8, 1, 52, 58, 968713000, time.UTC)},
		{"now()::text, a zone of minutes", withContent("2026-12-08 07:22:58.968713+05:30"), time.Date(2026, 12, 8, 1, 52, 58, 968713000, time.UTC)},
		{"whole seconds", withContent("1796694778"), time.Unix(1796694778, 0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CapturedAt([]byte(tt.value))
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("CapturedAt = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	// Not a message at all: the caller may go by the record's time (Debezium's heartbeat
	// topic).
	for _, tt := range []struct{ name, value string }{
		{"a Debezium heartbeat record", `{"ts_ms":1796694778968}`},
		{"a change of a row", string(fixture(t, "events/datastore-signal/create-eeg.json"))},
		{"not JSON", `{"op":"m"`},
		{"null", `null`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := CapturedAt([]byte(tt.value)); !errors.Is(err, ErrNotAMessage) {
				t.Errorf("CapturedAt = %v, %v; want ErrNotAMessage", got, err)
			}
		})
	}
	// A message, but not a heartbeat it can read: an error of its own, which the caller must
	// not take for a record of the heartbeat topic.
	for _, tt := range []struct{ name, value, want string }{
		{"another prefix", strings.Replace(event, `"prefix":"heartbeat"`, `"prefix":"audit"`, 1), `a message of prefix "audit"`},
		{"content not a time", withContent("tomorrow"), `content "tomorrow" is neither`},
		{"more than nanoseconds", withContent("1796694778.9687130001"), "is neither"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CapturedAt([]byte(tt.value))
			if err == nil || errors.Is(err, ErrNotAMessage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CapturedAt = %v, %v; want an error saying %q", got, err, tt.want)
			}
		})
	}
}
