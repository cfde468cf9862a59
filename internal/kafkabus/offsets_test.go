package kafkabus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkatest"
)

// refuseListOffsets has b answer the first n ListOffsets requests with code on every
// partition, as a broker just started, or a partition between leaders, answers them. It
// returns how many it has answered so.
func refuseListOffsets(b *kafkatest.Broker, n int32, code int16) *atomic.Int32 {
	var refused atomic.Int32
	b.Cluster.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster.KeepControl()
		if refused.Load() >= n {
			return nil, nil, false
		}
		refused.Add(1)
		r := req.(*kmsg.ListOffsetsRequest)
		res := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
			}
			res.Topics = append(res.Topics, rt)
		}
		return res, nil, true
	})
	return &refused
}

func TestEndOffsets_AsksAgainWhileAPartitionHasNoLeaderYet(t *testing.T) {
	b := kafkatest.Start(t, 2, "signals")
	b.Produce("signals", 0, []byte("a"), []byte("b"))
	b.Produce("signals", 1, []byte("c"))
	refused := refuseListOffsets(b, 3, kerr.NotLeaderForPartition.Code)

	ends, err := kafkabus.EndOffsets(t.Context(), b.Client, "signals")
	if err != nil {
		t.Fatal(err)
	}
	if got := refused.Load(); got != 3 {
		t.Errorf("%d requests refused before the answer, want 3", got)
	}
	if ends[0] != 2 || ends[1] != 1 || len(ends) != 2 {
		t.Errorf("end offsets %v, want map[0:2 1:1]", ends)
	}
}

func TestEndOffsets_ReturnsTheRetriableErrorWhenItsContextEndsFirst(t *testing.T) {
	b := kafkatest.Start(t, 1, "signals")
	refuseListOffsets(b, 1<<30, kerr.NotLeaderForPartition.Code)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := kafkabus.EndOffsets(ctx, b.Client, "signals")
	if !errors.Is(err, kafka.NotLeaderForPartition) {
		t.Errorf("EndOffsets = %v, want the broker's NotLeaderForPartition", err)
	}
}

func TestEndOffsets_DoesNotRetryAnErrorThatIsNotRetriable(t *testing.T) {
	b := kafkatest.Start(t, 1, "signals")
	refused := refuseListOffsets(b, 1<<30, kerr.TopicAuthorizationFailed.Code)

	_, err := kafkabus.EndOffsets(t.Context(), b.Client, "signals")
	if !errors.Is(err, kafka.TopicAuthorizationFailed) {
		t.Errorf("EndOffsets = %v, want the broker's TopicAuthorizationFailed", err)
	}
	if got := refused.Load(); got != 1 {
		t.Errorf("asked %d times, want once", got)
	}
}
