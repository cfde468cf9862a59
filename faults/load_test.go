//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/stack"
)

// What became of a sentence a client sent, as the client heard it.
type outcome int

const (
	enqueued    outcome = iota // "enqueued": must be answered exactly once
	refused                    // "queue unavailable" (with or without a job): must never reach the model
	unconfirmed                // "not confirmed": may or may not be answered
	full                       // "queue is full!" or "busy": nothing was queued
	rpcFailed                  // the call failed (front door gone): unknown
)

// sent is one sentence and what the client heard.
type sent struct {
	conv     uuid.UUID
	sentence string
	outcome  outcome
	job      string
}

// clients send sentences on their conversations through the live front doors, each every
// interval, until stopped, and remember what they heard.
type clients struct {
	s    *system
	stop chan struct{}
	wg   sync.WaitGroup

	mu   sync.Mutex
	sent []sent
}

// The clients' pace: each conversation sends more slowly than the model answers (300 ms), so
// its jobs do not pile up, as a person's do not; together they keep every dispatcher busy.
const (
	clientConversations = 10
	sendEvery           = 500 * time.Millisecond
)

func (s *system) startClients() *clients {
	c := &clients{s: s, stop: make(chan struct{})}
	for i := range clientConversations {
		conv := s.newConversation()
		c.wg.Go(func() { c.run(i, conv) })
	}
	return c
}

// client returns a Connect client of front door f.
func client(f *proc) elizav1connect.ElizaServiceClient {
	return elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+f.rpc)
}

func (c *clients) run(i int, conv uuid.UUID) {
	tick := time.NewTicker(sendEvery)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		doors := c.s.liveFrontdoors()
		if len(doors) == 0 {
			continue
		}
		text := fmt.Sprintf("conversation %d sentence %d", i, n)
		r := send(context.Background(), doors[n%len(doors)], conv, text)
		c.mu.Lock()
		c.sent = append(c.sent, r)
		c.mu.Unlock()
	}
}

// send sends one sentence and classifies the answer.
func send(ctx context.Context, f *proc, conv uuid.UUID, text string) sent {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r := sent{conv: conv, sentence: text, outcome: rpcFailed}
	res, err := client(f).Send(ctx, connect.NewRequest(&elizav1.SendRequest{ConversationId: conv.String(), Sentence: text}))
	if err != nil {
		return r
	}
	r.job = res.Msg.GetJobId()
	switch kind, msg := res.Msg.GetKind(), res.Msg.GetSentence(); {
	case kind == elizav1.QueueConversationResponse_KIND_ENQUEUED:
		r.outcome = enqueued
	case kind == elizav1.QueueConversationResponse_KIND_QUEUE_FULL:
		r.outcome = full
	case msg == frontdoor.TextUnconfirmed:
		r.outcome = unconfirmed
	default:
		r.outcome = refused
	}
	return r
}

