package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/beacon/eventdispatch/internal/kafkabus"
)

// Connect's status (GET .../status) is what its workers last wrote to the status topic, so it
// can say RUNNING of a task that runs nowhere: after a broker stall a worker may give up its
// assignment and wait for a scheduled rebalance, and nothing rewrites the status meanwhile.
// Debezium's heartbeat says what the task is really doing: a running task writes a record to
// the heartbeat topic every heartbeat.interval.ms (debezium-connector.json), so a newest
// record older than a few intervals means that nothing is captured.

// heartbeatPrefix is Debezium's default topic.heartbeat.prefix: the heartbeat topic is this,
// a dot, and the connector's topic.prefix.
const heartbeatPrefix = "__debezium-heartbeat"

// heartbeatsMissed is how many intervals without a heartbeat make a running task stalled.
const heartbeatsMissed = 3

// heartbeat is what the connector file says of Debezium's heartbeat: its topic and how often
// it is written; a zero interval means the connector has none.
type heartbeat struct {
	topic    string
	interval time.Duration
}

// heartbeatOf reads the heartbeat's topic and interval from the connector's config.
func heartbeatOf(config map[string]json.RawMessage) heartbeat {
	prefix, interval := configValue(config["topic.prefix"]), configValue(config["heartbeat.interval.ms"])
	ms, err := strconv.Atoi(interval)
	if err != nil || ms <= 0 || prefix == "" {
		return heartbeat{}
	}
	return heartbeat{topic: heartbeatPrefix + "." + prefix, interval: time.Duration(ms) * time.Millisecond}
}

// errNoHeartbeat: the heartbeat topic does not exist yet or has no record (the task has not
// written its first).
var errNoHeartbeat = errors.New("no heartbeat yet")

// lastHeartbeat returns the time of the newest record of topic (the time the producer gave
// it), or errNoHeartbeat.
func lastHeartbeat(ctx context.Context, broker, topic string) (time.Time, error) {
	at, err := kafkabus.LastRecordTime(ctx, []string{broker}, topic)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the heartbeat topic: %w", err)
	}
	if at.IsZero() {
		return time.Time{}, errNoHeartbeat
	}
	return at, nil
}
