package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
)

// Mode says whether callers must bring a token (AUTH).
type Mode string

// The modes.
const (
	// Off: every caller is the anonymous client; tokens are not looked at.
	Off Mode = "off"
	// Optional: callers without a token are the anonymous client; a token must be valid.
	Optional Mode = "optional"
	// Required: every call needs a valid token.
	Required Mode = "required"
)

// ParseMode reads a mode by name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Off, Optional, Required:
		return m, nil
	}
	return "", fmt.Errorf("%q: want off, optional or required", s)
}

// UnmarshalText reads a mode from configuration (AUTH).
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// What callers are told. They name no token and say nothing about which tokens exist. Each
// call gets an error of its own: connect may add metadata to the error it is handed.
var (
	errMissing   = refusal(connect.CodeUnauthenticated, `this server needs a token: send "Authorization: Bearer TOKEN" or "X-Token: TOKEN"`)
	errMalformed = refusal(connect.CodeUnauthenticated, `the token is malformed: send it as it was printed when it was made ("Authorization: Bearer eliza_…" or "X-Token: eliza_…")`)
	errTwo       = refusal(connect.CodeUnauthenticated, `two different tokens were sent ("Authorization" and "X-Token", or one of them twice): send one`)
	errInvalid   = refusal(connect.CodeUnauthenticated, "the token is not valid: it is unknown or has been revoked")
	errDisabled  = refusal(connect.CodePermissionDenied, "this client is disabled: ask the service's operators")
	errCheck     = refusal(connect.CodeUnavailable, "cannot check the token right now, please try again")
)

// refusal returns a maker of fresh errors with code and msg.
func refusal(code connect.Code, msg string) func() error {
	return func() error { return connect.NewError(code, errors.New(msg)) }
}

// Authenticator finds the client of each call.
type Authenticator struct {
	mode      Mode
	anonymous Client
	store     *Store
	log       *slog.Logger
	cache     *cache
	// streams are the open streams of callers with a token, ended when it is revoked or its
	// client disabled (Listen's rechecker); recheckWanted asks for a check of their tokens,
	// and unchecked says the last check failed.
	streams       *streams
	recheckWanted chan struct{}
	unchecked     atomic.Bool

	quotas  *Quotas
	limited map[string]bool // procedures counted against the requests-per-second quota
	usage   *Usage
}

// WithUsage counts every authenticated call, by client, method and code, in u.
func (a *Authenticator) WithUsage(u *Usage) *Authenticator {
	a.usage = u
	return a
}

// count counts a call of procedure that ended with err, when the caller is known.
func (a *Authenticator) count(ctx context.Context, procedure string, err error) {
	c, ok := ClientFrom(ctx)
	if !ok || a.usage == nil {
		return
	}
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	a.usage.RPC(c.ID, procedure[strings.LastIndex(procedure, "/")+1:], code)
}

// WithQuotas makes the interceptor hold each call of procedures (full names, such as
// "/connectrpc.eliza.v1.ElizaService/Say") to the client's requests per second.
func (a *Authenticator) WithQuotas(q *Quotas, procedures ...string) *Authenticator {
	a.quotas, a.limited = q, map[string]bool{}
	for _, p := range procedures {
		a.limited[p] = true
	}
	return a
}

// admit authenticates a call of procedure, its token looked up within lookup (ctx, or one
// bounded more), and applies its request quota; the context returned is ctx's.
func (a *Authenticator) admit(ctx, lookup context.Context, procedure string, cr credential) (context.Context, error) {
	c, err := a.authenticate(lookup, cr)
	if err != nil {
		if c.ID != (uuid.UUID{}) { // a disabled client: its refused calls count in its usage too
			a.count(WithClient(ctx, c), procedure, err)
		}
		return nil, err
	}
	ctx = WithClient(ctx, c)
	if a.quotas != nil && a.limited[procedure] {
		if err := a.quotas.AllowRequest(c); err != nil {
			a.count(ctx, procedure, err)
			return nil, err
		}
	}
	return ctx, nil
}

