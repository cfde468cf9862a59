package app

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/pgstore"
)

// The parts of the binaries' settings. Each binary's settings (binaries.go) combine some of
// them; their defaults are in defaults.go, the one place defaults are written.

// Process is what every long-running binary reads.
type Process struct {
	// AdminAddr serves /metrics, /healthz and /readyz.
	AdminAddr string `env:"ADMIN_ADDR"`
	// ShutdownGrace bounds the whole shutdown after SIGTERM or SIGINT.
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE"`
	Log           logging.Config
}

func (p Process) process() Process { return p }

// minShutdownGrace is the shortest SHUTDOWN_GRACE: a dispatcher's batch may take half of it
// (consumer.Config.HandleTimeout), and one that cannot be applied in that is tried again for
// ever: with 1ms, every batch of one change ran out of its time, and the partition stopped.
const minShutdownGrace = time.Second

// Validate checks the values, naming the variable that is wrong.
func (p Process) Validate() error {
	switch {
	case p.ShutdownGrace < minShutdownGrace:
		return fmt.Errorf("SHUTDOWN_GRACE: %s, at least %s (a dispatcher's batch may take half of it)", p.ShutdownGrace, minShutdownGrace)
	case p.ShutdownGrace/2 > consumer.MaxHandleTimeout:
		// A consumer's rebalance timeout is half of it and more: past it the client refused
		// it, naming no variable.
		return fmt.Errorf("SHUTDOWN_GRACE: %s, at most %s (half of it and more is a consumer group's rebalance timeout, which Kafka's client bounds)",
			p.ShutdownGrace, 2*consumer.MaxHandleTimeout)
	}
	return nil
}

// Kafka says how a process reaches Kafka and creates the topics it needs.
type Kafka struct {
	Brokers []string `env:"KAFKA_BROKERS" envSeparator:","`
	// Partitions is the partition count of the topics the process creates.
	Partitions int `env:"KAFKA_TOPIC_PARTITIONS"`
}

// Bus returns the one way onto Kafka the process's parts share.
func (k Kafka) Bus() *kafkabus.Bus {
	return kafkabus.New(kafkabus.Config{Brokers: k.Brokers, Partitions: k.Partitions})
}

// Validate checks the values, naming the variable that is wrong.
func (k Kafka) Validate() error {
	var errs []error
	switch {
	case len(k.Brokers) == 0 || len(k.Brokers) == 1 && k.Brokers[0] == "":
		errs = append(errs, errors.New("KAFKA_BROKERS: no broker given"))
	case slices.Contains(k.Brokers, ""):
		errs = append(errs, fmt.Errorf("KAFKA_BROKERS: entry %d of %d is empty (a comma too many?)",
			slices.Index(k.Brokers, "")+1, len(k.Brokers)))
	}
	return errors.Join(append(errs, between("KAFKA_TOPIC_PARTITIONS", k.Partitions, 1, 1000))...)
}

// Groups says how the process's consumer-group members behave.
type Groups struct {
	// SessionTimeout is how soon a silent (killed) member's partitions move to others.
	SessionTimeout time.Duration `env:"KAFKA_SESSION_TIMEOUT"`
}

// Validate checks the values, naming the variable that is wrong.
func (g Groups) Validate() error {
	switch {
	case g.SessionTimeout < 6*time.Second:
		return fmt.Errorf("KAFKA_SESSION_TIMEOUT: %s is below Kafka's minimum of 6s", g.SessionTimeout)
	case g.SessionTimeout > consumer.MaxTimeout:
		// Past it the client refused it, naming no variable.
		return fmt.Errorf("KAFKA_SESSION_TIMEOUT: %s is above %s, the most Kafka's client can ask for", g.SessionTimeout, consumer.MaxTimeout)
	}
	return nil
}

// QueueTopics name the queued conversations' topics, shared by the front door and the workers.
type QueueTopics struct {
	Jobs string `env:"JOBS_TOPIC"`
}

// Validate checks the values, naming the variable that is wrong.
func (q QueueTopics) Validate() error {
	return topicName("JOBS_TOPIC", q.Jobs)
}

