package frontdoor

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/beacon/eventdispatch/internal/access"
)

// Metrics are the front door's Prometheus instruments. Create them once per registry.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	openStreams *prometheus.GaugeVec
}

// NewMetrics registers the front door's instruments with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frontdoor_rpc_requests_total",
			Help: "RPCs handled, by procedure and Connect code (ok when there was no error).",
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "frontdoor_rpc_duration_seconds",
			Help:    "Time from the start of an RPC to its end; for streams, the life of the stream.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120, 600},
		}, []string{"procedure"}),
		openStreams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "frontdoor_rpc_open_streams",
			Help: "Streaming RPCs currently open, by procedure.",
		}, []string{"procedure"}),
	}
	reg.MustRegister(m.requests, m.duration, m.openStreams)
	return m
}

// served exports the files' procedures at zero, so that a query before the first call
// finds 0, not nothing: each procedure's successful calls and its times (its other codes
// appear with their first call), and each stream's count of those open.
func (m *Metrics) served(files []protoreflect.FileDescriptor) {
	for _, procedure := range procedures(anyMethod, files...) {
		m.requests.WithLabelValues(procedure, "ok")
		m.duration.WithLabelValues(procedure)
	}
	for _, procedure := range procedures(streaming, files...) {
		m.openStreams.WithLabelValues(procedure)
	}
}

// Stages of admitting a queued sentence, as AdmissionMetrics labels them.
const (
	// StageReserve takes the sentence's slot in its conversation (the transcript's Reserve).
	StageReserve = "reserve"
	// StageEnqueue writes the job to Kafka and waits for the write to be acknowledged.
	StageEnqueue = "enqueue"
	// StageAccept records the job's Accepted event in the transcript (Accept).
	StageAccept = "accept"
	// StageRefuse settles a job whose Kafka write failed (the transcript's Refuse).
	StageRefuse = "refuse"
)

// AdmissionStages lists the stages in the order they run; a refusal takes the Accept's place
// when the Kafka write failed.
func AdmissionStages() []string {
	return []string{StageReserve, StageEnqueue, StageAccept, StageRefuse}
}

// Admission outcomes of a queued sentence (frontdoor_sentences_total).
const (
	// OutcomeEnqueued: in Kafka, the client told "enqueued".
	OutcomeEnqueued = "enqueued"
	// OutcomeQueueFull: its conversation had QUEUE_LIMIT jobs unanswered ("queue is full!").
	OutcomeQueueFull = "queue_full"
	// OutcomeBusy: the front door had MAX_INFLIGHT sentences in hand ("the server is busy").
	OutcomeBusy = "busy"
	// OutcomeOverQuota: its client's quota refused it.
	OutcomeOverQuota = "over_quota"
	// OutcomeInvalid: empty, too long or not UTF-8.
	OutcomeInvalid = "invalid"
	// OutcomeUnavailable: the transcript or Kafka failed it ("queue unavailable").
	OutcomeUnavailable = "unavailable"
	// OutcomeLeft: its client cancelled the call before it was in Kafka, or its stream was
	// ended then because its token was revoked or its client disabled, and it was settled as
	// never to be answered: nothing failed. (A client whose deadline passed meanwhile counts
	// as unavailable: the queue was too slow for it.)
	OutcomeLeft = "left"
	// OutcomeUnconfirmed: its Kafka write failed and could not be settled: it may still be
	// answered.
	OutcomeUnconfirmed = "unconfirmed"
	// OutcomeNotFound: its conversation is unknown, has expired, or is not the one its client
	// saw (SendRequest.after_serial).
	OutcomeNotFound = "not_found"
	// OutcomeDraining: sent on a QueueConversation stream after its front door began to shut
	// down, and refused (TextDraining), for the client to send it again where it resumes.
	OutcomeDraining = "draining"
)

// SentenceOutcomes lists every admission outcome.
func SentenceOutcomes() []string {
	return []string{OutcomeEnqueued, OutcomeQueueFull, OutcomeBusy, OutcomeOverQuota, OutcomeInvalid, OutcomeUnavailable, OutcomeLeft, OutcomeUnconfirmed, OutcomeNotFound, OutcomeDraining}
}

// AdmissionMetrics time the admission of a queued sentence, whole and stage by stage,
// whichever RPC brought it (QueueConversation, Send): what a client waits for "enqueued", and
// where that time went, which the time of a stream as a whole cannot tell. They also count
// the conversations' streams the server ended, by why: the RPC's code (unavailable) is the
// same for a transcript that cannot be read and for a front door shutting down, and only the
// first is a fault. Create them once per registry.
type AdmissionMetrics struct {
	whole prometheus.Histogram
	// stages holds each stage's series, looked up once here rather than by label on every
	// admission; it is not written after NewAdmissionMetrics.
	stages map[string]prometheus.Observer
	// ended holds each reason's counter of streams ended (EndTranscriptUnavailable,
	// EndDraining).
	ended map[string]prometheus.Counter
	// sentences holds each outcome's counter of sentences admitted or refused.
	sentences map[string]prometheus.Counter
}