// NewAuthenticator returns an Authenticator. store may be nil only with mode Off. Under
// Optional and Required, run Listen for the life of the process: until it has connected,
// and whenever its connection is down, every token is looked up in the database.
func NewAuthenticator(mode Mode, anonymousTier Tier, store *Store, log *slog.Logger) *Authenticator {
	return &Authenticator{mode: mode, anonymous: AnonymousClient(anonymousTier), store: store, log: log, cache: newCache(),
		streams: newStreams(), recheckWanted: make(chan struct{}, 1)}
}

// Authenticate returns the client a call with header comes from, or the connect error to
// answer it with; for a disabled client, both (its refused calls are counted in its usage).
func (a *Authenticator) Authenticate(ctx context.Context, header http.Header) (Client, error) {
	return a.authenticate(ctx, a.credentialOf(header))
}

// credential is what a call's headers say of its token: none (present false), one that
// cannot be (err), or the hash of one to look up.
type credential struct {
	hash    Hash
	present bool
	err     error
}

// credentialOf reads the token of a call's headers; under AUTH=off there is none to read.
func (a *Authenticator) credentialOf(header http.Header) credential {
	if a.mode == Off {
		return credential{}
	}
	secret, present, err := tokenOf(header)
	if err != nil || !present {
		return credential{present: present, err: err}
	}
	hash, ok := HashToken(secret)
	if !ok {
		return credential{present: true, err: errMalformed()}
	}
	return credential{hash: hash, present: true}
}

// looked reports whether cr is a token to look up (and follow, for a stream).
func (cr credential) looked() bool { return cr.present && cr.err == nil }

// authenticate is Authenticate of a call whose headers credentialOf has read.
func (a *Authenticator) authenticate(ctx context.Context, cr credential) (Client, error) {
	if a.mode == Off {
		return a.anonymous, nil
	}
	if cr.err != nil {
		return Client{}, cr.err
	}
	if !cr.present {
		if a.mode == Required {
			return Client{}, errMissing()
		}
		return a.anonymous, nil
	}
	c, err := a.lookup(ctx, cr.hash)
	switch {
	case errors.Is(err, errUnknownToken):
		return Client{}, errInvalid()
	case err != nil:
		if ctx.Err() == nil {
			a.log.Warn("token check failed", "error", err) // the error names no token
		}
		return Client{}, errCheck()
	case c.Disabled():
		return c, errDisabled()
	}
	return c, nil
}

func (a *Authenticator) lookup(ctx context.Context, hash Hash) (Client, error) {
	if c, err, ok := a.cache.get(hash); ok {
		return c, err
	}
	gen := a.cache.generation()
	c, err := a.store.resolve(ctx, hash)
	if err == nil || errors.Is(err, errUnknownToken) {
		a.cache.put(gen, hash, c, err)
	}
	return c, err
}

// refreshTimeout bounds a stream's lookup of its client (Refreshed), one indexed query when
// the cache has been dropped: a slow database does not hold its message up for longer.
const refreshTimeout = time.Second

// refresher authenticates the token of cr again, as it is now (Refreshed).
func (a *Authenticator) refresher(cr credential) func(context.Context) (Client, bool) {
	return func(ctx context.Context) (Client, bool) {
		ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
		defer cancel()
		c, err := a.authenticate(ctx, cr)
		return c, err == nil
	}
}

// ended reports whether err is a handler's for a context that ended (its own words for it, or
// connect's Canceled): a stream that ended otherwise (its client half-closed and was answered,
// the front door drained it) keeps its error, though its token was revoked meanwhile.
func ended(err error) bool {
	return errors.Is(err, context.Canceled) || connect.CodeOf(err) == connect.CodeCanceled
}