// Transcript is the conversations' durable record, shared by the front door and the workers.
type Transcript struct {
	// TTL is how long an idle conversation can be resumed; it is deleted after.
	TTL time.Duration `env:"CONVERSATION_TTL"`
}

// Validate checks the values, naming the variable that is wrong.
func (t Transcript) Validate() error { return positive("CONVERSATION_TTL", t.TTL) }

// FrontDoor is the RPC server and its queue admission.
type FrontDoor struct {
	Addr string `env:"ADDR"`
	// QueueLimit is the jobs of one conversation enqueued and not yet answered.
	QueueLimit int `env:"QUEUE_LIMIT"`
	// MaxInflight is the sentences the process admits at once.
	MaxInflight    int           `env:"MAX_INFLIGHT"`
	EnqueueTimeout time.Duration `env:"ENQUEUE_TIMEOUT"`
	// CORSAllowedOrigins are the web origins whose pages may call the RPCs; "*" is any.
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`
	// WebUI serves the chat page at "/" of ADDR.
	WebUI bool `env:"WEB_UI"`
	// Auth says whether callers need a token; AnonymousTier is the tier of those without one.
	Auth          access.Mode `env:"AUTH"`
	AnonymousTier access.Tier `env:"ANONYMOUS_TIER"`
	// The default limits of clients (QUOTA_*) and of the anonymous caller (ANONYMOUS_*); 0 is
	// no limit.
	QuotaRequestsPerSecond      int   `env:"QUOTA_REQUESTS_PER_SECOND"`
	QuotaSentencesPerMinute     int   `env:"QUOTA_SENTENCES_PER_MINUTE"`
	QuotaTokensPerDay           int64 `env:"QUOTA_TOKENS_PER_DAY"`
	AnonymousRequestsPerSecond  int   `env:"ANONYMOUS_REQUESTS_PER_SECOND"`
	AnonymousSentencesPerMinute int   `env:"ANONYMOUS_SENTENCES_PER_MINUTE"`
	AnonymousTokensPerDay       int64 `env:"ANONYMOUS_TOKENS_PER_DAY"`
}

// quotas are the default limits as access reads them.
func (f FrontDoor) quotas() access.QuotaConfig {
	return access.QuotaConfig{
		Clients: access.Limits{RequestsPerSecond: f.QuotaRequestsPerSecond, SentencesPerMinute: f.QuotaSentencesPerMinute, TokensPerDay: f.QuotaTokensPerDay},
		Anonymous: access.Limits{RequestsPerSecond: f.AnonymousRequestsPerSecond, SentencesPerMinute: f.AnonymousSentencesPerMinute,
			TokensPerDay: f.AnonymousTokensPerDay},
	}
}

// Validate checks the values, naming the variable that is wrong.
func (f FrontDoor) Validate() error {
	return errors.Join(
		atLeast("QUEUE_LIMIT", f.QueueLimit, 1),
		atLeast("MAX_INFLIGHT", f.MaxInflight, 1),
		positive("ENQUEUE_TIMEOUT", f.EnqueueTimeout), atMost("ENQUEUE_TIMEOUT", f.EnqueueTimeout, maxEnqueueTimeout),
		origins("CORS_ALLOWED_ORIGINS", f.CORSAllowedOrigins),
		atLeast("QUOTA_REQUESTS_PER_SECOND", f.QuotaRequestsPerSecond, 0),
		atLeast("QUOTA_SENTENCES_PER_MINUTE", f.QuotaSentencesPerMinute, 0),
		atLeast("ANONYMOUS_REQUESTS_PER_SECOND", f.AnonymousRequestsPerSecond, 0),
		atLeast("ANONYMOUS_SENTENCES_PER_MINUTE", f.AnonymousSentencesPerMinute, 0),
		nonNegative("QUOTA_TOKENS_PER_DAY", f.QuotaTokensPerDay),
		nonNegative("ANONYMOUS_TOKENS_PER_DAY", f.AnonymousTokensPerDay),
	)
}

// maxEnqueueTimeout bounds ENQUEUE_TIMEOUT: the dispatchers take a job for lost only when it is
// older by a minute than what their group has yet to read (lostMargin), which counts on the
// job's write following its reservation by less than that.
const maxEnqueueTimeout = 30 * time.Second

// validAuth checks that tokens have somewhere to live: AUTH other than off needs the
// Postgres at DATABASE_URL.
func validAuth(f FrontDoor, databaseURL string) error {
	if f.Auth != access.Off && databaseURL == "" {
		return fmt.Errorf("AUTH=%s needs DATABASE_URL: clients and tokens are kept in Postgres (or set AUTH=off)", f.Auth)
	}
	return nil
}

// origins checks a list of web origins: each "*", or a scheme, a host and perhaps a port
// (https://chat.example.com, http://localhost:5173), as a browser sends it in Origin.
func origins(name string, list []string) error {
	var errs []error
	for _, o := range list {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an origin (scheme://host[:port], e.g. https://chat.example.com) or *", name, o))
		}
	}
	return errors.Join(errs...)
}

// Signals is the dispatcher's consumer group on Debezium's topic for datastore.signal.
type Signals struct {
	Topic           string        `env:"SIGNAL_TOPIC"`
	GroupID         string        `env:"GROUP_ID"`
	BatchSize       int           `env:"BATCH_SIZE"`
	BatchBytes      int           `env:"BATCH_BYTES"`
	BatchLinger     time.Duration `env:"BATCH_LINGER"`
	IncompleteAfter time.Duration `env:"INCOMPLETE_AFTER"`
}

// Validate checks the values, naming the variable that is wrong.
func (s Signals) Validate() error {
	return errors.Join(
		between("BATCH_SIZE", s.BatchSize, 1, pgstore.MaxBatch),
		between("BATCH_BYTES", s.BatchBytes, 1<<10, 1<<30),
		topicName("SIGNAL_TOPIC", s.Topic),
		nonEmpty("GROUP_ID", s.GroupID),
		positive("BATCH_LINGER", s.BatchLinger),
		positive("INCOMPLETE_AFTER", s.IncompleteAfter),
	)
}

// Capture is the dispatcher's watch of Debezium's heartbeat, which tells a quiet site from a
// capture that stopped, and says how far capture has got (dispatch.CaptureWatch).
type Capture struct {
	// HeartbeatTopic is the topic of the connector's heartbeat messages
	// (<topic.prefix>.message: debezium.CapturedAt), or of Debezium's heartbeat records
	// (__debezium-heartbeat.<topic.prefix>, whose records' times say only that capture runs),
	// or NoCaptureWatch.
	HeartbeatTopic string `env:"CAPTURE_HEARTBEAT_TOPIC"`
}

// NoCaptureWatch as CAPTURE_HEARTBEAT_TOPIC, in any case (OFF, Off), turns the watch off (an
// empty value is unset, as for every variable, and means the default). "OFF" was taken for a
// topic's name, which nothing wrote to, and the watch warned after 3 minutes.
const NoCaptureWatch = "off"

// off reports whether the watch is turned off.
func (c Capture) off() bool { return strings.EqualFold(c.HeartbeatTopic, NoCaptureWatch) }

// topic is the heartbeat topic to watch, empty for none.
func (c Capture) topic() string {
	if c.off() {
		return ""
	}
	return c.HeartbeatTopic
}

// Validate checks the values, naming the variable that is wrong.
func (c Capture) Validate() error {
	if c.off() {
		return nil
	}
	return topicName("CAPTURE_HEARTBEAT_TOPIC", c.HeartbeatTopic)
}

// Conversations is the dispatcher's pool of workers on the jobs topic.
type Conversations struct {
	GroupID string `env:"LLM_GROUP_ID"`
	// Workers is the most concurrent model calls of the process.
	Workers int `env:"WORKERS"`
	// ContextTurns is how many earlier turns of the conversation go to the model with a job.
	ContextTurns int `env:"CONTEXT_TURNS"`
	// LostAfter is how long after its enqueueing an accepted job without an outcome is taken
	// for lost, once the workers have read everything enqueued before it (worker.FailLost).
	LostAfter time.Duration `env:"LOST_JOB_AFTER"`
	Model     Model
}

// Validate checks the values, naming the variable that is wrong.
func (c Conversations) Validate() error {
	return errors.Join(between("WORKERS", c.Workers, 1, 4096), atLeast("CONTEXT_TURNS", c.ContextTurns, 0),
		nonEmpty("LLM_GROUP_ID", c.GroupID), positive("LOST_JOB_AFTER", c.LostAfter), c.Model.Validate())
}

// Model chooses the model that answers jobs and the policies between the queue and it.
type Model struct {
	APIKey          string        `env:"OPENAI_API_KEY"`
	BaseURL         string        `env:"OPENAI_BASE_URL"`
	Model           string        `env:"OPENAI_MODEL"`
	Organization    string        `env:"OPENAI_ORG_ID"`
	Project         string        `env:"OPENAI_PROJECT_ID"`
	SystemPrompt    string        `env:"LLM_SYSTEM_PROMPT"`
	Timeout         time.Duration `env:"LLM_TIMEOUT"`
	MaxAttempts     int           `env:"LLM_MAX_ATTEMPTS"`
	RPM             int           `env:"LLM_RPM"`
	TPM             int           `env:"LLM_TPM"`
	BreakerFailures int           `env:"LLM_BREAKER_FAILURES"`
	BreakerCooldown time.Duration `env:"LLM_BREAKER_COOLDOWN"`
	MaxJobAge       time.Duration `env:"LLM_MAX_JOB_AGE"`
	MaxRetryWait    time.Duration `env:"LLM_MAX_RETRY_WAIT"`
}

// Offline reports that no model API is configured, so the offline ELIZA responder answers.
func (m Model) Offline() bool { return m.APIKey == "" && m.BaseURL == "" }

// Validate checks the values, naming the variable that is wrong.
func (m Model) Validate() error {
	var errs []error
	if m.BaseURL != "" {
		if u, err := url.Parse(m.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("OPENAI_BASE_URL: %q is not an absolute http(s) URL", m.BaseURL))
		}
	}
	return errors.Join(append(errs,
		atLeast("LLM_MAX_ATTEMPTS", m.MaxAttempts, 1),
		atLeast("LLM_BREAKER_FAILURES", m.BreakerFailures, 1),
		atLeast("LLM_RPM", m.RPM, 0),
		atLeast("LLM_TPM", m.TPM, 0),
		positive("LLM_TIMEOUT", m.Timeout),
		positive("LLM_BREAKER_COOLDOWN", m.BreakerCooldown),
		positive("LLM_MAX_JOB_AGE", m.MaxJobAge),
		positive("LLM_MAX_RETRY_WAIT", m.MaxRetryWait),
	)...)
}

// Headband is the simulator's schedule.
type Headband struct {
	Interval   time.Duration `env:"HEADBAND_INTERVAL"`
	MaxPause   time.Duration `env:"HEADBAND_MAX_PAUSE"`
	Fast       bool          `env:"HEADBAND_FAST"`
	Recordings int           `env:"HEADBAND_RECORDINGS"`
	// Seed is nil when HEADBAND_SEED is unset: a random seed is drawn and logged.
	Seed        *uint64       `env:"HEADBAND_SEED"`
	MaxInFlight int           `env:"HEADBAND_MAX_IN_FLIGHT"`
	RetryFor    time.Duration `env:"HEADBAND_RETRY_FOR"`
}

// Validate checks the values, naming the variable that is wrong.
func (h Headband) Validate() error {
	var errs []error
	if h.MaxPause < 0 {
		errs = append(errs, fmt.Errorf("HEADBAND_MAX_PAUSE: must not be negative, got %s", h.MaxPause))
	}
	return errors.Join(append(errs,
		atLeast("HEADBAND_RECORDINGS", h.Recordings, 0), // 0: no limit
		atLeast("HEADBAND_MAX_IN_FLIGHT", h.MaxInFlight, 1),
		positive("HEADBAND_INTERVAL", h.Interval),
		positive("HEADBAND_RETRY_FOR", h.RetryFor),
	)...)
}

// EmbeddedKafka is standalone mode's broker.
type EmbeddedKafka struct {
	// Addr is a loopback address; port 0 picks a free one.
	Addr       string `env:"STANDALONE_KAFKA_ADDR"`
	Partitions int    `env:"KAFKA_TOPIC_PARTITIONS"`
	// Dir is where the broker keeps its topics and groups across restarts; empty: in memory,
	// or, with a database, a directory of the state home for that database (EmbeddedKafkaDir).
	Dir string `env:"STANDALONE_KAFKA_DIR"`
}

// Validate checks the values, naming the variable that is wrong.
func (e EmbeddedKafka) Validate() error {
	var errs []error
	if host, _, err := net.SplitHostPort(e.Addr); err != nil {
		errs = append(errs, fmt.Errorf("STANDALONE_KAFKA_ADDR: %w", err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("STANDALONE_KAFKA_ADDR: %q is not a loopback address; the embedded broker only listens on this machine", e.Addr))
	}
	return errors.Join(append(errs, between("KAFKA_TOPIC_PARTITIONS", e.Partitions, 1, 1000))...)
}

// validDatabaseURL checks a Postgres URL; optional allows an empty one.
func validDatabaseURL(url string, optional bool) error {
	if url == "" && optional {
		return nil
	}
	if _, err := pgxpool.ParseConfig(url); err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	return nil
}

func nonNegative(name string, n int64) error {
	if n < 0 {
		return fmt.Errorf("%s: must be at least 0 (0: no limit), got %d", name, n)
	}
	return nil
}

func atLeast(name string, n, least int) error {
	if n < least {
		return fmt.Errorf("%s: must be at least %d, got %d", name, least, n)
	}
	return nil
}

func between(name string, n, least, most int) error {
	if n < least || n > most {
		return fmt.Errorf("%s: %d is not between %d and %d", name, n, least, most)
	}
	return nil
}

func atMost(name string, d, most time.Duration) error {
	if d > most {
		return fmt.Errorf("%s: at most %s, got %s", name, most, d)
	}
	return nil
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: must be positive, got %s", name, d)
	}
	return nil
}

// maxTopicName is the longest topic name that leaves room for its dead-letter topic's
// (kafkabus.DeadLetterTopic adds ".dlq") within Kafka's 249 characters.
const maxTopicName = 249 - len(".dlq")

// topicName checks that topic is a name Kafka accepts (letters, digits, '.', '_' and '-'),
// with room for its dead-letter topic's: the broker would otherwise refuse it at every try,
// which a process would report as Kafka being unreachable.
func topicName(name, topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%s: must not be empty", name)
	case topic == "." || topic == "..":
		return fmt.Errorf("%s: %q is not a topic name Kafka accepts", name, topic)
	case slices.Contains(kafkaInternalTopics, topic):
		return fmt.Errorf("%s: %q is one of Kafka's own topics", name, topic)
	case len(topic) > maxTopicName:
		return fmt.Errorf("%s: %d characters, at most %d (its dead-letter topic adds .dlq)", name, len(topic), maxTopicName)
	}
	if i := strings.IndexFunc(topic, func(r rune) bool { return !topicRune(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(topic[i:])
		return fmt.Errorf("%s: %q has %q: a topic name has only letters, digits, '.', '_' and '-'", name, topic, r)
	}
	return nil
}

// kafkaInternalTopics are the topics Kafka keeps for itself: read as signals, a group copied
// all of __consumer_offsets to a dead-letter topic.
var kafkaInternalTopics = []string{"__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"}

// topicRune reports whether r may be in a topic's name.
func topicRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// nonEmpty checks name/value pairs.
func nonEmpty(pairs ...string) error {
	var errs []error
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", pairs[i]))
		}
	}
	return errors.Join(errs...)
}
