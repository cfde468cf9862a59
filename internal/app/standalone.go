package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/memstore"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/internal/statedir"
	"github.com/beacon/eventdispatch/migrations"
)

// StartEmbeddedKafka starts standalone mode's Kafka-protocol broker (kfake, one node) on
// cfg.Addr, a loopback address, and returns the Bus for it, and where it keeps its data
// (empty: in memory). Clients reach it over TCP like any broker: nothing in the parts knows
// it is embedded. It stops at exit, after every part.
//
// With a database (databaseURL set), the conversations' transcript outlives the process, and
// so must the jobs it holds as queued: the broker keeps its topics and groups in a directory
// (cfg.Dir, else EmbeddedKafkaDir), and a restart answers the jobs the last run had not.
func (s *System) StartEmbeddedKafka(ctx context.Context, cfg EmbeddedKafka, databaseURL string) (*kafkabus.Bus, net.Addr, string, error) {
	host, port, _ := net.SplitHostPort(cfg.Addr)
	if host == "localhost" {
		host = "127.0.0.1" // so the broker advertises the address it really listens on
	}
	dir := cfg.Dir
	if dir == "" && databaseURL != "" {
		var err error
		if dir, err = EmbeddedKafkaDir(databaseURL); err != nil { // dir is "": in memory
			// Not asked for by name: standalone runs on, as it did before it kept the broker.
			s.Log.Warn("no directory for the embedded broker's data: it is kept in memory, and the jobs queued at exit are not answered after a restart; set STANDALONE_KAFKA_DIR", "error", err)
		}
	}
	opts := []kfake.Opt{}
	if dir != "" {
		if err := s.lockDir(dir); err != nil {
			return nil, nil, "", err
		}
		opts = append(opts, kfake.DataDir(dir))
	}
	ln, err := s.Listen(ctx, "the embedded Kafka broker (STANDALONE_KAFKA_ADDR)", net.JoinHostPort(host, port))
	if err != nil {
		return nil, nil, "", err
	}
	handed := false
	cluster, err := kfake.NewCluster(append(opts,
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
	)...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("embedded Kafka broker (STANDALONE_KAFKA_DIR %s): %w", dir, err)
	}
	s.OnClose(cluster.Close)
	s.brokerInMemory = dir == ""
	return kafkabus.New(kafkabus.Config{Brokers: []string{ln.Addr().String()}, Partitions: cfg.Partitions}), ln.Addr(), dir, nil
}

// EmbeddedKafkaDir is where standalone's broker keeps its data for the database at
// databaseURL, unless STANDALONE_KAFKA_DIR says: under the state home, named by a digest of
// the database's host, port, name and user (not its password), so that a run on another
// database does not take this one's jobs.
func EmbeddedKafkaDir(databaseURL string) (string, error) {
	cfg, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	host := cfg.Host
	if host == "localhost" || host == "::1" {
		host = "127.0.0.1" // one database, however this machine is named
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%s", host, cfg.Port, cfg.Database, cfg.User))
	return statedir.Path(filepath.Join("eventdispatch", "standalone-kafka-"+hex.EncodeToString(sum[:6])))
}

// lockDir creates dir and holds a lock on it until the process exits: two brokers writing one
// directory would corrupt it.
func (s *System) lockDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("STANDALONE_KAFKA_DIR: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("STANDALONE_KAFKA_DIR: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { //nolint:gosec // a file descriptor fits an int
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("STANDALONE_KAFKA_DIR: %s is in use by another standalone process (on the same DATABASE_URL?): stop it, or set another directory", dir)
		}
		return fmt.Errorf("STANDALONE_KAFKA_DIR: lock %s: %w", dir, err)
	}
	s.OnClose(func() { _ = f.Close() })
	return nil
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
