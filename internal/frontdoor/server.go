package frontdoor

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/rs/cors"
	"google.golang.org/protobuf/reflect/protoreflect"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	usagev1 "github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1"
	"github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1/usagev1connect"
)

// Options assemble the front door's HTTP handler.
type Options struct {
	// Service answers ElizaService calls. Required.
	Service elizav1connect.ElizaServiceHandler
	// Health reports serving status through grpc.health.v1. Required; the caller flips it to
	// NOT_SERVING when it starts to drain.
	Health grpchealth.Checker
	// Metrics counts and times calls. Required.
	Metrics *Metrics
	// Log receives one line per call: debug for a success or the caller's error, info for a
	// call its caller ended or the drain gave up, or whose request could not be read, warn for
	// a server-side failure.
	Log *slog.Logger
	// AllowedOrigins are the web origins whose pages may call the service (CORS); "*" allows
	// any. Empty: no cross-origin access.
	AllowedOrigins []string
	// Auth, when set, authenticates every ElizaService and UsageService call
	// (access.Authenticator.Interceptor) and puts the client in its context; when it is a
	// Gatekeeper too, its Gate does so for unary calls before their requests are read.
	// Reflection and health stay open.
	Auth connect.Interceptor
	// Usage, when set, serves eventdispatch.usage.v1.UsageService beside ElizaService, behind
	// the same interceptors.
	Usage usagev1connect.UsageServiceHandler
	// Page, when set, answers at "/" and every path no RPC route claims: the chat page
	// (webui.Handler). Nil: those paths are 404.
	Page http.Handler
	// Drain, when set, is closed as the server starts to drain (Service.Draining): the
	// reflection streams still open are ended once every other call has (see endOnDrain),
	// and a response whose
	// client does not take what is written is given up after StuckWriteWait (its connection's
	// writes are CutStuckConns's, on the server's listener).
	Drain <-chan struct{}
	// StuckWriteWait, BodyWait and ReflectionLinger replace the constants of their names
	// when set (tests).
	StuckWriteWait, BodyWait, ReflectionLinger time.Duration
}

// Gatekeeper is an Auth that also sees unary calls before connect reads their requests, as
// HTTP middleware (access.Interceptor).
type Gatekeeper interface {
	// Gate serves h, refusing the unary calls (unary says which paths are) it does not admit.
	Gate(h http.Handler, unary func(path string) bool) http.Handler
}

// compressMinBytes is the smallest response worth compressing for a client that accepts it.
const compressMinBytes = 1 << 10

// NewHandler returns the handler serving ElizaService, gRPC reflection (v1 and v1alpha, so
// grpcurl needs no proto files), gRPC health and, when set, the chat page on one mux.
func NewHandler(opts Options) http.Handler {
	// The observer comes first (outermost), so that refused calls are counted and logged too.
	observe := &observer{metrics: opts.Metrics, log: opts.Log}
	interceptors := []connect.Interceptor{observe}
	if opts.Auth != nil {
		interceptors = append(interceptors, opts.Auth)
	}
	handlerOpts := append(codecs(),
		connect.WithInterceptors(interceptors...),
		connect.WithReadMaxBytes(MaxMessageBytes),
		connect.WithSendMaxBytes(MaxResponseBytes),
		// Answers are a sentence or two: compressing them costs more CPU than it saves bytes.
		connect.WithCompressMinBytes(compressMinBytes),
	)
	mux := http.NewServeMux()
	mux.Handle(elizav1connect.NewElizaServiceHandler(opts.Service, handlerOpts...))
	services := []string{elizav1connect.ElizaServiceName, grpchealth.HealthV1ServiceName}
	observed := []protoreflect.FileDescriptor{elizav1.File_connectrpc_eliza_v1_eliza_proto}
	if opts.Usage != nil {
		mux.Handle(usagev1connect.NewUsageServiceHandler(opts.Usage, handlerOpts...))
		services = append(services, usagev1connect.UsageServiceName)
		observed = append(observed, usagev1.File_eventdispatch_usage_v1_usage_proto)
	}

	opts.Metrics.served(observed)
	every := procedureSet(procedures(anyMethod, observed...))
	calls := &openCalls{}
	linger := cmp.Or(opts.ReflectionLinger, ReflectionLinger)
	reflector := grpcreflect.NewStaticReflector(services...)
	v1Path, v1 := grpcreflect.NewHandlerV1(reflector)
	mux.Handle(v1Path, endOnDrain(v1, opts.Drain, calls, linger))
	alphaPath, alpha := grpcreflect.NewHandlerV1Alpha(reflector)
	mux.Handle(alphaPath, endOnDrain(alpha, opts.Drain, calls, linger))
	mux.Handle(grpchealth.NewHandler(opts.Health))
	if opts.Page != nil {
		mux.Handle("/", opts.Page)
	}
	clientStreams := procedureSet(procedures(protoreflect.MethodDescriptor.IsStreamingClient, observed...))
	streamsRequests := func(path string) bool {
		// Reflection's one method streams requests; endOnDrain ends its streams.
		return clientStreams(path) || strings.HasPrefix(path, v1Path) || strings.HasPrefix(path, alphaPath)
	}
	unaries := procedureSet(procedures(unary, observed...))
	h := badGetMessage(calls.counting(mux, every), unaries)
	if gate, ok := opts.Auth.(Gatekeeper); ok {
		h = servedOnly(gate.Gate(h, unaries), h) // inside unread, which counts and logs its refusals
	}
	return withCORS(endStuckOnDrain(observe.unread(h, every), opts.Drain, cmp.Or(opts.StuckWriteWait, StuckWriteWait), cmp.Or(opts.BodyWait, BodyWait), streamsRequests, opts.Log), opts.AllowedOrigins)
}

