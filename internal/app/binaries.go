package app

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/logging"
)

// Settings are a long-running binary's settings: a Process and whatever else it reads.
type Settings interface {
	Validate() error
	process() Process
}

// queued is the settings of a binary that puts jobs on JOBS_TOPIC or answers them: its
// connections to the transcript name that topic (pgtranscript.SetQueue).
type queued interface {
	jobsTopic() string
}

func (s FrontDoorSettings) jobsTopic() string  { return s.Queue.Jobs }
func (s DispatcherSettings) jobsTopic() string { return s.Queue.Jobs }
func (s StandaloneSettings) jobsTopic() string { return s.Queue.Jobs }

// FrontDoorSettings are cmd/frontdoor's.
type FrontDoorSettings struct {
	Process
	Kafka Kafka
	// DatabaseURL is the Postgres of the conversations' transcript.
	DatabaseURL string `env:"DATABASE_URL"`
	Transcript  Transcript
	Queue       QueueTopics
	FrontDoor   FrontDoor
}

// Validate checks the values, naming the variables that are wrong.
func (s FrontDoorSettings) Validate() error {
	return errors.Join(s.Process.Validate(), s.Kafka.Validate(), validDatabaseURL(s.DatabaseURL, false), s.Transcript.Validate(),
		s.Queue.Validate(), s.FrontDoor.Validate(), validAuth(s.FrontDoor, s.DatabaseURL),
		distinctAddrs(listen{"ADDR", s.FrontDoor.Addr}, listen{"ADMIN_ADDR", s.AdminAddr}))
}

// DispatcherSettings are cmd/dispatcher's.
type DispatcherSettings struct {
	Process
	Kafka         Kafka
	Groups        Groups
	DatabaseURL   string `env:"DATABASE_URL"`
	Transcript    Transcript
	Queue         QueueTopics
	Signals       Signals
	Capture       Capture
	Conversations Conversations
}

// Validate checks the values, naming the variables that are wrong.
func (s DispatcherSettings) Validate() error {
	return errors.Join(s.Process.Validate(), s.Kafka.Validate(), s.Groups.Validate(), validDatabaseURL(s.DatabaseURL, false),
		s.Transcript.Validate(), s.Queue.Validate(), s.Signals.Validate(), s.Capture.Validate(), s.Conversations.Validate(),
		distinctTopics(s.Signals.Topic, s.Queue.Jobs, s.Capture.topic()), distinctGroups(s.Signals.GroupID, s.Conversations.GroupID))
}

// HeadbandSettings are cmd/headband's.
type HeadbandSettings struct {
	Process
	DatabaseURL string `env:"DATABASE_URL"`
	Headband    Headband
}

// Validate checks the values, naming the variables that are wrong.
func (s HeadbandSettings) Validate() error {
	return errors.Join(s.Process.Validate(), validDatabaseURL(s.DatabaseURL, false), s.Headband.Validate())
}

// StandaloneSettings are cmd/standalone's: the front door's, the dispatcher's and the
// headband's, on an embedded broker, with the state in memory unless DATABASE_URL is set.
type StandaloneSettings struct {
	Process
	Kafka  EmbeddedKafka
	Groups Groups
	// DatabaseURL, when set, keeps the dispatcher's state and the conversations' transcript
	// in Postgres instead of memory.
	DatabaseURL   string `env:"DATABASE_URL"`
	Transcript    Transcript
	Queue         QueueTopics
	FrontDoor     FrontDoor
	Signals       Signals
	Conversations Conversations
	Headband      Headband
}

// Validate checks the values, naming the variables that are wrong.
func (s StandaloneSettings) Validate() error {
	return errors.Join(s.Process.Validate(), s.Kafka.Validate(), s.Groups.Validate(), validDatabaseURL(s.DatabaseURL, true),
		s.Transcript.Validate(), s.Queue.Validate(), s.FrontDoor.Validate(), validAuth(s.FrontDoor, s.DatabaseURL),
		s.Signals.Validate(), s.Conversations.Validate(), s.Headband.Validate(), distinctTopics(s.Signals.Topic, s.Queue.Jobs, ""),
		distinctGroups(s.Signals.GroupID, s.Conversations.GroupID), kafkaDirNeedsDatabase(s.Kafka.Dir, s.DatabaseURL),
		distinctAddrs(listen{"ADDR", s.FrontDoor.Addr}, listen{"ADMIN_ADDR", s.AdminAddr}, listen{"STANDALONE_KAFKA_ADDR", s.Kafka.Addr}))
}

