package access

import (
	"context"
	"errors"
	"sync"
)

// streams are the open streams (QueueConversation, Watch) of callers with a token, by token,
// so that a token revoked or a client disabled ends them too, and not only the calls that
// begin after it: a Watch would otherwise keep delivering a conversation's events to a token
// its client's operators had revoked.
type streams struct {
	mu     sync.Mutex
	next   uint64
	byHash map[Hash]map[uint64]context.CancelCauseFunc
}

func newStreams() *streams { return &streams{byHash: map[Hash]map[uint64]context.CancelCauseFunc{}} }

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

// end ends every stream open with the token of hash, with err; it returns how many.
func (s *streams) end(hash Hash, err error) int {
	s.mu.Lock()
	open := s.byHash[hash]
	delete(s.byHash, hash)
	s.mu.Unlock()
	for _, cancel := range open {
		cancel(refused{err})
	}
	return len(open)
}

// recheck looks up again, in the database, each token that has streams open, and ends those
// of a token now unknown (revoked) or of a client now disabled. Listen calls it after each
// change it is told of, and when it connects (a change may have gone unseen). A token that
// cannot be checked now is left alone: the next change or connection checks it again.
func (a *Authenticator) recheck(ctx context.Context) {
	for _, h := range a.streams.tokens() {
		c, err := a.lookup(ctx, h)
		switch {
		case errors.Is(err, errUnknownToken):
			if n := a.streams.end(h, errInvalid()); n > 0 {
				a.log.Info("streams ended: their token was revoked", "streams", n)
			}
		case err == nil && c.Disabled():
			if n := a.streams.end(h, errDisabled()); n > 0 {
				a.log.Info("streams ended: their client was disabled", "streams", n, "client", c.ID)
			}
		}
	}
}