// Why the server ended a conversation's stream (frontdoor_conversation_streams_ended_total).
const (
	// EndTranscriptUnavailable: the transcript could not be read or written.
	EndTranscriptUnavailable = "transcript_unavailable"
	// EndDraining: the front door is shutting down (Service.Drain).
	EndDraining = "draining"
)

// NewAdmissionMetrics registers the admission's instruments with reg.
func NewAdmissionMetrics(reg prometheus.Registerer) *AdmissionMetrics {
	buckets := []float64{.0005, .001, .002, .005, .01, .015, .02, .025, .035, .05, .1, .25, .5, 1, 2.5, 5}
	whole := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "frontdoor_admission_seconds",
		Help: "Time to admit a queued sentence, whichever RPC brought it, from its Reserve to its Accept or its refusal: " +
			"what a client waits for \"enqueued\", less the network. Sentences refused before the transcript (invalid, busy, over quota) are not counted.",
		Buckets: buckets,
	})
	stages := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "frontdoor_admission_stage_seconds",
		Help: "Time each stage of admitting a queued sentence took, whatever its result: reserve (its slot in the transcript), " +
			"enqueue (the Kafka write, until acknowledged), accept (its Accepted event in the transcript), " +
			"refuse (settling a job whose Kafka write failed).",
		Buckets: buckets,
	}, []string{"stage"})
	ended := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "frontdoor_conversation_streams_ended_total",
		Help: "QueueConversation and Watch streams the server ended with unavailable, for the client to resume, by reason: " +
			EndTranscriptUnavailable + " (the transcript could not be read or written: a fault), " +
			EndDraining + " (the front door is shutting down).",
	}, []string{"reason"})
	sentences := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "frontdoor_sentences_total",
		Help: "Queued sentences, whichever RPC brought them (a stream brings many), by admission outcome: " +
			strings.Join(SentenceOutcomes(), ", ") + ".",
	}, []string{"outcome"})
	m := &AdmissionMetrics{whole: whole, stages: map[string]prometheus.Observer{}, ended: map[string]prometheus.Counter{},
		sentences: map[string]prometheus.Counter{}}
	for _, stage := range AdmissionStages() {
		m.stages[stage] = stages.WithLabelValues(stage) // every stage is exported from the start, at zero
	}
	for _, reason := range []string{EndTranscriptUnavailable, EndDraining} {
		m.ended[reason] = ended.WithLabelValues(reason) // so is every reason
	}
	for _, outcome := range SentenceOutcomes() {
		m.sentences[outcome] = sentences.WithLabelValues(outcome) // and every outcome
	}
	reg.MustRegister(whole, stages, ended, sentences)
	return m
}

// sentence counts a queued sentence's admission outcome; m may be nil.
func (m *AdmissionMetrics) sentence(outcome string) {
	if m != nil {
		m.sentences[outcome].Inc()
	}
}

// streamEnded counts a conversation's stream the server ended for reason; m may be nil.
func (m *AdmissionMetrics) streamEnded(reason string) {
	if m != nil {
		m.ended[reason].Inc()
	}
}

// admitted records an admission that began at start and has just ended; m may be nil.
func (m *AdmissionMetrics) admitted(start time.Time) {
	if m != nil {
		m.whole.Observe(time.Since(start).Seconds())
	}
}

// since records that stage ran from start until now; m may be nil, which records nothing.
func (m *AdmissionMetrics) since(stage string, start time.Time) {
	if m != nil {
		m.stages[stage].Observe(time.Since(start).Seconds())
	}
}

// observer is a Connect interceptor that counts, times and logs every call the server handles.
type observer struct {
	metrics *Metrics
	log     *slog.Logger
	refused refusedLines
}

// RefusedLogEvery is how often at most the calls of one address (its host, whatever the
// port) refused for their credentials are logged at info. A client retrying a bad token, or
// someone guessing tokens, would otherwise write a line a call: its calls between are logged
// at debug, counted in frontdoor_rpc_requests_total, and its next info line says how many
// there were. Other addresses keep their lines.
const RefusedLogEvery = time.Second

// refusedHosts bounds the addresses refusedLines follows: past it, the hosts not yet
// followed share one allowance.
const refusedHosts = 1024