// getErrors writes the errors of badGetMessage as connect writes a Connect GET's.
var getErrors = connect.NewErrorWriter()

// badGetMessage answers a Connect GET of a unary procedure (unary says which paths are) whose
// message is marked base64 (base64=1) and is not URL-safe base64 with InvalidArgument, as a
// request body that cannot be read is: connect answers it with unknown (HTTP 500), as if the
// server had failed. Everything else goes to h.
func badGetMessage(h http.Handler, unary func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && unary(r.URL.Path) {
			q := r.URL.Query()
			if q.Get("base64") == "1" {
				msg := q.Get("message")
				enc := base64.URLEncoding // padded, or with no padding needed
				if len(msg)%4 != 0 {
					enc = base64.RawURLEncoding
				}
				if _, err := enc.DecodeString(msg); err != nil {
					_ = getErrors.Write(w, r, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("message (base64=1) is not URL-safe base64: %w", err)))
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// unary and streaming say whether a method streams neither way, or either way.
func unary(m protoreflect.MethodDescriptor) bool { return !streaming(m) }
func streaming(m protoreflect.MethodDescriptor) bool {
	return m.IsStreamingClient() || m.IsStreamingServer()
}

// anyMethod is every method, for procedures.
func anyMethod(protoreflect.MethodDescriptor) bool { return true }

// procedureSet reports whether a path is one of paths.
func procedureSet(paths []string) func(path string) bool {
	set := map[string]bool{}
	for _, path := range paths {
		set[path] = true
	}
	return func(path string) bool { return set[path] }
}

// procedures lists the paths of files' services' methods of which is says true.
func procedures(is func(protoreflect.MethodDescriptor) bool, files ...protoreflect.FileDescriptor) []string {
	var paths []string
	for _, f := range files {
		for i := range f.Services().Len() {
			svc := f.Services().Get(i)
			for j := range svc.Methods().Len() {
				if m := svc.Methods().Get(j); is(m) {
					paths = append(paths, "/"+string(svc.FullName())+"/"+string(m.Name()))
				}
			}
		}
	}
	return paths
}

// ReflectionLinger is how long the reflection streams outlast every other call once the
// server drains (at most a fifth of SHUTDOWN_GRACE in the binaries). grpcurl holds its reflection stream open for the whole of its call, and when
// the call ends with an error, looks up the types of the error's details on it (the drain's
// ErrorInfo): ended with the drain's start, it printed them as base64.
const ReflectionLinger = time.Second

// endOnDrain ends h's requests still open once drain is closed and the service's calls
// (calls) have all ended for linger, by closing their bodies: a reflection stream waits for
// the client's next request, and its read then fails. Without it, a shutdown would wait out
// its grace for any grpcurl still running. A nil drain leaves h as it is.
func endOnDrain(h http.Handler, drain <-chan struct{}, calls *openCalls, linger time.Duration) http.Handler {
	if drain == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-drain:
			case <-done:
				return
			}
			if calls.awaitNone(linger, done) {
				_ = r.Body.Close()
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// openCalls counts the service's calls in progress: ElizaService's and UsageService's, not
// reflection's or health's.
type openCalls struct {
	n       atomic.Int64
	lastEnd atomic.Int64 // when the last call ended, in Unix nanoseconds
}

// counting counts h's requests whose path is one of the service's (of says which).
func (c *openCalls) counting(h http.Handler, of func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if of(r.URL.Path) {
			c.n.Add(1)
			defer func() {
				c.lastEnd.Store(time.Now().UnixNano())
				c.n.Add(-1)
			}()
		}
		h.ServeHTTP(w, r)
	})
}

// awaitNone returns true once no call has been in progress for quiet, or false if stop is
// closed first. It looks every tenth of quiet: it is asked only while the server drains.
func (c *openCalls) awaitNone(quiet time.Duration, stop <-chan struct{}) bool {
	step := max(quiet/10, time.Millisecond)
	tick := time.NewTicker(step)
	defer tick.Stop()
	for c.n.Load() > 0 || time.Since(time.Unix(0, c.lastEnd.Load())) < quiet {
		select {
		case <-stop:
			return false
		case <-tick.C:
		}
	}
	return true
}

// corsMaxAge is how long, in seconds, a browser may keep a preflight's answer.
const corsMaxAge = 2 * 60 * 60

// withCORS lets pages from origins call h with Connect and gRPC-Web: preflights are answered
// with the methods and request headers those protocols use, and responses expose the headers
// their clients read (gRPC-Web's status and message above all: without them a browser's
// client sees "missing trailer"), as connectrpc.com/cors lists them. A request from another
// origin gets no CORS headers, and is otherwise served as any other.
func withCORS(h http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return h
	}
	return sortedRequestHeaders(cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: connectcors.AllowedMethods(),
		// And the two headers a token travels in (AUTH).
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization", "X-Token"),
		// And where a Watch's history ends (HeaderLastSerial).
		ExposedHeaders: append(connectcors.ExposedHeaders(), HeaderLastSerial),
		MaxAge:         corsMaxAge,
	}).Handler(h))
}