// listen is a listening address and the variable that sets it.
type listen struct{ variable, addr string }

// distinctAddrs refuses two of addrs that would listen on one port: the second listener
// would fail to start, naming only itself ("address already in use"). A host left out, or a
// wildcard one, takes the port on every address; port 0 is any free port.
func distinctAddrs(addrs ...listen) error {
	wildcard := func(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }
	// localhost is where Go listens for it: the first of its addresses, 127.0.0.1.
	named := func(host string) string {
		if host == "localhost" {
			return "127.0.0.1"
		}
		return host
	}
	for i, a := range addrs {
		hostA, portA, err := net.SplitHostPort(a.addr)
		if err != nil || portA == "0" {
			continue
		}
		for _, b := range addrs[:i] {
			hostB, portB, err := net.SplitHostPort(b.addr)
			if err == nil && portA == portB && (named(hostA) == named(hostB) || wildcard(hostA) || wildcard(hostB)) {
				return fmt.Errorf("%s and %s: both listen on port %s (%q, %q)", b.variable, a.variable, portA, b.addr, a.addr)
			}
		}
	}
	return nil
}

// kafkaDirNeedsDatabase refuses a broker kept on disk with the state in memory: after a
// restart the broker's committed offsets would skip changes whose effects on the state were
// lost with it, and its jobs name conversations the transcript lost.
func kafkaDirNeedsDatabase(dir, databaseURL string) error {
	if dir != "" && databaseURL == "" {
		return errors.New("STANDALONE_KAFKA_DIR: needs DATABASE_URL: with the state in memory, a broker kept on disk would come back ahead of it")
	}
	return nil
}

// distinctGroups refuses one consumer group for the signals and the jobs: its members would
// be two readers of two topics under one id, each rebalance of one a rebalance of the other,
// and their kafka_consumer_joined{group} one series.
func distinctGroups(signals, jobs string) error {
	if signals == jobs {
		return fmt.Errorf("GROUP_ID and LLM_GROUP_ID: both are %q; the signals and the jobs need a consumer group each", signals)
	}
	return nil
}

// distinctTopics refuses a signal topic, jobs topic and heartbeat topic (empty: none) of which
// two are one, or one is another's dead-letter topic: the dispatcher would read one flow's
// messages as another's. Names that differ only in '.' and '_' are one to Kafka.
func distinctTopics(signals, jobs, heartbeat string) error {
	key := func(topic string) string { return strings.ReplaceAll(topic, ".", "_") }
	taken := map[string]string{
		key(signals): "SIGNAL_TOPIC", key(kafkabus.DeadLetterTopic(signals)): "SIGNAL_TOPIC's dead-letter topic",
	}
	claim := func(variable, topic, what string) error {
		if other, ok := taken[key(topic)]; ok {
			return fmt.Errorf("%s: %s %q is %s too: each flow needs topics of its own", variable, what, topic, other)
		}
		taken[key(topic)] = variable
		return nil
	}
	err := claim("JOBS_TOPIC", jobs, "the topic")
	if err == nil {
		err = claim("JOBS_TOPIC", kafkabus.DeadLetterTopic(jobs), "its dead-letter topic")
	}
	if heartbeat != "" {
		err = errors.Join(err, claim("CAPTURE_HEARTBEAT_TOPIC", heartbeat, "the topic"))
	}
	return err
}

// MigrateSettings are cmd/migrate's, a one-shot command with no admin port.
type MigrateSettings struct {
	DatabaseURL string        `env:"DATABASE_URL"`
	Timeout     time.Duration `env:"MIGRATE_TIMEOUT"`
	Log         logging.Config
}

// Validate checks the values, naming the variables that are wrong.
func (s MigrateSettings) Validate() error {
	return errors.Join(validDatabaseURL(s.DatabaseURL, false), positive("MIGRATE_TIMEOUT", s.Timeout))
}

// Binaries maps each binary under cmd/ to its settings with their defaults: what it reads,
// for the README's configuration table and the Kubernetes manifests' checks.
func Binaries() map[string]any {
	return map[string]any{
		"frontdoor":  DefaultFrontDoor(),
		"dispatcher": DefaultDispatcher(),
		"headband":   DefaultHeadband(),
		"standalone": DefaultStandalone(),
		"migrate":    DefaultMigrate(),
	}
}
