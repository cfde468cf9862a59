package app

import (
	"time"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/llm"
	"github.com/beacon/eventdispatch/internal/logging"
)

// Every default of every binary, in one place. Where a library has a default of its own for
// a setting (consumer, llm), this uses that constant rather than repeat the value. The
// README's configuration table is checked against these (settings_test.go).

// DefaultDatabaseURL is the local stack's Postgres.
const DefaultDatabaseURL = "postgres://postgres:demo@localhost:5432/beacon?sslmode=disable"

func defaultProcess(adminAddr string) Process {
	return Process{AdminAddr: adminAddr, ShutdownGrace: 20 * time.Second, Log: logging.Config{Format: "text", Level: "info"}}
}

func defaultKafka() Kafka { return Kafka{Brokers: []string{"localhost:9092"}, Partitions: 3} }

func defaultGroups() Groups { return Groups{SessionTimeout: consumer.DefaultSessionTimeout} }

func defaultQueueTopics() QueueTopics { return QueueTopics{Jobs: "eliza.jobs"} }

func defaultTranscript() Transcript { return Transcript{TTL: 24 * time.Hour} }

func defaultFrontDoor() FrontDoor {
	return FrontDoor{Addr: ":8080", QueueLimit: 3, MaxInflight: 10000, EnqueueTimeout: 5 * time.Second, WebUI: true,
		Auth: access.Optional, AnonymousTier: access.Premium,
		QuotaRequestsPerSecond: 100, QuotaSentencesPerMinute: 600, QuotaTokensPerDay: 1_000_000,
		// The anonymous caller is everyone without a token, together: modest, but not below a
		// few grpcurl sessions. No daily token limit by default: with ANONYMOUS_TIER=premium a
		// session without a token reaches the model; production sets one, or ANONYMOUS_TIER=free.
		AnonymousRequestsPerSecond: 50, AnonymousSentencesPerMinute: 1200,
	}
}

// signalBatchSize is BATCH_SIZE's default. Batches fill only when there is a backlog, and
// there a larger one pays each transaction's fixed cost over more events and leaves fewer
// recordings with signals on both sides of a batch boundary (those need state saved by one
// batch and loaded by the next). Draining a backlog (BENCHMARKS.md) went from about 67,000
// events/s at 500 to 100,000 at 2,000. A batch holds one advisory lock per recording it
// touches: BATCH_SIZE's bound is pgstore.MaxBatch.
const signalBatchSize = 2000

func defaultSignals() Signals {
	return Signals{
		Topic: "postgres.datastore.signal", GroupID: "dispatcher-signals",
		BatchSize: signalBatchSize, BatchBytes: consumer.DefaultBatchBytes, BatchLinger: consumer.DefaultLinger,
		IncompleteAfter: 10 * time.Minute,
	}
}

// defaultCapture watches the heartbeat messages of the connector in deploy/local and k8s
// (heartbeat.action.query, message.prefix.include.list): its topic.prefix and ".message".
func defaultCapture() Capture { return Capture{HeartbeatTopic: "postgres.message"} }

func defaultConversations() Conversations {
	return Conversations{GroupID: "dispatcher-llm", Workers: 8, ContextTurns: 10, LostAfter: 30 * time.Minute, Model: Model{
		// OPENAI_MODEL and LLM_SYSTEM_PROMPT empty: llm.DefaultModel and llm.DefaultSystemPrompt.
		Timeout: llm.DefaultTimeout, MaxAttempts: llm.DefaultMaxAttempts,
		BreakerFailures: llm.DefaultBreakerFailures, BreakerCooldown: llm.DefaultBreakerCooldown, MaxJobAge: llm.DefaultMaxJobAge,
		MaxRetryWait: llm.DefaultMaxRetryWait,
	}}
}

func defaultHeadband() Headband {
	return Headband{Interval: 5 * time.Second, MaxPause: 10 * time.Second, MaxInFlight: 16, RetryFor: time.Minute}
}

// DefaultFrontDoor returns cmd/frontdoor's defaults.
func DefaultFrontDoor() FrontDoorSettings {
	return FrontDoorSettings{
		Process: defaultProcess(":9090"), Kafka: defaultKafka(), DatabaseURL: DefaultDatabaseURL, Transcript: defaultTranscript(),
		Queue: defaultQueueTopics(), FrontDoor: defaultFrontDoor(),
	}
}

// DefaultDispatcher returns cmd/dispatcher's defaults.
func DefaultDispatcher() DispatcherSettings {
	return DispatcherSettings{
		Process: defaultProcess(":9091"), Kafka: defaultKafka(), Groups: defaultGroups(), DatabaseURL: DefaultDatabaseURL,
		Transcript: defaultTranscript(), Queue: defaultQueueTopics(), Signals: defaultSignals(), Capture: defaultCapture(),
		Conversations: defaultConversations(),
	}
}

// DefaultHeadband returns cmd/headband's defaults. Its admin port is not the 9092 of Kafka on
// the local stack.
func DefaultHeadband() HeadbandSettings {
	return HeadbandSettings{Process: defaultProcess(":9095"), DatabaseURL: DefaultDatabaseURL, Headband: defaultHeadband()}
}

// DefaultStandalone returns cmd/standalone's defaults: the other binaries', with quicker
// timings so that a newcomer sees things happen within seconds, on a free loopback port for
// the embedded broker, and no database.
func DefaultStandalone() StandaloneSettings {
	s := StandaloneSettings{
		Process: defaultProcess(":9090"), Kafka: EmbeddedKafka{Addr: "127.0.0.1:0", Partitions: defaultKafka().Partitions},
		Groups: defaultGroups(), Transcript: defaultTranscript(), Queue: defaultQueueTopics(), FrontDoor: defaultFrontDoor(),
		Signals: defaultSignals(), Conversations: defaultConversations(), Headband: defaultHeadband(),
	}
	s.ShutdownGrace = 5 * time.Second
	s.FrontDoor.Auth = access.Off             // no database to keep tokens in, unless DATABASE_URL is set
	s.Groups.SessionTimeout = 6 * time.Second // the broker is in the process: no member is silent for long
	s.Signals.IncompleteAfter = time.Minute
	s.Headband.Interval, s.Headband.MaxPause, s.Headband.RetryFor = time.Second, 500*time.Millisecond, 30*time.Second
	return s
}

// DefaultMigrate returns cmd/migrate's defaults.
func DefaultMigrate() MigrateSettings {
	return MigrateSettings{DatabaseURL: DefaultDatabaseURL, Timeout: 2 * time.Minute, Log: defaultProcess("").Log}
}
