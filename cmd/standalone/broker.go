package main

import (
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// topicPartitions matches the local stack and the cluster: 3 partitions per topic.
const topicPartitions = 3

// startBroker runs an embedded Kafka-protocol broker (one node) on ln, a listener already
// open on a loopback address, with topics created. Clients reach it over TCP like any broker:
// nothing in the services knows it is embedded. Close stops it and closes ln.
func startBroker(ln net.Listener, topics ...string) (*kfake.Cluster, error) {
	handed := false
	return kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(topicPartitions, topics...),
		kfake.DefaultNumPartitions(topicPartitions),
		kfake.AllowAutoTopicCreation(),
		// The listener is opened beforehand so a busy port is reported by its variable.
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			if handed {
				return nil, errors.New("embedded broker: only one node is configured")
			}
			handed = true
			return ln, nil
		}),
	)
}