// tokenOf reads the token from "Authorization: Bearer TOKEN" and "X-Token: TOKEN". A header
// that is there but empty, or another Authorization scheme, is a malformed token, not a
// missing one. Every value of the two must be the same token: a call with two different ones
// (a gateway that adds its own, a client that sets both) is refused, not answered as one of
// them, which the caller could not tell.
func tokenOf(h http.Header) (token string, present bool, err error) {
	var tokens []string
	for _, v := range h.Values("Authorization") {
		scheme, t, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", true, errMalformed()
		}
		tokens = append(tokens, strings.TrimSpace(t))
	}
	for _, v := range h.Values("X-Token") {
		tokens = append(tokens, strings.TrimSpace(v))
	}
	if len(tokens) == 0 {
		return "", false, nil
	}
	// Empty values say nothing beside a token (a client that always sends the header); alone,
	// the token is malformed, as "" cannot be one.
	tokens = slices.DeleteFunc(tokens, func(t string) bool { return t == "" })
	if len(tokens) == 0 {
		return "", true, nil
	}
	for _, t := range tokens[1:] {
		if t != tokens[0] {
			return "", true, errTwo()
		}
	}
	return tokens[0], true, nil
}

// Interceptor authenticates every call of the handlers it is given to, applies the request
// quota (WithQuotas), and puts the client in the call's context (ClientFrom). A unary call
// that its Gate admitted is not looked at again.
func (a *Authenticator) Interceptor() Interceptor { return Interceptor{a} }

// Interceptor is the Authenticator's connect.Interceptor, with its Gate.
type Interceptor struct{ a *Authenticator }

// Gate does for the unary calls of h (unary says which paths are) what the interceptor does,
// before their requests are read: connect reads a unary call's message before it runs the
// interceptors, so without it a caller with no valid token had its message read, and one
// whose message could not be read was told that (InvalidArgument) rather than that its token
// was refused. A call refused is answered here, in its own protocol; one admitted goes on to
// h with its client in its context. Requests in no protocol connect knows go on to h, which
// refuses them itself.
func (i Interceptor) Gate(h http.Handler, unary func(path string) bool) http.Handler {
	a := i.a
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !unary(r.URL.Path) || !refusals.IsSupported(r) {
			h.ServeHTTP(w, r)
			return
		}
		// Connect has not read the call's deadline yet: the lookup is bounded by it here, and
		// by lookupTimeout (over HTTP/1.1 a client that hangs up while its body is unread is
		// not noticed, and a database that does not answer held the call for pgx's minutes).
		bound, theirs := lookupTimeout, false
		if d, ok := callTimeout(r.Header); ok && d < bound {
			bound, theirs = d, true
		}
		lookup, cancel := context.WithTimeout(r.Context(), bound)
		ctx, err := a.admit(r.Context(), lookup, r.URL.Path, a.credentialOf(r.Header))
		late := lookup.Err() == context.DeadlineExceeded
		cancel()
		if err != nil {
			if noted, ok := r.Context().Value(refusalNoteKey{}).(*atomic.Bool); ok {
				noted.Store(true)
			}
			if theirs && late {
				err = connect.NewError(connect.CodeDeadlineExceeded, errors.New("the call's deadline passed while its token was checked"))
			}
			_ = refusals.Write(w, r, err) // a client gone away is none to tell
			if r.ProtoMajor == 1 {
				// Else net/http reads what is left of the body (up to 256 KiB) before it
				// closes or reuses the connection: the body of a caller refused.
				_ = http.NewResponseController(w).SetReadDeadline(time.Now())
			}
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(ctx, gatedKey{}, true)))
	})
}

// lookupTimeout bounds Gate's check of a token, one indexed query when it is not cached: a
// database that does not answer has the call refused as "cannot check the token right now".
const lookupTimeout = 5 * time.Second

// callTimeout reads the deadline a call's headers give, in the Connect protocol
// (Connect-Timeout-Ms: milliseconds) or gRPC's and gRPC-Web's (grpc-timeout: up to 8 digits
// and a unit, H, M, S, m, u or n), as connect reads it once the call is its.
func callTimeout(h http.Header) (time.Duration, bool) {
	if v := h.Get("Connect-Timeout-Ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 || len(v) > 10 {
			return 0, false
		}
		return time.Duration(ms) * time.Millisecond, true
	}
	v := h.Get("Grpc-Timeout")
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit, ok := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second,
		'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if !ok {
		return 0, false
	}
	if n > int64(math.MaxInt64/unit) {
		return math.MaxInt64, true // 99999999H: longer than a Duration holds
	}
	return time.Duration(n) * unit, true
}