// refusedLines decides which refusals of credentials get their info line, by host.
type refusedLines struct {
	mu    sync.Mutex
	hosts map[string]*refusedHost
}

type refusedHost struct {
	last     time.Time // of its last info line
	unlogged int       // refusals since, at debug
}

// take reports whether a refusal of a call from peer (host:port) at now gets an info line
// and, when it does, how many of the host's refusals since its last one did not.
func (r *refusedLines) take(peer string, now time.Time) (bool, int) {
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hosts == nil {
		r.hosts = map[string]*refusedHost{}
	}
	h := r.hosts[host]
	if h == nil {
		if len(r.hosts) >= refusedHosts {
			r.forget(now)
		}
		if len(r.hosts) >= refusedHosts {
			host = "" // every host not followed, together
		}
		if h = r.hosts[host]; h == nil {
			h = &refusedHost{}
			r.hosts[host] = h
		}
	}
	if !h.last.IsZero() && now.Sub(h.last) < RefusedLogEvery {
		h.unlogged++
		return false, 0
	}
	n := h.unlogged
	h.last, h.unlogged = now, 0
	return true, n
}

// forget drops the hosts whose next refusal would be logged at info with nothing to count.
func (r *refusedLines) forget(now time.Time) {
	for host, h := range r.hosts {
		if h.unlogged == 0 && now.Sub(h.last) >= RefusedLogEvery {
			delete(r.hosts, host)
		}
	}
}

func (o *observer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		o.done(ctx, req.Spec().Procedure, req.Peer().Addr, start, err, false)
		return res, err
	}
}

func (o *observer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next // the front door is a server; its clients are observed elsewhere
}

func (o *observer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		procedure := conn.Spec().Procedure
		open := o.metrics.openStreams.WithLabelValues(procedure)
		open.Inc()
		defer open.Dec()
		start := time.Now()
		read := &readConn{StreamingHandlerConn: conn}
		err := next(ctx, read)
		o.done(ctx, procedure, conn.Peer().Addr, start, err, read.failedWith(err))
		return err
	}
}

// readConn is a stream's connection that notes the first error of reading its client's
// messages other than their end (a message that cannot be read: an envelope cut short, a
// compressed one without the compression named, one too large), and, for a server stream,
// whether its one request was read.
type readConn struct {
	connect.StreamingHandlerConn
	failed   atomic.Pointer[error]
	messages atomic.Int32
	ended    atomic.Bool
}

func (c *readConn) Receive(msg any) error {
	err := c.StreamingHandlerConn.Receive(msg)
	switch {
	case err == nil:
		c.messages.Add(1)
	case errors.Is(err, io.EOF):
		c.ended.Store(true)
	default:
		c.failed.CompareAndSwap(nil, &err)
	}
	return err
}

// failedWith reports whether err, the handler's, is the error of reading its client's
// messages: one a Receive returned, or, on a server stream, connect's own for a request
// missing or repeated ("unary request has zero messages", unimplemented). An error before
// any Receive (a token that cannot be checked, say) is not one.
func (c *readConn) failedWith(err error) bool {
	if err == nil {
		return false
	}
	if failed := c.failed.Load(); failed != nil && errors.Is(err, *failed) {
		return true
	}
	n := c.messages.Load()
	return c.Spec().StreamType == connect.StreamTypeServer && (n == 0 && c.ended.Load() || n > 1)
}

// done counts, times and logs a call that ended with err. unreadable says that err is the
// error of reading what the client sent: whatever its code (an envelope cut short is
// internal, an unknown compression unimplemented), no fault of the server's, so logged at
// info at most, as unread logs a unary call's.
func (o *observer) done(ctx context.Context, procedure, peer string, start time.Time, err error, unreadable bool) {
	markObserved(ctx)
	elapsed := time.Since(start)
	o.metrics.duration.WithLabelValues(procedure).Observe(elapsed.Seconds())
	o.settled(ctx, procedure, peer, elapsed, err, unreadable)
}

// settled counts and logs a call that ended with err after elapsed: done's, and unread's,
// which are counted but not timed.
func (o *observer) settled(ctx context.Context, procedure, peer string, elapsed time.Duration, err error, unreadable bool) {
	code, level, credentials := outcome(ctx, err)
	if unreadable {
		level = min(level, slog.LevelInfo)
	}
	o.metrics.requests.WithLabelValues(procedure, code).Inc()
	if !credentials {
		o.log.Log(ctx, level, "rpc", "procedure", procedure, "code", code, "took", elapsed, "error", err)
		return
	}
	// Where the call came from is the trail; the error names no token.
	attrs := []any{"procedure", procedure, "code", code, "took", elapsed, "error", err, "peer", peer}
	switch logged, unlogged := o.refused.take(peer, time.Now()); {
	case !logged:
		level = slog.LevelDebug
	case unlogged > 0:
		attrs = append(attrs, "refused_at_debug_since", unlogged)
	}
	o.log.Log(ctx, level, "rpc", attrs...)
}