// sortedRequestHeaders hands h a preflight's Access-Control-Request-Headers in the form
// browsers send them, lowercase, sorted and without repeats, which is the only order rs/cors
// accepts: a preflight made by hand (curl, a proxy's check) may list them in any. Only a
// preflight's list (Origin and Access-Control-Request-Method present) of a browser's size
// (at most maxAskedHeaders names, maxAskedBytes in all) is rewritten, on a copy of the
// request; a longer one goes on as it came, for rs/cors to judge without the cost of sorting
// it.
func sortedRequestHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked := r.Header.Values("Access-Control-Request-Headers")
		if r.Method != http.MethodOptions || len(asked) == 0 ||
			r.Header.Get("Origin") == "" || r.Header.Get("Access-Control-Request-Method") == "" {
			h.ServeHTTP(w, r)
			return
		}
		size := 0
		for _, v := range asked {
			size += len(v)
		}
		if size > maxAskedBytes {
			h.ServeHTTP(w, r)
			return
		}
		var names []string
		for _, v := range asked {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
					names = append(names, name)
				}
			}
		}
		if len(names) > maxAskedHeaders {
			h.ServeHTTP(w, r)
			return
		}
		slices.Sort(names)
		sorted := r.Clone(r.Context())
		sorted.Header.Set("Access-Control-Request-Headers", strings.Join(slices.Compact(names), ","))
		h.ServeHTTP(w, sorted)
	})
}

// A browser's preflight asks for about ten headers; these bound what sortedRequestHeaders
// rewrites.
const (
	maxAskedHeaders = 64
	maxAskedBytes   = 4 << 10
)

// NewServer returns an HTTP server for h that speaks HTTP/1.1 and unencrypted HTTP/2 (h2c),
// which is what Connect, gRPC and gRPC-Web clients need on a plaintext port.
//
// Header reads are bounded; whole-request read and write timeouts are not set, because they
// would cut long-lived streams. Message sizes are bounded by the Connect handlers.
func NewServer(addr string, h http.Handler) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 256,
			PingTimeout:          15 * time.Second,
			SendPingTimeout:      time.Minute,
		},
	}
}
