package app

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The watch's time of a record: a heartbeat message's database time, whatever its record's
// (which is when Debezium wrote it, fresh while it streams a backlog); a record of Debezium's
// heartbeat topic by its own time; and no time at all from a message it cannot read or that
// says a time far past its record's, which would hold the newest heartbeat there for good.
func TestHeartbeatTime_IsTheMessagesDatabaseTimeAndNeverTheRecordsForAMessage(t *testing.T) {
	written := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	message := func(prefix, content string) []byte {
		return fmt.Appendf(nil, `{"op":"m","ts_ms":1,"source":{"lsn":1},"message":{"prefix":%q,"content":%q}}`,
			prefix, base64.StdEncoding.EncodeToString([]byte(content)))
	}
	epoch := func(at time.Time) string { return fmt.Sprintf("%d.%06d", at.Unix(), at.Nanosecond()/1000) }
	hourAgo := written.Add(-time.Hour)
	for _, tt := range []struct {
		name  string
		value []byte
		want  time.Time
		err   string
	}{
		{"a heartbeat message an hour old, written now", message("heartbeat", epoch(hourAgo)), hourAgo, ""},
		{"a database clock a little ahead", message("heartbeat", epoch(written.Add(5*time.Second))), written, ""},
		{"Debezium's heartbeat record", []byte(`{"ts_ms":1796695200000}`), written, ""},
		{"milliseconds taken for seconds", message("heartbeat", fmt.Sprint(hourAgo.UnixMilli())), time.Time{}, "after its record was written"},
		{"another prefix", message("audit", epoch(hourAgo)), time.Time{}, `a message of prefix "audit"`},
		{"content not a time", message("heartbeat", "now"), time.Time{}, "neither seconds since the epoch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := heartbeatTime(kafka.Message{Topic: "postgres.message", Value: tt.value, Time: written})
			switch {
			case tt.err == "" && (err != nil || !got.Equal(tt.want)):
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("got %v, %v; want an error saying %q", got, err, tt.err)
			}
		})
	}
}