// outcome is how a call that ended with err is counted (its code) and logged (the level), and
// whether it was refused for its credentials.
func outcome(ctx context.Context, err error) (code string, level slog.Level, credentials bool) {
	switch ended := callerEnded(ctx, err); {
	case errors.Is(err, errBodyTooSlow) || errors.Is(err, errBodyTooLong):
		// The front door shutting down, or a body that did not come in time, whatever became
		// of the call's context since: over HTTP/1.1, the read given up ends it.
		return connect.CodeOf(err).String(), slog.LevelInfo, false
	case ended == connect.CodeCanceled:
		// The caller went away: how a client ends a Watch or a Converse it is done with, and
		// nothing the server did wrong (the handler's own error, if any, came of it).
		return ended.String(), slog.LevelDebug, false
	case ended != 0:
		// The caller's deadline passed: what the client sees, and worth a line, as a server
		// too slow for its callers' deadlines looks like this.
		return ended.String(), slog.LevelInfo, false
	case err == nil:
		return "ok", slog.LevelDebug, false
	case errors.Is(err, ErrDraining):
		return connect.CodeOf(err).String(), slog.LevelInfo, false // the front door shutting down, not a fault
	case serverFault(err):
		return connect.CodeOf(err).String(), slog.LevelWarn, false
	case connect.CodeOf(err) == connect.CodeUnauthenticated || connect.CodeOf(err) == connect.CodePermissionDenied:
		// Credentials refused: a trail for whoever looks into a leaked or guessed token (the
		// error names no token; done adds where the call came from, and bounds the lines).
		return connect.CodeOf(err).String(), slog.LevelInfo, true
	default:
		return connect.CodeOf(err).String(), slog.LevelDebug, false
	}
}

// callerEnded returns DeadlineExceeded or Canceled when a failed call ended because the
// call's own context did (the client's deadline, grpc-timeout or Connect-Timeout-Ms, passed,
// or the client went away), and 0 otherwise. A deadline that passed before the handler ran
// reaches the observer as a bare context error, which connect would count as unknown. A
// timeout of the server's own (a context derived inside the handler) leaves the call's
// context alive, and stays the server's.
func callerEnded(ctx context.Context, err error) connect.Code {
	if err == nil {
		return 0
	}
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return connect.CodeDeadlineExceeded
	case context.Canceled:
		return connect.CodeCanceled
	}
	return 0
}

// serverFault reports whether err is the server's problem rather than the caller's, which is
// what deserves a warning in the log.
func serverFault(err error) bool {
	var connectErr *connect.Error
	if !errors.As(err, &connectErr) {
		return true // a bare error reaches the client as Unknown: always worth a look
	}
	switch connectErr.Code() {
	case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss, connect.CodeUnavailable, connect.CodeUnimplemented:
		return true
	default:
		return false
	}
}

// observedKey is the context key under which unread marks a call the observer saw.
type observedKey struct{}

// unread serves h, and counts and logs, as the observer does, each call of a procedure
// (procedure says which paths are) that the observer did not see: connect reads a unary
// call's request before it runs the interceptors, so a call whose request could not be read
// (malformed, too large, its body given up by a drain) failed before them, and went uncounted
// and unlogged; it refuses a call of any kind whose compression it does not know before
// them; and Auth's Gate refuses a unary call whose token it does not admit before them. Its
// outcome is read from the error its response carries: gRPC's and gRPC-Web's status headers,
// a Connect error's JSON body, or, for a streaming call over the Connect protocol, the end of
// the stream when it is the response's first message.
func (o *observer) unread(h http.Handler, procedure func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !procedure(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		var observed atomic.Bool
		ctx := context.WithValue(r.Context(), observedKey{}, &observed)
		ctx, gated := access.NoteRefusals(ctx)
		rec := &errorRecorder{ResponseWriter: w}
		start := time.Now()
		h.ServeHTTP(rec, r.WithContext(ctx))
		if observed.Load() {
			return
		}
		err, ok := rec.err()
		if !ok {
			return
		}
		if gated() {
			// Refused for its token before its request was read (access.Interceptor.Gate):
			// timed, its time the token's lookup, and logged as the observer logs a call, with
			// where it came from, at warn when the token could not be checked.
			o.done(ctx, r.URL.Path, r.RemoteAddr, start, err, false)
			return
		}
		// Counted, not timed: its time is mostly its client's, sending the request, which the
		// calls the observer sees spend before it starts their clocks. Nor is it a fault of the
		// server's, whatever its code: the server was reading what its client sent (a gRPC
		// envelope cut short is internal, an unknown compression unimplemented).
		o.settled(ctx, r.URL.Path, r.RemoteAddr, time.Since(start), err, true)
	})
}

