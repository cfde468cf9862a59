// Package consumer runs a Kafka consumer group whose offsets are committed only after the
// work they cover is done. It is the one place where partitions, generations and offsets are
// handled; the work itself is a Handler that sees batches of one partition's messages.
//
// It uses kafka-go's ConsumerGroup and per-partition readers rather than the group Reader so
// that every commit carries the generation it was earned in: after a rebalance, a commit from
// the previous owner of a partition is refused by the coordinator instead of overwriting the
// new owner's progress.
//
// Two modes. In batch mode (New) each assigned partition's messages are read in order and
// handed to a Handler in batches (up to BatchSize, gathered for at most Linger). A batch that
// fails is retried with exponential backoff and jitter until it succeeds or the partition is
// taken away; only then is offset+1 of its last message committed. One whose attempt runs out
// of HandleTimeout is handled in parts instead, halved until they are handled in time, each
// committed once handled. In pipelined mode
// (NewPipelined) messages go to a Processor as they arrive, up to BatchSize outstanding per
// partition, finish in any order, and the group commits the lowest offset not yet finished.
// Either way a crash, kill -9, rebalance or outage at any point redelivers at most the work not
// yet committed — handlers must be idempotent — and never skips any.
//
// Members heartbeat every SessionTimeout/5, at most every 500 ms: a heartbeat is also how a
// member learns that its group is rebalancing, so a short one lets a rebalance finish soon
// after the member that caused it joins. When Kafka becomes unreachable the member's
// generation ends at the next heartbeat, and Joined turns false once a join fails (a
// rebalance alone does not make it false: see Joined). Joining is then retried, each attempt
// on fresh connections and after a wait of at most JoinBackoff, so the member is back in the
// group, and Joined true, within JoinBackoff of Kafka answering again: 1s by default, plus the
// join's round trips. A broker that answers while its group coordinator is being elected or
// loads the group is asked again within 100 ms, so the join follows the coordinator's loading
// closely. (The next join starts only once every partition of the ended generation has
// returned: once the attempt at the batch in hand, or in pipelined mode the work in hand, is
// done, within HandleTimeout, or in pipelined mode at a rebalance within RebalanceDrain.) A
// join refused for its SessionTimeout, outside the brokers' bounds, ends Run with
// ErrSessionTimeoutRefused: no retry could succeed.
package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// Handler does the work for a batch of one partition's messages, in offset order. It returns
// nil only when the batch's effects are durable. It is called again with the same batch after
// an error, or with its first part after an attempt that ran out of HandleTimeout, and may see
// a batch or part again after a restart or rebalance. msgs is the group's to
// reuse once HandleBatch returns: a handler must not keep it, or its messages, past that.
type Handler interface {
	HandleBatch(ctx context.Context, partition int, msgs []kafka.Message) error
}

// Defaults of Config's fields, also the defaults of the settings the binaries read for them
// (internal/app), except the signal dispatcher's BATCH_SIZE, which is larger.
const (
	DefaultBatchSize      = 500
	DefaultBatchBytes     = 8 << 20
	DefaultLinger         = 5 * time.Millisecond
	DefaultSessionTimeout = 10 * time.Second
	DefaultHandleTimeout  = 30 * time.Second
	DefaultMaxBackoff     = 10 * time.Second
	DefaultJoinBackoff    = time.Second
	DefaultRebalanceDrain = 500 * time.Millisecond
	DefaultJoinWarnEvery  = 30 * time.Second
)