// NoteRefusals returns ctx, in which Gate notes that it refused the call, and the function
// that says whether it did: an observer of calls around Gate tells its refusals from calls
// whose requests could not be read.
func NoteRefusals(ctx context.Context) (context.Context, func() bool) {
	var refused atomic.Bool
	return context.WithValue(ctx, refusalNoteKey{}, &refused), refused.Load
}

// refusalNoteKey is the context key under which NoteRefusals puts its note.
type refusalNoteKey struct{}

// refusals writes Gate's errors as connect writes a handler's.
var refusals = connect.NewErrorWriter()

// gatedKey marks the context of a call Gate admitted.
type gatedKey struct{}

// WrapUnary admits a unary call its Gate did not, and counts its outcome in the client's usage.
func (i Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		if gated, _ := ctx.Value(gatedKey{}).(bool); !gated {
			var err error
			if ctx, err = i.a.admit(ctx, ctx, req.Spec().Procedure, i.a.credentialOf(req.Header())); err != nil {
				return nil, err
			}
		}
		res, err := next(ctx, req)
		i.a.count(ctx, req.Spec().Procedure, err)
		return res, err
	}
}

// WrapStreamingClient leaves a client's calls alone.
func (i Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler admits a stream, ends it when its token is revoked or its client
// disabled, and counts its outcome in the client's usage.
func (i Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		cr := i.a.credentialOf(conn.RequestHeader())
		if cr.looked() {
			// Followed from before its token is looked up: a change that lands between the
			// two is then either seen by the lookup or followed by a check of the stream.
			var stop func()
			ctx, stop = i.a.streams.follow(ctx, cr.hash)
			defer stop()
			ctx = context.WithValue(ctx, refreshKey{}, i.a.refresher(cr))
		}
		admitted, err := i.a.admit(ctx, ctx, conn.Spec().Procedure, cr)
		if err != nil {
			if cut := cutOff(ctx); cut != nil {
				return cut // ended while its token was looked up: not "cannot check the token"
			}
			return err
		}
		ctx = admitted
		if c, ok := ClientFrom(ctx); ok && cr.looked() {
			i.a.streams.admitted(cr.hash, c.ID)
		}
		err = next(ctx, conn)
		if cut := cutOff(ctx); cut != nil && ended(err) {
			err = cut // the stream ended because its token was revoked or its client disabled
		}
		i.a.count(ctx, conn.Spec().Procedure, err)
		return err
	}
}

// cacheTTL bounds how long a cached answer is used even while the listener is connected: a
// backstop, should a notification be lost without the connection breaking.
const cacheTTL = time.Minute

// cacheMax is the most tokens cached; past it the cache starts afresh. Unknown tokens are
// cached too (a caller retrying a bad token costs no round trip), so it must be bounded.
const cacheMax = 10_000

// cache remembers what tokens resolved to while the listener is connected. Every
// notification, and every (dis)connection of the listener, starts a new generation: the
// entries are dropped, and lookups that began before it do not store their answer.
type cache struct {
	mu      sync.Mutex
	live    bool
	gen     uint64
	entries map[Hash]cached
}

type cached struct {
	client Client
	err    error
	at     time.Time
}

func newCache() *cache { return &cache{entries: map[Hash]cached{}} }

func (c *cache) get(h Hash) (Client, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[h]
	if !ok || !c.live || time.Since(e.at) > cacheTTL {
		return Client{}, nil, false
	}
	return e.client, e.err, true
}

func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *cache) put(gen uint64, h Hash, client Client, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if len(c.entries) >= cacheMax {
		c.entries = map[Hash]cached{}
	}
	c.entries[h] = cached{client: client, err: err, at: time.Now()}
}

// reset drops every entry and says whether entries may be cached from now on.
func (c *cache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.gen++
	c.entries = map[Hash]cached{}
}