// markObserved notes in ctx, if unread put the place there, that the observer saw its call.
func markObserved(ctx context.Context) {
	if observed, ok := ctx.Value(observedKey{}).(*atomic.Bool); ok {
		observed.Store(true)
	}
}

// errorBodyBytes is as much of an error response's body as errorRecorder keeps: a Connect
// error's JSON is a code and a message.
const errorBodyBytes = 4 << 10

// errorRecorder passes a response on, keeping its status and the start of its body when the
// status says it is an error, or when the response is a Connect stream whose first message
// ends it (which carries the stream's error, if there is one): a stream refused before its
// handler. A stream whose handler sends a message first is not kept, whatever its length.
type errorRecorder struct {
	http.ResponseWriter
	status  int
	body    []byte
	written bool // the body has begun
	ended   bool // the body is a Connect stream that begins with its end
}

func (e *errorRecorder) WriteHeader(status int) {
	if e.status == 0 {
		e.status = status
	}
	e.ResponseWriter.WriteHeader(status)
}

func (e *errorRecorder) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	if !e.written && len(b) > 0 {
		e.written = true
		e.ended = e.status == http.StatusOK && b[0]&connectEndStream != 0 &&
			strings.HasPrefix(e.Header().Get("Content-Type"), "application/connect+")
	}
	if (e.status != http.StatusOK || e.ended) && len(e.body) < errorBodyBytes {
		e.body = append(e.body, b[:min(len(b), errorBodyBytes-len(e.body))]...)
	}
	return e.ResponseWriter.Write(b)
}

// connectEndStream and connectCompressed are the flags of a Connect stream's envelope that
// mark the message ending the stream and one compressed.
const (
	connectCompressed = 0b01
	connectEndStream  = 0b10
)

// connectStreamError reads the error of a Connect stream's end (its envelope: the flags, the
// length, then JSON), and false when it carries none, is compressed, or is not all there.
func connectStreamError(body []byte) (connect.Code, string, bool) {
	if len(body) < 5 || body[0]&connectCompressed != 0 {
		return 0, "", false
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if uint64(len(body)-5) < uint64(n) {
		return 0, "", false
	}
	var end struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	var code connect.Code
	if json.Unmarshal(body[5:5+n], &end) != nil || end.Error == nil || code.UnmarshalText([]byte(end.Error.Code)) != nil {
		return 0, "", false
	}
	return code, end.Error.Message, true
}

// Flush is connect's, which asks for an http.Flusher.
func (e *errorRecorder) Flush() {
	_ = http.NewResponseController(e.ResponseWriter).Flush()
}

// Unwrap is for http.ResponseController.
func (e *errorRecorder) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// err returns the error the response carried, and false when it carried none: a success
// (which the observer sees), or no outcome of a call (a route's 404, a protocol's 415).
func (e *errorRecorder) err() (error, bool) {
	h := e.Header()
	status := h.Get("Grpc-Status")
	message := h.Get("Grpc-Message")
	if status == "" { // a trailer, in a trailers-only gRPC response
		status, message = h.Get(http.TrailerPrefix+"Grpc-Status"), h.Get(http.TrailerPrefix+"Grpc-Message")
	}
	var code connect.Code
	switch {
	case status != "":
		n, err := strconv.ParseUint(status, 10, 32)
		if err != nil {
			return nil, false
		}
		if n == 0 {
			return nil, false // as a success above
		}
		code = connect.Code(n)
		if m, err := url.PathUnescape(message); err == nil { // gRPC percent-encodes it
			message = m
		}
	case e.ended:
		var ok bool
		if code, message, ok = connectStreamError(e.body); !ok {
			return nil, false
		}
	case e.status == http.StatusOK || e.status == 0:
		return nil, false // a success is always observed: this is no call's
	default:
		var body struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(e.body, &body) != nil || code.UnmarshalText([]byte(body.Code)) != nil {
			return nil, false
		}
		message = body.Message
	}
	for _, known := range []*connect.Error{errBodyTooSlow, errBodyTooLong} {
		if code == known.Code() && message == known.Message() {
			return known, true // as itself: how the observer counts and logs it depends on it
		}
	}
	return connect.NewError(code, errors.New(message)), true
}