// Config configures a Group. Zero values take the Default* constants above.
type Config struct {
	Brokers []string
	GroupID string
	Topic   string
	// BatchSize caps the messages per batch (in pipelined mode: outstanding per partition).
	BatchSize int
	// BatchBytes caps a batch's bytes (keys and values): it takes no more messages once it
	// holds this many, so it holds at most BatchBytes plus one message. With events of
	// hundreds of kilobytes a backlog would otherwise fill BatchSize of them per partition.
	// A partition has two batches in hand at most: the one handled and the next, gathered
	// meanwhile. Not used in pipelined mode.
	BatchBytes int
	// Linger is how long a batch may wait for more messages after its first.
	Linger time.Duration
	// SessionTimeout is how long the coordinator waits for a silent member (one killed with
	// kill -9) before handing its partitions to others.
	SessionTimeout time.Duration
	// HandleTimeout bounds one attempt of a batch, and at shutdown the wait for work in hand.
	HandleTimeout time.Duration
	// RebalanceDrain bounds, in pipelined mode, the wait for work in hand when a rebalance
	// ends the generation (at most HandleTimeout): the whole group waits for the slowest
	// member to rejoin. Work still in hand then goes on in this process but is not committed;
	// the partition's next owner redoes it (a Processor must find what is already done, as
	// the conversations' workers do in the transcript).
	RebalanceDrain time.Duration
	// MaxBackoff caps the wait between attempts of a failing batch. No wait exceeds it.
	MaxBackoff time.Duration
	// JoinBackoff caps the wait between attempts to join the group while Kafka is unreachable
	// or refuses: the member rejoins within JoinBackoff (and a join's round trips) of Kafka
	// answering again. No wait exceeds it.
	JoinBackoff time.Duration
	// JoinWarnEvery is how often failures to join, one after another, are logged as warnings:
	// the first, then one every JoinWarnEvery; the others at debug level.
	JoinWarnEvery time.Duration
	// Metrics, if set, receive lag, commit and retry counts.
	Metrics *Metrics
	// Log receives rebalances, retries and errors.
	Log *slog.Logger
	// LostAtExit says that the broker dies with the process (standalone's, in memory): work
	// left uncommitted at shutdown is lost, not redone, and the log says so.
	LostAtExit bool
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.Linger <= 0 {
		c.Linger = DefaultLinger
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HandleTimeout <= 0 {
		c.HandleTimeout = DefaultHandleTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.RebalanceDrain <= 0 {
		c.RebalanceDrain = DefaultRebalanceDrain
	}
	if c.JoinBackoff <= 0 {
		c.JoinBackoff = DefaultJoinBackoff
	}
	if c.JoinWarnEvery <= 0 {
		c.JoinWarnEvery = DefaultJoinWarnEvery
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// ErrSessionTimeoutRefused ends Run when the brokers refuse Config.SessionTimeout.
var ErrSessionTimeoutRefused = errors.New("the brokers refuse a session timeout")

// Group consumes a topic as a member of a consumer group.
type Group struct {
	cfg       Config
	handler   Handler   // batch mode (New)
	processor Processor // pipelined mode (NewPipelined)
	joined    atomic.Bool
	// view holds, for the generation under way, each partition the member owns and whether
	// it had nothing left to handle at the last reading of its lag (Partitions).
	view struct {
		sync.Mutex
		gen        int32 // the generation it is of, -1 for none
		partitions map[int]bool
	}
	leftAt atomic.Int64 // when the last generation ended (unix ns); 0 after a failed join
}

// New returns a Group that will hand batches to h.
func New(cfg Config, h Handler) *Group {
	cfg.defaults()
	g := &Group{cfg: cfg, handler: h}
	g.view.gen = -1
	cfg.Metrics.track(cfg.GroupID, g.Joined)
	return g
}

// Joined reports whether the member is in the group: it holds a generation (with or without
// partitions), or its last one ended less than SessionTimeout ago and it has not failed to
// join since (a rebalance under way, which members that join at different times after an
// outage go through more than once). It turns false when a join fails (Kafka unreachable or
// refusing) or a rebalance outlasts SessionTimeout, and true again once the member rejoins.
// Readiness reads it: a rebalance does not make a healthy member unready.
func (g *Group) Joined() bool {
	if g.joined.Load() {
		return true
	}
	left := g.leftAt.Load()
	return left != 0 && time.Since(time.Unix(0, left)) < g.cfg.SessionTimeout
}

// Run consumes until ctx is done. Then each partition finishes and commits the batch in hand
// (bounded by HandleTimeout), the member leaves the group, and Run returns nil. Kafka being
// unreachable is retried, not returned; only an invalid configuration is.
//
// Two workarounds keep the rejoin within JoinBackoff of Kafka answering again. A failed join
// is retried with a new kafka-go ConsumerGroup, not by its own loop: that loop makes its next
// attempt JoinGroupBackoff after Next took the last error and holds the outcome until Next is
// called again, so after a wait of ours Next would hand back a stale error (connection
// refused, from while Kafka was down) and cost another wait; a new ConsumerGroup attempts at
// once. And kafka-go drops its member ID after a failed join, when leaving with it fails too
// (Kafka is down); a restarted coordinator restores its members and would hold the next join
// until that ID's session expired, so Run removes the ID itself before joining again. While
// the coordinator answers that it is loading the group (or moving), Run asks it again every
// coordinatorRetry and does not join: a join could reach it just after the load, before the
// ID is removed.
func (g *Group) Run(ctx context.Context) error {
	log := g.cfg.Log.With("group", g.cfg.GroupID, "topic", g.cfg.Topic)
	cfg := g.groupConfig(log)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("consumer group %s: %w", g.cfg.GroupID, err)
	}
	retry := newBackoff(g.cfg.JoinBackoff)
	var abandoned string // a member ID of ours that the coordinator may still count
	var failures int     // failed joins in a row
	var warned time.Time // when a failed join was last logged as a warning
	// failed counts and logs a failed join, or attempt to, as a warning at the first and then
	// every JoinWarnEvery, else at debug level.
	failed := func(msg string, err error, wait time.Duration) {
		failures++
		level := slog.LevelDebug
		if failures == 1 || time.Since(warned) >= g.cfg.JoinWarnEvery {
			level, warned = slog.LevelWarn, time.Now()
		}
		log.Log(ctx, level, msg, "error", err, "failures", failures, "retry_in", wait)
	}
	for {
		if abandoned != "" {
			gone, err := g.leave(ctx, abandoned, log)
			switch {
			case gone:
				abandoned = ""
			case coordinatorMoving(err):
				// The coordinator is loading the group, or moving. A join sent now may reach it
				// just after it has loaded the group, with the abandoned ID among the members it
				// restored, and would wait that ID's session out (KAFKA_SESSION_TIMEOUT). Remove
				// the ID first: ask again soon.
				g.leftAt.Store(0)
				wait := coordinatorWait()
				failed("cannot join consumer group yet: its coordinator is loading it or moving, and the member's previous ID must leave it first; retrying", err, wait)
				if sleep.For(ctx, wait) != nil {
					return nil
				}
				continue
			}
		}
		memberID, err := g.member(ctx, cfg, retry, log)
		if ctx.Err() != nil {
			return nil
		}
		if memberID != "" {
			abandoned = memberID // dropped by kafka-go, perhaps still counted by the coordinator
			failures = 0
		}
		g.leftAt.Store(0) // a failed join: out of the group
		if errors.Is(err, kafka.InvalidSessionTimeout) {
			// No retry can succeed: the brokers' group.min.session.timeout.ms and
			// group.max.session.timeout.ms exclude this member's timeout.
			return fmt.Errorf("%w of %s: it must lie within their group.min.session.timeout.ms and group.max.session.timeout.ms: %w", ErrSessionTimeoutRefused, g.cfg.SessionTimeout, err)
		}
		var wait time.Duration
		if coordinatorMoving(err) {
			// The broker answered and asked to be asked again soon: its group coordinator is
			// being elected or is loading the group. Polling it is cheap, and backing off
			// would add up to JoinBackoff to the rejoin for nothing.
			retry.reset()
			wait = coordinatorWait()
		} else {
			wait = retry.next()
		}
		failed("cannot join consumer group; retrying", err, wait)
		if sleep.For(ctx, wait) != nil {
			return nil
		}
	}
}

// coordinatorRetry bounds the wait before the next join after a broker answered that the
// group's coordinator is moving (coordinatorMoving).
const coordinatorRetry = 100 * time.Millisecond

// coordinatorWait is a wait before asking a coordinator that is moving again: at most
// coordinatorRetry, at random from its upper half so that members do not ask together.
func coordinatorWait() time.Duration { return coordinatorRetry/2 + rand.N(coordinatorRetry/2+1) }

// coordinatorMoving reports whether a join failed because a live broker is electing or loading
// the group's coordinator, as after a broker restarts or is unfenced: errors that Kafka's own
// clients first retry after 100 ms (retry.backoff.ms). Each attempt is a FindCoordinator and a
// JoinGroup on fresh connections, cheap for a broker that answers.
func coordinatorMoving(err error) bool {
	return errors.Is(err, kafka.GroupCoordinatorNotAvailable) || errors.Is(err, kafka.NotCoordinatorForGroup) ||
		errors.Is(err, kafka.GroupLoadInProgress)
}

// heartbeatInterval is how often the member heartbeats: SessionTimeout/5, at most
// maxHeartbeatInterval.
func (g *Group) heartbeatInterval() time.Duration {
	return min(g.cfg.SessionTimeout/5, maxHeartbeatInterval)
}

// fate says what becomes of work left uncommitted when ctx, the member's, has ended or not:
// redone, what a broker that outlives the process does, or lost with a broker that does not
// (LostAtExit) once the process is shutting down.
func (g *Group) fate(ctx context.Context, redone string) string {
	if g.cfg.LostAtExit && ctx.Err() != nil {
		return "the broker is in memory, so it is lost with the process"
	}
	return redone
}

// MaxTimeout is the longest session timeout, and rebalance timeout (HandleTimeout plus
// rebalanceSlack), that a member can ask for: kafka-go refuses a count of milliseconds that
// does not fit the protocol's 32 bits, less one.
const MaxTimeout = (math.MaxInt32 - 1) * time.Millisecond

// MaxHandleTimeout is the longest HandleTimeout: its rebalance timeout is MaxTimeout.
const MaxHandleTimeout = MaxTimeout - rebalanceSlack

// rebalanceSlack is what a member's rebalance timeout adds to HandleTimeout: the time to
// rejoin after its work in hand is done.
const rebalanceSlack = 5 * time.Second

// maxHeartbeatInterval bounds how long a member takes to learn that its group is rebalancing.
const maxHeartbeatInterval = 500 * time.Millisecond

// groupConfig is the kafka-go configuration of the member.
func (g *Group) groupConfig(log *slog.Logger) kafka.ConsumerGroupConfig {
	return kafka.ConsumerGroupConfig{
		ID:          g.cfg.GroupID,
		Brokers:     g.cfg.Brokers,
		Topics:      []string{g.cfg.Topic},
		StartOffset: kafka.FirstOffset,
		// Partitions added to the topic start a new generation that includes them.
		WatchPartitionChanges: true,
		SessionTimeout:        g.cfg.SessionTimeout,
		RebalanceTimeout:      g.cfg.HandleTimeout + rebalanceSlack,
		HeartbeatInterval:     g.heartbeatInterval(),
		// Never waited out: Run replaces the ConsumerGroup after a failed join.
		JoinGroupBackoff: g.cfg.JoinBackoff,
		ErrorLogger:      kafka.LoggerFunc(func(msg string, args ...any) { log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	}
}

// member joins the group with a new kafka-go ConsumerGroup and consumes its generations until
// ctx is done or a join fails. It returns the failure, and the member ID of the last
// generation it held ("" if none).
func (g *Group) member(ctx context.Context, cfg kafka.ConsumerGroupConfig, retry *backoff, log *slog.Logger) (memberID string, err error) {
	group, err := kafka.NewConsumerGroup(cfg)
	if err != nil {
		return "", fmt.Errorf("consumer group %s: %w", g.cfg.GroupID, err)
	}
	defer group.Close() // leaves the group so partitions move at once
	for {
		gen, err := group.Next(ctx)
		switch {
		case ctx.Err() != nil:
			return memberID, nil
		case errors.Is(err, kafka.RebalanceInProgress):
			// kafka-go keeps its member ID and rejoins at once; the coordinator paces it.
			log.Info("consumer group rebalancing; rejoining", "error", err)
			continue
		case err != nil:
			return memberID, fmt.Errorf("join consumer group %s: %w", g.cfg.GroupID, err)
		}
		retry.reset()
		memberID = gen.MemberID
		g.runGeneration(ctx, group, gen, log)
	}
}

// leaveTimeout bounds the request that removes an abandoned member ID from the group.
const leaveTimeout = 5 * time.Second

// leave asks the coordinator to drop memberID, reporting whether the ID is now gone (removed,
// or not a member), and if not, why not. It uses connections of its own, so none broken in an
// outage is reused.
//
// It looks before it leaves: a broker that has just restarted answers LeaveGroup without an
// error that kafka-go reports while it is not yet the group's coordinator, or is still loading
// the group, and then restores the member when it has loaded it. DescribeGroups does report
// those states, so the ID counts as gone only once the loaded group is seen without it.
func (g *Group) leave(ctx context.Context, memberID string, log *slog.Logger) (gone bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(g.cfg.Brokers...), Transport: transport}
	notYet := func(err error) (bool, error) {
		log.Debug("cannot remove the member's previous ID from the group yet", "member", memberID, "error", err)
		return false, err
	}
	desc, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{g.cfg.GroupID}})
	switch {
	case err != nil:
		return notYet(err)
	case len(desc.Groups) != 1:
		return notYet(fmt.Errorf("described %d groups", len(desc.Groups)))
	case desc.Groups[0].Error != nil:
		return notYet(desc.Groups[0].Error)
	case !slices.ContainsFunc(desc.Groups[0].Members, func(m kafka.DescribeGroupsResponseMember) bool { return m.MemberID == memberID }):
		return true, nil
	}
	res, err := client.LeaveGroup(ctx, &kafka.LeaveGroupRequest{
		GroupID: g.cfg.GroupID,
		Members: []kafka.LeaveGroupRequestMember{{ID: memberID}},
	})
	if err == nil {
		err = res.Error
		for _, m := range res.Members {
			err = cmp.Or(err, m.Error)
		}
	}
	switch {
	case err == nil:
		log.Info("removed the member's previous ID from the group", "member", memberID)
		return true, nil
	case errors.Is(err, kafka.UnknownMemberId), errors.Is(err, kafka.GroupIdNotFound):
		return true, nil
	default:
		return notYet(err)
	}
}

// runGeneration consumes the generation's partitions until it ends or ctx is done. At
// shutdown the generation is kept until every partition has committed its work in hand:
// kafka-go ends a generation, and stops its heartbeats, as soon as any function started in it
// returns, so a partition with nothing in hand would otherwise let the session expire under
// one still finishing, whose commit the coordinator would then refuse. Closing the group
// before the generation ends also makes the member leave instead of joining once more.
func (g *Group) runGeneration(ctx context.Context, group *kafka.ConsumerGroup, gen *kafka.Generation, log *slog.Logger) {
	assigned := gen.Assignments[g.cfg.Topic]
	partitions := make([]int, len(assigned))
	for i, a := range assigned {
		partitions[i] = a.ID
	}
	log.Info("joined consumer group", "generation", gen.ID, "member", gen.MemberID, "partitions", partitions)
	g.joined.Store(true)
	done := make(chan struct{})
	var finishing sync.WaitGroup
	owned := make(map[int]*position, len(assigned))
	unknown := make(map[int]bool, len(assigned)) // none caught up until its lag is read
	for _, a := range assigned {
		owned[a.ID] = newPosition(a.Offset)
		unknown[a.ID] = false
	}
	g.see(gen.ID, unknown)
	for _, a := range assigned {
		finishing.Add(1)
		gen.Start(func(genCtx context.Context) {
			g.consumePartition(ctx, genCtx, gen, a, owned[a.ID], log.With("partition", a.ID))
			finishing.Done()
			if ctx.Err() != nil {
				<-genCtx.Done() // shutting down: hold the generation until the group is closed
			}
		})
	}
	if len(owned) > 0 {
		// Like every function Start runs, it returns only when the generation ends: one
		// that returns ends the generation.
		gen.Start(func(genCtx context.Context) { g.reportLag(genCtx, gen.ID, owned, log) })
	}
	if len(assigned) == 0 {
		// Hold the generation until it ends, so Next is not called in a loop.
		gen.Start(func(genCtx context.Context) { <-genCtx.Done() })
	}
	gen.Start(func(genCtx context.Context) {
		<-genCtx.Done()
		close(done)
	})
	select {
	case <-done:
	case <-ctx.Done():
		finishing.Wait()
		_ = group.Close() // ends the generation and leaves the group
		<-done
	}
	g.leftAt.Store(time.Now().UnixNano())
	g.joined.Store(false)
	g.see(-1, nil)
	log.Info("consumer group generation ended", "generation", gen.ID)
}

// Partitions returns the partitions the member owns in the generation under way, each with
// whether it had nothing left to handle (its end reached and committed) at the last reading
// of its lag, every second; none outside a generation. The report of incomplete recordings
// goes by it: a partition not caught up may hold the rest of a recording's signals.
func (g *Group) Partitions() map[int]bool {
	g.view.Lock()
	defer g.view.Unlock()
	return maps.Clone(g.view.partitions)
}

// see sets the view of the partitions as generation gen starts (gen -1, and nil, as one
// ends).
func (g *Group) see(gen int32, partitions map[int]bool) {
	g.view.Lock()
	defer g.view.Unlock()
	g.view.gen, g.view.partitions = gen, partitions
}

// seeLag sets the view of generation gen's partitions from a reading of their lag, unless
// that generation has ended meanwhile.
func (g *Group) seeLag(gen int32, partitions map[int]bool) {
	g.view.Lock()
	defer g.view.Unlock()
	if gen == g.view.gen {
		g.view.partitions = partitions
	}
}

// backoffInitial is the first wait of a backoff.
const backoffInitial = 100 * time.Millisecond

// backoff yields waits that double from backoffInitial up to a cap, each drawn at random from
// the upper half of its step: the n-th wait is in [d/2, d], d = min(backoffInitial·2ⁿ⁻¹, cap).
// No wait exceeds the cap, and members that failed together do not retry together.
type backoff struct {
	limit time.Duration // the cap
	step  time.Duration
}

func newBackoff(limit time.Duration) *backoff { return &backoff{limit: limit} }

// next returns the wait before the next attempt.
func (b *backoff) next() time.Duration {
	d := min(b.limit, max(b.step, backoffInitial))
	b.step = min(b.limit, 2*d)
	return d/2 + rand.N(d/2+1)
}

// reset starts the waits over from backoffInitial.
func (b *backoff) reset() { b.step = 0 }

func partitionLabel(p int) string { return strconv.Itoa(p) }

var errStopped = errors.New("partition stopped")
