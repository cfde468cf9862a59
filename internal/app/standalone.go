package app

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/memstore"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/migrations"
)

// StartEmbeddedKafka starts standalone mode's Kafka-protocol broker (kfake, one node) on
// cfg.Addr, a loopback address, and returns the Bus for it. Clients reach it over TCP like any
// broker: nothing in the parts knows it is embedded. It stops at exit, after every part.
func (s *System) StartEmbeddedKafka(ctx context.Context, cfg EmbeddedKafka) (*kafkabus.Bus, net.Addr, error) {
	host, port, _ := net.SplitHostPort(cfg.Addr)
	if host == "localhost" {
		host = "127.0.0.1" // so the broker advertises the address it really listens on
	}
	ln, err := s.Listen(ctx, "the embedded Kafka broker (STANDALONE_KAFKA_ADDR)", net.JoinHostPort(host, port))
	if err != nil {
		return nil, nil, err
	}
	handed := false
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.Partitions),
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
	if err != nil {
		return nil, nil, fmt.Errorf("embedded Kafka broker: %w", err)
	}
	s.OnClose(cluster.Close)
	return kafkabus.New(kafkabus.Config{Brokers: []string{ln.Addr().String()}, Partitions: cfg.Partitions}), ln.Addr(), nil
}

// OpenStandaloneStore returns the dispatcher's state for standalone mode: in memory, or with
// url set in that Postgres, migrated first. It also returns how to describe it to a person.
func (s *System) OpenStandaloneStore(ctx context.Context, url string) (dispatch.StateStore, string, error) {
	if url == "" {
		return memstore.New(recording.DefaultRule()), "in memory, lost on exit (set DATABASE_URL for Postgres)", nil
	}
	if _, err := migrations.Up(ctx, url, s.Log); err != nil {
		return nil, "", fmt.Errorf("DATABASE_URL: migrate: %w", err)
	}
	store, err := s.OpenPostgres(ctx, url)
	if err != nil {
		return nil, "", err
	}
	return store, "Postgres (DATABASE_URL): dispatcher.processed_recording", nil
}