// halt stops the clients and returns everything they sent.
func (c *clients) halt() []sent {
	close(c.stop)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

// recovered is how long after a fault was healed each part of the system worked again.
type recovered struct {
	// serving: Kafka leads every partition of the dispatchers' topics and its coordinator
	// has loaded both of their groups, so a join can succeed (a broker resumed after a stall
	// is fenced by its controller first, and serves again only when it has re-registered).
	serving time.Duration
	// ready: every live dispatcher's /readyz answers 200 (in its groups, Postgres answering).
	ready time.Duration
	// cdc: a complete recording inserted then is processed; conv: a sentence sent then is
	// enqueued and answered.
	cdc, conv time.Duration
}

// recovery measures how long after healed the system works again.
func (s *system) recovery(healed time.Time) recovered {
	s.t.Helper()
	var r recovered
	var wg sync.WaitGroup
	readyDone := make(chan struct{})
	wg.Go(func() { r.serving = s.probeServing(healed, readyDone) })
	wg.Go(func() {
		defer close(readyDone)
		r.ready = s.probeReady(healed)
	})
	wg.Go(func() { r.cdc = s.probeRecording(healed) })
	wg.Go(func() { r.conv = s.probeConversation(healed) })
	wg.Wait()
	return r
}

// readyClient asks the dispatchers whether they are ready; a hung one is not.
var readyClient = &http.Client{Timeout: 2 * time.Second}

// probeReady returns when every live dispatcher's /readyz answers 200, as time since healed.
func (s *system) probeReady(healed time.Time) time.Duration {
	deadline := time.Now().Add(probeDeadline)
	for {
		s.mu.Lock()
		var admins []string
		for _, d := range s.dispatchers {
			if !d.dead {
				admins = append(admins, d.admin)
			}
		}
		s.mu.Unlock()
		ready := true
		for _, admin := range admins {
			res, err := readyClient.Get("http://" + admin + "/readyz")
			if err == nil {
				_ = res.Body.Close()
			}
			ready = ready && err == nil && res.StatusCode == http.StatusOK
		}
		if ready {
			return time.Since(healed)
		}
		if time.Now().After(deadline) {
			s.t.Errorf("dispatchers not ready within %s", probeDeadline)
			return probeDeadline
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rejoin is how long after Kafka served their groups the dispatchers were all ready.
func (r recovered) rejoin() time.Duration { return max(0, r.ready-r.serving) }

// probeServing returns when Kafka could take the dispatchers back for good, as time since
// healed: from then on, until readyDone is closed, every partition of their topics had a
// leader and the coordinator described both of their groups without an error (not
// NOT_COORDINATOR, not COORDINATOR_LOAD_IN_PROGRESS). A broker resumed after a stall answers
// at once and is fenced by its controller a moment later, so the first good answer is not it.
func (s *system) probeServing(healed time.Time, readyDone <-chan struct{}) time.Duration {
	deadline := time.Now().Add(probeDeadline)
	var since time.Time // zero while Kafka does not serve
	for {
		err := s.kafkaServes()
		switch {
		case err != nil:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		}
		select {
		case <-readyDone:
			if !since.IsZero() {
				return since.Sub(healed)
			}
		default:
		}
		if time.Now().After(deadline) {
			s.t.Errorf("Kafka not serving the dispatchers' groups within %s: %v", probeDeadline, err)
			return probeDeadline
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kafkaServes asks Kafka, on connections of its own, whether it serves the dispatchers.
func (s *system) kafkaServes() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(s.ep.KafkaBrokers...), Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.jobs, signalTopic}})
	if err != nil {
		return err
	}
	for _, topic := range md.Topics {
		if topic.Error != nil {
			return fmt.Errorf("%s: %w", topic.Name, topic.Error)
		}
		for _, p := range topic.Partitions {
			if p.Error != nil || p.Leader.ID < 0 {
				return fmt.Errorf("%s[%d] has no leader: %v", topic.Name, p.ID, p.Error)
			}
		}
	}
	desc, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{s.llmGroup, s.signalGroup}})
	if err != nil {
		return err
	}
	for _, g := range desc.Groups {
		if g.Error != nil {
			return fmt.Errorf("group %s: %w", g.GroupID, g.Error)
		}
	}
	return nil
}

// probeDeadline bounds a probe: past it the scenario fails.
const probeDeadline = 3 * time.Minute

// probeRecording inserts a complete recording (the README's insert by hand, retried until Postgres
// takes it) and returns when it has been processed, as time since healed.
func (s *system) probeRecording(healed time.Time) time.Duration {
	recording := uuid.New()
	deadline := time.Now().Add(probeDeadline)
	for {
		_, err := s.db.Exec(context.Background(), stack.HandInsert, recording)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.t.Errorf("probe recording: not inserted within %s: %v", probeDeadline, err)
			return probeDeadline
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		var done bool
		err := s.db.QueryRow(context.Background(),
			`SELECT EXISTS (SELECT FROM dispatcher.processed_recording WHERE recording = $1)`, recording).Scan(&done)
		if err == nil && done {
			return time.Since(healed)
		}
		if time.Now().After(deadline) {
			s.t.Errorf("probe recording %s: not processed within %s (%v)", recording, probeDeadline, err)
			return probeDeadline
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probeConversation sends a sentence until one is enqueued and returns when it has been
// answered, as time since healed.
func (s *system) probeConversation(healed time.Time) time.Duration {
	conv := s.newConversation()
	deadline := time.Now().Add(probeDeadline)
	var job string
	for n := 0; job == ""; n++ {
		if doors := s.liveFrontdoors(); len(doors) > 0 {
			if r := send(context.Background(), doors[n%len(doors)], conv, fmt.Sprintf("probe %d", n)); r.outcome == enqueued {
				job = r.job
			}
		}
		if job == "" && time.Now().After(deadline) {
			s.t.Errorf("probe sentence: nothing enqueued within %s", probeDeadline)
			return probeDeadline
		}
		if job == "" {
			time.Sleep(200 * time.Millisecond)
		}
	}
	for {
		var answered bool
		err := s.db.QueryRow(context.Background(),
			`SELECT EXISTS (SELECT FROM transcript.event WHERE conversation = $1 AND job = $2 AND kind = 'reply')`,
			conv, job).Scan(&answered)
		if err == nil && answered {
			return time.Since(healed)
		}
		if time.Now().After(deadline) {
			s.t.Errorf("probe job %s: not answered within %s (%v)", job, probeDeadline, err)
			return probeDeadline
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cdcResult is what became of the recordings inserted during the scenario.
type cdcResult struct {
	complete, processed int
	lost, ghosts, dups  []uuid.UUID
	// refusedTwice counts the dispatchers' batches that failed on processed_recording's
	// primary key: a second process_record of a recording, whose audit row rolled back with it.
	refusedTwice int
}

// checkRecordings waits until every complete recording inserted since the scenario began is
// processed (or settle runs out), then compares, in one snapshot: complete by SQL, processed,
// and how often process_record ran for each (the audit, and the dispatchers' logs for a run
// the primary key refused).
func (s *system) checkRecordings(settle time.Duration) cdcResult {
	s.t.Helper()
	var r cdcResult
	deadline := time.Now().Add(settle)
	for {
		r = cdcResult{}
		err := s.db.QueryRow(s.t.Context(), `
			WITH recent AS (
			    SELECT DISTINCT recording FROM datastore.signal WHERE inserted_at >= $1
			), complete AS (
			    SELECT r.recording FROM recent r
			    WHERE EXISTS (SELECT FROM datastore.signal s WHERE s.recording = r.recording AND s.sensor_type = 'eeg'
			                  AND s.channels @> $2::text[] AND cardinality(s.channels) = (SELECT count(DISTINCT c) FROM unnest(s.channels) c))
			      AND EXISTS (SELECT FROM datastore.signal s WHERE s.recording = r.recording AND s.sensor_type = 'accelerometer'
			                  AND s.channels @> $3::text[] AND cardinality(s.channels) = (SELECT count(DISTINCT c) FROM unnest(s.channels) c))
			), done AS (
			    SELECT p.recording FROM dispatcher.processed_recording p JOIN recent USING (recording)
			), audited AS (
			    SELECT a.recording, count(*) AS n FROM faults.process_audit a JOIN recent USING (recording) GROUP BY a.recording
			)
			SELECT (SELECT count(*) FROM complete), (SELECT count(*) FROM done),
			    coalesce((SELECT array_agg(recording) FROM (SELECT recording FROM complete EXCEPT SELECT recording FROM done) m), '{}'),
			    coalesce((SELECT array_agg(recording) FROM (SELECT recording FROM done EXCEPT SELECT recording FROM complete) x), '{}'),
			    coalesce((SELECT array_agg(recording) FROM audited WHERE n > 1), '{}')`,
			s.since, []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}, []string{"x", "y", "z"}).
			Scan(&r.complete, &r.processed, &r.lost, &r.ghosts, &r.dups)
		if err != nil {
			s.t.Fatalf("compare recordings: %v", err)
		}
		if len(r.lost) == 0 || time.Now().After(deadline) {
			for _, d := range s.dispatchers {
				r.refusedTwice += strings.Count(d.Output(), "processed_recording_pkey")
			}
			return r
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// convResult is what became of the sentences the clients sent.
type convResult struct {
	enqueued, refused, unconfirmed, full, failed int
	// unanswered and twice are enqueued jobs with no outcome, or more than one; ghosts are
	// refused sentences (or sentences told "queue is full!") the model was asked, or refused
	// jobs with events.
	unanswered, twice, ghosts []string
	modelCalls, extraCalls    int
}

// checkConversations waits until every enqueued job has its outcome (or settle runs out),
// then checks that each has exactly one and that no refused sentence reached the model.
func (s *system) checkConversations(sents []sent, settle time.Duration) convResult {
	s.t.Helper()
	var r convResult
	var enqueuedJobs, refusedJobs []uuid.UUID
	refusedText := map[string]bool{}
	for _, x := range sents {
		switch x.outcome {
		case enqueued:
			r.enqueued++
			enqueuedJobs = append(enqueuedJobs, uuid.MustParse(x.job))
		case refused:
			r.refused++
			refusedText[x.sentence] = true
			if x.job != "" {
				refusedJobs = append(refusedJobs, uuid.MustParse(x.job))
			}
		case unconfirmed:
			r.unconfirmed++
		case full:
			r.full++
			refusedText[x.sentence] = true // "queue is full!" too: never to be answered
		case rpcFailed:
			r.failed++
		}
	}
	outcomes := map[uuid.UUID]int{}
	for deadline := time.Now().Add(settle); ; time.Sleep(500 * time.Millisecond) {
		rows, _ := s.db.Query(s.t.Context(), `
			SELECT job, count(*) FROM transcript.event WHERE job = ANY($1) AND kind <> 'accepted' GROUP BY job`, enqueuedJobs)
		clear(outcomes)
		var job uuid.UUID
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&job, &n}, func() error { outcomes[job] = n; return nil }); err != nil {
			s.t.Fatalf("read outcomes: %v", err)
		}
		if len(outcomes) == len(enqueuedJobs) || time.Now().After(deadline) {
			break
		}
	}
	for _, job := range enqueuedJobs {
		switch outcomes[job] {
		case 0:
			r.unanswered = append(r.unanswered, job.String())
		case 1:
		default:
			r.twice = append(r.twice, job.String())
		}
	}
	var ghostEvents int
	if err := s.db.QueryRow(s.t.Context(), `SELECT count(*) FROM transcript.event WHERE job = ANY($1)`, refusedJobs).Scan(&ghostEvents); err != nil {
		s.t.Fatalf("read refused jobs' events: %v", err)
	}
	if ghostEvents > 0 {
		r.ghosts = append(r.ghosts, fmt.Sprintf("%d events of refused jobs", ghostEvents))
	}
	asked := map[string]int{}
	for _, req := range s.model.Requests() {
		asked[req.LastUser()]++
	}
	r.modelCalls = len(s.model.Requests())
	for text, n := range asked {
		r.extraCalls += n - 1
		if refusedText[text] {
			r.ghosts = append(r.ghosts, "the model was asked the refused sentence "+text)
		}
	}
	return r
}
