// Package access decides who is calling the front door and what they may spend: clients,
// each with a tier (premium callers' queued sentences go to the model, free callers' to the
// offline ELIZA responder) and limits, and their tokens, kept in Postgres (schema access);
// the connect interceptor that authenticates every ElizaService call (AUTH=off|optional|
// required, "Authorization: Bearer" or "X-Token"); and the cache that spares the hot path a
// database round trip, dropped on every replica as soon as a token or client changes
// (LISTEN/NOTIFY).
//
// A token is 256 random bits, shown once when it is made and stored only as its SHA-256.
// Neither the token nor its hash is ever logged.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Tier is what a client's queued sentences are answered with.
type Tier string

// The tiers.
const (
	// Free clients are answered by the offline ELIZA responder.
	Free Tier = "free"
	// Premium clients are answered by the configured model.
	Premium Tier = "premium"
)

// ParseTier reads a tier by name.
func ParseTier(s string) (Tier, error) {
	switch t := Tier(strings.ToLower(strings.TrimSpace(s))); t {
	case Free, Premium:
		return t, nil
	}
	return "", fmt.Errorf("tier %q: want free or premium", s)
}

// UnmarshalText reads a tier from configuration (ANONYMOUS_TIER).
func (t *Tier) UnmarshalText(b []byte) error {
	v, err := ParseTier(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Limits are a client's own limits; a zero field takes the front door's default.
type Limits struct {
	RequestsPerSecond  int
	SentencesPerMinute int
	TokensPerDay       int64
}

// Client is someone who may call the service.
type Client struct {
	ID     uuid.UUID
	Name   string
	Tier   Tier
	Admin  bool
	Limits Limits
	// CreatedAt and DisabledAt (zero while enabled).
	CreatedAt, DisabledAt time.Time
}

// Anonymous reports whether c is the caller without a token.
func (c Client) Anonymous() bool { return c.ID == uuid.Nil }

// Disabled reports whether c's calls are refused.
func (c Client) Disabled() bool { return !c.DisabledAt.IsZero() }

// AnonymousClient is the caller without a token, with the given tier.
func AnonymousClient(tier Tier) Client { return Client{Name: "anonymous", Tier: tier} }

// Token is a client's token as the store keeps it: everything but the secret.
type Token struct {
	ID                   uuid.UUID
	Client               uuid.UUID
	CreatedAt, RevokedAt time.Time // RevokedAt zero while valid
}

// Hash is a token's SHA-256, the only form in which it is stored.
type Hash [sha256.Size]byte

// tokenPrefix starts every token, so that one found in a file or a log is recognisable.
const tokenPrefix = "eliza_"

// tokenBytes is the randomness in a token: 256 bits.
const tokenBytes = 32

// NewToken returns a new random token and its hash.
func NewToken() (string, Hash) {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the system cannot supply randomness)
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, sha256.Sum256([]byte(secret))
}

// HashToken returns the hash of a token, or false when it is not shaped like one.
func HashToken(secret string) (Hash, bool) {
	rest, ok := strings.CutPrefix(secret, tokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return Hash{}, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(rest); err != nil {
		return Hash{}, false
	}
	return sha256.Sum256([]byte(secret)), true
}

type clientKey struct{}

// WithClient returns ctx carrying the authenticated client.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client that ctx carries, or false outside an authenticated call.
func ClientFrom(ctx context.Context) (Client, bool) {
	c, ok := ctx.Value(clientKey{}).(Client)
	return c, ok
}

type refreshKey struct{}

// Refreshed returns ctx carrying its client as it is now, for each message of a stream: a
// stream's context carries its client as it was when the stream opened, and a client's tier
// or limits changed since then apply to what it sends next (a unary call is authenticated
// anew each time). The token's lookup is cached, so this costs a map lookup but after a
// change. A lookup that fails (the database unreachable) keeps the client as it was; a token
// revoked or a client disabled meanwhile ends the stream (Listen).
func Refreshed(ctx context.Context) context.Context {
	refresh, ok := ctx.Value(refreshKey{}).(func(context.Context) (Client, bool))
	if !ok {
		return ctx
	}
	if c, ok := refresh(ctx); ok {
		return WithClient(ctx, c)
	}
	return ctx
}
