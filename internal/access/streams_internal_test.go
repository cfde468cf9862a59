package access

import (
	"context"
	"log/slog"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/stack"
)

// A recheck that cannot reach the database leaves the streams open and says so (unchecked),
// and the next recheck ends those of a token revoked meanwhile: one failed query does not
// leave a revoked token's streams open for good.
func TestRecheck_AFailedCheckIsTriedAgain(t *testing.T) {
	url := stack.Require(t, stack.Postgres).DatabaseURL
	good := stack.Pool(t, url)
	store := NewStore(good)
	c, secret, tok, err := store.AddClient(t.Context(), "test "+t.Name(), Premium, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = good.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, c.ID) })
	hash, _ := HashToken(secret)
	closed, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	a := NewAuthenticator(Optional, Premium, NewStore(closed), slog.New(slog.DiscardHandler))
	stream, stop := a.streams.follow(t.Context(), hash)
	defer stop()
	if err := store.RevokeToken(t.Context(), tok.ID); err != nil {
		t.Fatal(err)
	}
	a.recheck(t.Context())
	if stream.Err() != nil || !a.unchecked.Load() {
		t.Fatalf("after a check that failed: the stream %v, unchecked %t; want it open, and unchecked", stream.Err(), a.unchecked.Load())
	}
	a.store = store
	a.recheck(t.Context())
	if cut := cutOff(stream); connect.CodeOf(cut) != connect.CodeUnauthenticated || a.unchecked.Load() {
		t.Fatalf("after a check that succeeded: the stream ended with %v, unchecked %t; want unauthenticated, checked", cut, a.unchecked.Load())
	}
}
