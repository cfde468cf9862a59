package app

import (
	"errors"
	"time"

	"github.com/beacon/eventdispatch/internal/logging"
)

// Settings are a long-running binary's settings: a Process and whatever else it reads.
type Settings interface {
	Validate() error
	process() Process
}

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
		s.Queue.Validate(), s.FrontDoor.Validate(), validAuth(s.FrontDoor, s.DatabaseURL))
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
		s.Transcript.Validate(), s.Queue.Validate(), s.Signals.Validate(), s.Capture.Validate(), s.Conversations.Validate())
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
		s.Signals.Validate(), s.Conversations.Validate(), s.Headband.Validate())
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
