package access

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
)

// streams are the open streams (Watch, QueueConversation, Converse, Introduce) of callers with
// a token, by token, so that a token revoked or a client disabled ends them too, and not only
// the calls that begin after it: a Watch would otherwise keep delivering a conversation's
// events to a token its client's operators had revoked.
type streams struct {
	mu     sync.Mutex
	next   uint64
	byHash map[Hash]map[uint64]context.CancelCauseFunc
	// clients holds the client of each token with streams open, once one of them is admitted:
	// a revoked token is unknown to the database, and the log names its client from here.
	clients map[Hash]uuid.UUID
}

func newStreams() *streams {
	return &streams{byHash: map[Hash]map[uint64]context.CancelCauseFunc{}, clients: map[Hash]uuid.UUID{}}
}

// admitted notes the client of hash's streams, once one of them is admitted.
func (s *streams) admitted(hash Hash, client uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byHash[hash] != nil {
		s.clients[hash] = client
	}
}

// refused is the cause a stream's context is cancelled with when its token no longer admits
// it: err is the error the call ends with, as a new call with that token would be refused.
type refused struct{ err error }

func (r refused) Error() string { return r.err.Error() }
func (r refused) Unwrap() error { return r.err }

// cutOff returns the error of a stream ended because its token was revoked or its client
// disabled, or nil.
func cutOff(ctx context.Context) error {
	var r refused
	if errors.As(context.Cause(ctx), &r) {
		return r.err
	}
	return nil
}

// follow returns a context of ctx that recheck cancels when the token of hash no longer
// admits its caller, and stop, to be called when the stream ends.
func (s *streams) follow(ctx context.Context, hash Hash) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	id := s.next
	s.next++
	if s.byHash[hash] == nil {
		s.byHash[hash] = map[uint64]context.CancelCauseFunc{}
	}
	s.byHash[hash][id] = cancel
	s.mu.Unlock()
	return ctx, func() {
		s.mu.Lock()
		if open := s.byHash[hash]; open != nil {
			delete(open, id)
			if len(open) == 0 {
				delete(s.byHash, hash)
				delete(s.clients, hash)
			}
		}
		s.mu.Unlock()
		cancel(nil)
	}
}

// tokens are the tokens that have streams open.
func (s *streams) tokens() []Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := make([]Hash, 0, len(s.byHash))
	for h := range s.byHash {
		hs = append(hs, h)
	}
	return hs
}

// end ends every stream open with the token of hash, with err; it returns how many, and
// their client, if one of them was admitted (uuid.Nil otherwise).
func (s *streams) end(hash Hash, err error) (int, uuid.UUID) {
	s.mu.Lock()
	open, client := s.byHash[hash], s.clients[hash]
	delete(s.byHash, hash)
	delete(s.clients, hash)
	s.mu.Unlock()
	for _, cancel := range open {
		cancel(refused{err})
	}
	return len(open), client
}

// recheckTimeout bounds one recheck's query.
const recheckTimeout = 5 * time.Second

// wantRecheck asks the rechecker (Listen) for a recheck of the open streams' tokens; asks
// made while one is waiting are one.
func (a *Authenticator) wantRecheck() {
	select {
	case a.recheckWanted <- struct{}{}:
	default:
	}
}

// rechecker runs a recheck each time one is wanted, until ctx ends. It has a goroutine of
// its own: a recheck that is slow (a slow database) must not hold up the listener, which then
// would not read the next change, and would keep a cache it should drop.
func (a *Authenticator) rechecker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.recheckWanted:
			a.recheck(ctx)
		}
	}
}

// recheck looks up again, in one query, the tokens that have streams open, and ends those of
// a token now unknown (revoked) or of a client now disabled. Listen wants one after each
// change it is told of and when it connects (a change may have gone unseen), and again at
// its next idle check while the last one failed (a database that did not answer): a stream
// is not left open for good because one query failed.
func (a *Authenticator) recheck(ctx context.Context) {
	hashes := a.streams.tokens()
	if len(hashes) == 0 {
		a.unchecked.Store(false)
		return
	}
	qctx, cancel := context.WithTimeout(ctx, recheckTimeout)
	valid, err := a.store.standing(qctx, hashes)
	cancel()
	if err != nil {
		a.unchecked.Store(true)
		if ctx.Err() == nil {
			a.log.Warn("cannot check the tokens of open streams; trying again at the listener's next check", "error", err)
		}
		return
	}
	a.unchecked.Store(false)
	for _, h := range hashes {
		st, ok := valid[h]
		switch {
		case !ok:
			if n, client := a.streams.end(h, errInvalid()); n > 0 {
				a.log.Info("streams ended: their token was revoked", "streams", n, "client", client)
			}
		case st.disabled:
			if n, _ := a.streams.end(h, errDisabled()); n > 0 {
				a.log.Info("streams ended: their client was disabled", "streams", n, "client", st.client)
			}
		}
	}
}
