package debezium

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HeartbeatPrefix is the prefix of the logical decoding messages that the connector's
// heartbeat.action.query writes into the WAL (pg_logical_emit_message), and that
// message.prefix.include.list lets through to topic <topic.prefix>.message.
const HeartbeatPrefix = "heartbeat"

// ErrNotAMessage is CapturedAt's error for a value that is not the change event of a logical
// decoding message at all (a Debezium heartbeat record, say).
var ErrNotAMessage = errors.New("debezium: not a logical decoding message")

// CapturedAt reads a Kafka message value of the connector's message topic: a change event of
// a logical decoding message (op "m", in either of JsonConverter's forms) whose prefix is
// HeartbeatPrefix, and returns the time its content gives, the database's clock when the
// message went into the WAL. It returns ErrNotAMessage for a value that is no such event, and
// another error for a message of another prefix, or whose content it cannot read.
//
// Such a message reaches Kafka only once capture has streamed the WAL up to it, so its time
// says how far capture has got: every change committed before it has been captured and
// handed to Kafka (written, unless Connect's producer still retries it, up to its
// delivery.timeout.ms). A Debezium heartbeat record (topic __debezium-heartbeat.<topic.prefix>)
// says only that capture runs: Debezium writes those while it still streams a backlog the
// replication slot kept.
//
// The content is what the query wrote: seconds since the epoch, as extract(epoch FROM
// now())::text gives them ("1796694778.968713"), or a timestamp with its zone in PostgreSQL's
// ISO output, as now()::text does ("2026-12-08 01:52:58.968713+00").
func CapturedAt(value []byte) (time.Time, error) {
	var ev struct {
		Op      string          `json:"op"`
		Payload json.RawMessage `json:"payload"`
		Message *struct {
			Prefix  string `json:"prefix"`
			Content []byte `json:"content"` // base64 in JSON, as JsonConverter writes bytes
		} `json:"message"`
	}
	if json.Unmarshal(value, &ev) != nil {
		return time.Time{}, ErrNotAMessage
	}
	if ev.Op == "" && len(ev.Payload) > 0 && ev.Payload[0] == '{' {
		return CapturedAt(ev.Payload) // schemas enabled: {"schema": …, "payload": <event>}
	}
	if ev.Op != "m" || ev.Message == nil {
		return time.Time{}, ErrNotAMessage
	}
	if ev.Message.Prefix != HeartbeatPrefix {
		return time.Time{}, fmt.Errorf("a message of prefix %q, not %q", ev.Message.Prefix, HeartbeatPrefix)
	}
	content := strings.TrimSpace(string(ev.Message.Content))
	at, ok := messageTime(content)
	if !ok {
		return time.Time{}, fmt.Errorf("a heartbeat message whose content %q is neither seconds since the epoch nor a timestamp with its zone", clip(content, 64))
	}
	return at, nil
}

// clip returns s cut to at most n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// messageTime parses a heartbeat message's content (CapturedAt).
func messageTime(s string) (time.Time, bool) {
	if whole, frac, _ := strings.Cut(s, "."); whole != "" {
		if sec, err := strconv.ParseInt(whole, 10, 64); err == nil {
			var ns int64
			if frac != "" {
				digits := (frac + "000000000")[:9]
				n, err := strconv.ParseInt(digits, 10, 64)
				if err != nil || len(frac) > 9 || strings.ContainsAny(frac, "+-") {
					return time.Time{}, false
				}
				ns = n
			}
			return time.Unix(sec, ns), true
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07:00:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
