package access_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/stack"
)

func TestToken_IsRecognisedByItsShapeOnly(t *testing.T) {
	secret, hash := access.NewToken()
	if got, ok := access.HashToken(secret); !ok || got != hash || got != sha256.Sum256([]byte(secret)) {
		t.Fatalf("HashToken(a new token) = %x, %t; want its SHA-256", got, ok)
	}
	other, _ := access.NewToken()
	if other == secret {
		t.Fatal("two new tokens are equal")
	}
	for _, bad := range []string{"", "eliza_", secret[:len(secret)-1], secret + "A", "x" + secret[1:], strings.Replace(secret, "_", "-", 1), secret[:10] + "!" + secret[11:]} {
		if _, ok := access.HashToken(bad); ok {
			t.Errorf("HashToken(%q) accepted a malformed token", bad)
		}
	}
}

func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return stack.Pool(t, stack.Require(t, stack.Postgres).DatabaseURL)
}

// client adds a client of the test's own, deleted at the end.
func client(t *testing.T, s *access.Store, p *pgxpool.Pool, tier access.Tier) (access.Client, string, access.Token) {
	t.Helper()
	c, secret, tok, err := s.AddClient(t.Context(), "test "+t.Name(), tier, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, c.ID) })
	return c, secret, tok
}

func TestStore_KeepsClientsAndOnlyTheHashesOfTheirTokens(t *testing.T) {
	p := pool(t)
	s := access.NewStore(p)
	c, secret, tok, err := s.AddClient(t.Context(), "test store", access.Premium, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, c.ID) })
	if c.Name != "test store" || c.Tier != access.Premium || !c.Admin || c.Disabled() || tok.Client != c.ID {
		t.Fatalf("added %+v with token %+v", c, tok)
	}
	var stored []byte
	if err := p.QueryRow(t.Context(), `SELECT hash FROM access.token WHERE id = $1`, tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte(secret)); string(stored) != string(want[:]) {
		t.Fatalf("stored %x for the token, want its SHA-256", stored)
	}
	var leaks int
	if err := p.QueryRow(t.Context(), `SELECT count(*) FROM access.token t, access.client c
		WHERE t.client = $1 AND c.id = $1 AND (t::text LIKE '%' || $2 || '%' OR c::text LIKE '%' || $2 || '%')`,
		c.ID, secret[len("eliza_"):]).Scan(&leaks); err != nil || leaks != 0 {
		t.Fatalf("the token is stored in the clear (%d rows, %v)", leaks, err)
	}

	if err := s.SetTier(t.Context(), c.ID, access.Free); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLimits(t.Context(), c.ID, access.Limits{SentencesPerMinute: 7}); err != nil {
		t.Fatal(err)
	}
	second, tok2, err := s.AddToken(t.Context(), c.ID)
	if err != nil || second == secret {
		t.Fatalf("AddToken: %v", err)
	}
	if err := s.RevokeToken(t.Context(), tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(t.Context(), c.ID, true); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Clients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got access.Client
	for _, x := range cs {
		if x.ID == c.ID {
			got = x
		}
	}
	if got.Tier != access.Free || !got.Disabled() || got.Limits != (access.Limits{SentencesPerMinute: 7}) {
		t.Fatalf("listed %+v, want it free, disabled, with its own 7 sentences a minute", got)
	}
	defaults := access.NewQuotas(access.QuotaConfig{Clients: access.Limits{RequestsPerSecond: 5, SentencesPerMinute: 60}}, nil, slog.New(slog.DiscardHandler))
	if l := defaults.Limits(got); l != (access.Limits{RequestsPerSecond: 5, SentencesPerMinute: 7}) {
		t.Fatalf("the limits of a client with one of its own: %+v, want its own and the other defaults", l)
	}
	ts, err := s.Tokens(t.Context(), c.ID)
	if err != nil || len(ts) != 2 || ts[0].ID != tok.ID || ts[0].RevokedAt.IsZero() || ts[1].ID != tok2.ID || !ts[1].RevokedAt.IsZero() {
		t.Fatalf("tokens %+v (%v), want the first revoked and the second valid", ts, err)
	}

	for name, err := range map[string]error{
		"tier":    s.SetTier(t.Context(), uuid.New(), access.Free),
		"disable": s.SetDisabled(t.Context(), uuid.New(), true),
		"token":   func() error { _, _, err := s.AddToken(t.Context(), uuid.New()); return err }(),
		"revoke":  s.RevokeToken(t.Context(), uuid.New()),
		"tokens":  func() error { _, err := s.Tokens(t.Context(), uuid.New()); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("%s of an unknown id: %v, want not found", name, err)
		}
	}
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// listening returns an authenticator whose listener is connected, on a pool of its own (as
// each front-door replica has).
func listening(t *testing.T, mode access.Mode, tier access.Tier) (*access.Authenticator, *pgxpool.Pool) {
	t.Helper()
	p := pool(t)
	a := access.NewAuthenticator(mode, tier, access.NewStore(p), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Listen(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	kafkatest.Eventually(t, 10*time.Second, a.Live, func() string { return "the token cache listener did not connect" })
	return a, p
}

// The listener's connection says what it is in pg_stat_activity.
func TestListen_NamesItsConnection(t *testing.T) {
	_, p := listening(t, access.Optional, access.Free)
	var n int
	if err := p.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'access listener' AND datname = current_database()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no connection named \"access listener\" in pg_stat_activity")
	}
}

func code(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

func TestAuthenticator_TellsEachKindOfCallerApart(t *testing.T) {
	a, p := listening(t, access.Optional, access.Free)
	s := access.NewStore(p)
	premium, secret, _ := client(t, s, p, access.Premium)
	disabled, disabledSecret, _ := client(t, s, p, access.Free)
	if err := s.SetDisabled(t.Context(), disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	revokedClient, revokedSecret, revokedToken := client(t, s, p, access.Premium)
	_ = revokedClient
	if err := s.RevokeToken(t.Context(), revokedToken.ID); err != nil {
		t.Fatal(err)
	}
	unknown, _ := access.NewToken()

	for _, tc := range []struct {
		name   string
		header http.Header
		want   string
		client uuid.UUID
	}{
		{"no token", header(), "ok", uuid.Nil},
		{"bearer", header("Authorization", "Bearer "+secret), "ok", premium.ID},
		{"bearer, any case", header("Authorization", "bearer "+secret), "ok", premium.ID},
		{"x-token", header("X-Token", secret), "ok", premium.ID},
		{"unknown", header("Authorization", "Bearer "+unknown), "unauthenticated", uuid.Nil},
		{"revoked", header("X-Token", revokedSecret), "unauthenticated", uuid.Nil},
		{"malformed", header("Authorization", "Bearer "+secret[:20]), "unauthenticated", uuid.Nil},
		{"empty", header("X-Token", ""), "unauthenticated", uuid.Nil},
		{"another scheme", header("Authorization", "Basic "+secret), "unauthenticated", uuid.Nil},
		{"both headers, one token", header("Authorization", "Bearer "+secret, "X-Token", secret), "ok", premium.ID},
		{"a bearer and an empty x-token", header("Authorization", "Bearer "+secret, "X-Token", ""), "ok", premium.ID},
		// Two tokens are refused, not answered as the client of one of them.
		{"both headers, two tokens", header("Authorization", "Bearer "+secret, "X-Token", unknown), "unauthenticated", uuid.Nil},
		{"both headers, a bad x-token", header("Authorization", "Bearer "+secret, "X-Token", "garbage"), "unauthenticated", uuid.Nil},
		{"authorization twice", header("Authorization", "Bearer "+secret, "Authorization", "Bearer "+unknown), "unauthenticated", uuid.Nil},
		{"disabled", header("Authorization", "Bearer "+disabledSecret), "permission_denied", disabled.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second time from the cache
				c, err := a.Authenticate(t.Context(), tc.header)
				if code(err) != tc.want || c.ID != tc.client {
					t.Fatalf("%v, %+v; want %s as %s", err, c, tc.want, tc.client)
				}
				if err != nil && strings.Contains(err.Error(), secret[6:]) {
					t.Fatalf("the error %q shows the token", err)
				}
			}
		})
	}
	if c, _ := a.Authenticate(t.Context(), header()); !c.Anonymous() || c.Tier != access.Free {
		t.Fatalf("the anonymous caller is %+v, want the anonymous free client", c)
	}

	required, _ := listening(t, access.Required, access.Premium)
	if _, err := required.Authenticate(t.Context(), header()); code(err) != "unauthenticated" {
		t.Fatalf("AUTH=required without a token: %v, want unauthenticated", err)
	}
	off := access.NewAuthenticator(access.Off, access.Premium, nil, slog.New(slog.DiscardHandler))
	if c, err := off.Authenticate(t.Context(), header("Authorization", "Bearer nonsense")); err != nil || !c.Anonymous() || c.Tier != access.Premium {
		t.Fatalf("AUTH=off: %+v, %v; want everyone anonymous", c, err)
	}
}

// A revocation reaches every replica through LISTEN/NOTIFY: a token that both had checked
// (and cached) stops working on both within the documented second.
func TestAuthenticator_RevocationReachesEveryReplicaWithinASecond(t *testing.T) {
	one, p := listening(t, access.Required, access.Free)
	two, _ := listening(t, access.Required, access.Free)
	s := access.NewStore(p)
	_, secret, tok := client(t, s, p, access.Premium)
	h := header("Authorization", "Bearer "+secret)
	for _, a := range []*access.Authenticator{one, two} {
		if _, err := a.Authenticate(t.Context(), h); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeToken(t.Context(), tok.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for i, a := range []*access.Authenticator{one, two} {
		kafkatest.Eventually(t, time.Second-time.Since(revoked), func() bool {
			_, err := a.Authenticate(t.Context(), h)
			return code(err) == "unauthenticated"
		}, func() string { return fmt.Sprintf("replica %d still accepts the token 1 s after its revocation", i+1) })
	}
}

// counter counts the statements a pool sends.
type counter struct{ n atomic.Int64 }

func (c *counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// countingPool returns a pool of its own on the stack's database (of maxConns connections;
// 0 is pgx's default), closed when t ends, and the count of the statements it sends.
func countingPool(t *testing.T, maxConns int32) (*pgxpool.Pool, *counter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(stack.Require(t, stack.Postgres).DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	statements := &counter{}
	cfg.ConnConfig.Tracer = statements
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	p, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, statements
}

// Once a token is cached, checking it costs no database round trip. (Other tests change
// clients meanwhile, and each change drops the cache, so a few lookups are allowed for.)
func TestAuthenticator_ChecksACachedTokenWithoutTheDatabase(t *testing.T) {
	p, statements := countingPool(t, 0)
	a := access.NewAuthenticator(access.Required, access.Free, access.NewStore(p), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Listen(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	kafkatest.Eventually(t, 10*time.Second, a.Live, func() string { return "the token cache listener did not connect" })

	c, secret, _ := client(t, access.NewStore(pool(t)), pool(t), access.Premium)
	h := header("X-Token", secret)
	before := statements.n.Load()
	const checks = 1000
	for range checks {
		if got, err := a.Authenticate(t.Context(), h); err != nil || got.ID != c.ID {
			t.Fatalf("%+v, %v", got, err)
		}
	}
	if n := statements.n.Load() - before; n > 10 {
		t.Fatalf("%d checks of one token sent %d statements, want almost none (the cache)", checks, n)
	}
}

// A premium client's model tokens are counted once per job (a job redone after a crash adds
// nothing), in Postgres, and every replica refuses its sentences once the day's are spent.
func TestQuotas_CountModelTokensOncePerJobAcrossReplicas(t *testing.T) {
	p := pool(t)
	s := access.NewStore(p)
	c, _, _ := client(t, s, p, access.Premium)
	t.Cleanup(func() {
		_, _ = p.Exec(context.Background(), `DELETE FROM access.model_call WHERE client = $1`, c.ID)
		_, _ = p.Exec(context.Background(), `DELETE FROM access.daily_tokens WHERE client = $1`, c.ID)
	})
	log := slog.New(slog.DiscardHandler)
	limits := access.QuotaConfig{Clients: access.Limits{TokensPerDay: 100}}
	replicas := []*access.Quotas{access.NewQuotas(limits, access.NewStore(pool(t)), log), access.NewQuotas(limits, access.NewStore(pool(t)), log)}
	for i, q := range replicas {
		if why := q.AdmitSentence(t.Context(), c); why != "" {
			t.Fatalf("replica %d refused a client with nothing spent: %s", i+1, why)
		}
	}

	job := uuid.New()
	for i := range 3 { // the first worker, and two redoes of the same job
		counted, err := s.RecordModelCall(t.Context(), job, c.ID, 40, 30)
		if err != nil || counted != (i == 0) {
			t.Fatalf("record %d of one job: counted %t, %v; want only the first counted", i+1, counted, err)
		}
	}
	if tokens, calls, err := s.TokensToday(t.Context(), c.ID); err != nil || tokens != 70 || calls != 1 {
		t.Fatalf("today: %d tokens in %d calls (%v), want 70 in 1", tokens, calls, err)
	}
	if _, err := s.RecordModelCall(t.Context(), uuid.New(), c.ID, 20, 10); err != nil {
		t.Fatal(err)
	}
	for i, q := range replicas {
		kafkatest.Eventually(t, 5*time.Second, func() bool {
			return strings.Contains(q.AdmitSentence(t.Context(), c), "today's model tokens (100 a day) are spent")
		}, func() string {
			return fmt.Sprintf("replica %d still admits a client whose day's tokens are spent", i+1)
		})
	}
	free := c
	free.Tier = access.Free
	if why := replicas[0].AdmitSentence(t.Context(), free); why != "" {
		t.Fatalf("a free client is held to the model's tokens: %s", why)
	}
}

// A premium client's sentences that find its spending out of date at the same moment read it
// from Postgres once between them, not once each: with hundreds of its streams admitting at
// once, every expiry of the cached spending would otherwise be hundreds of reads. The pool is
// held until they have all asked, so that all of them miss the cache together.
func TestQuotas_ReadASpendingOnceForTheSentencesThatNeedItTogether(t *testing.T) {
	p, statements := countingPool(t, 4)
	s := access.NewStore(p)
	c, _, _ := client(t, s, pool(t), access.Premium)
	q := access.NewQuotas(access.QuotaConfig{Clients: access.Limits{TokensPerDay: 1000}}, s, slog.New(slog.DiscardHandler))

	var held []*pgxpool.Conn
	for range p.Config().MaxConns {
		conn, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	release := sync.OnceFunc(func() {
		for _, conn := range held {
			conn.Release()
		}
	})
	t.Cleanup(release)
	before := statements.n.Load()
	const sentences = 32
	refusals := make(chan string, sentences)
	for range sentences {
		go func() { refusals <- q.AdmitSentence(t.Context(), c) }()
	}
	time.Sleep(200 * time.Millisecond) // every sentence has asked, and waits for the pool or for the read
	release()
	for range sentences {
		if why := <-refusals; why != "" {
			t.Fatalf("a client with nothing spent was refused: %s", why)
		}
	}
	if n := statements.n.Load() - before; n != 1 {
		t.Fatalf("%d sentences read the client's spending %d times, want once", sentences, n)
	}
}

// A round of model calls commits without waiting for the disk: every call of a client adds to
// one row, and waiting would make the workers take its lock one disk flush at a time
// (migration 00011 says why nothing is lost).
func TestStore_RecordModelCallCommitsWithoutWaitingForTheDisk(t *testing.T) {
	p := pool(t)
	job, client := uuid.New(), uuid.New()
	t.Cleanup(func() {
		_, _ = p.Exec(context.Background(), `DELETE FROM access.model_call WHERE client = $1`, client)
		_, _ = p.Exec(context.Background(), `DELETE FROM access.daily_tokens WHERE client = $1`, client)
	})
	tx, err := p.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var counted uuid.UUID
	if err := tx.QueryRow(t.Context(), `SELECT counted FROM access.record_model_calls(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY[3], ARRAY[4])`,
		job, client).Scan(&counted); err != nil || counted != job {
		t.Fatalf("record a model call: counted %s, %v", counted, err)
	}
	var setting string
	if err := tx.QueryRow(t.Context(), `SHOW synchronous_commit`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "off" {
		t.Fatalf("synchronous_commit is %q in the transaction that recorded a model call, want off", setting)
	}
}

// The model calls two stores (two workers' processes) record at once go in rounds: each job is
// counted once, whichever store and round records it and however often, the day's totals are
// the sums of the jobs, and rounds over the same clients' rows do not deadlock.
func TestStore_RecordModelCallsInRoundsCountEachJobOnce(t *testing.T) {
	p := pool(t)
	stores := []*access.Store{access.NewStore(pool(t)), access.NewStore(pool(t))}
	clients := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	t.Cleanup(func() {
		for _, c := range clients {
			_, _ = p.Exec(context.Background(), `DELETE FROM access.model_call WHERE client = $1`, c)
			_, _ = p.Exec(context.Background(), `DELETE FROM access.daily_tokens WHERE client = $1`, c)
		}
	})
	const jobs, callers = 60, 16
	type job struct {
		id, client         uuid.UUID
		prompt, completion int
	}
	all := make([]job, jobs)
	want := map[uuid.UUID][2]int64{} // client → tokens, calls
	for i := range all {
		all[i] = job{id: uuid.New(), client: clients[i%len(clients)], prompt: 10 + i, completion: i % 7}
		w := want[all[i].client]
		want[all[i].client] = [2]int64{w[0] + int64(all[i].prompt+all[i].completion), w[1] + 1}
	}
	// Every caller records every job, in an order of its own: each job is recorded 16 times.
	counted := make([]atomic.Int32, jobs)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			s := stores[c%len(stores)]
			for i := range jobs {
				k := (i*7 + c) % jobs // 7 is prime to 60: every job, once per caller
				n, err := s.RecordModelCall(t.Context(), all[k].id, all[k].client, all[k].prompt, all[k].completion)
				if err != nil {
					errs <- err
					return
				}
				if n {
					counted[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range counted {
		if n := counted[i].Load(); n != 1 {
			t.Errorf("job %d was reported counted %d times, want once", i, n)
		}
	}
	for _, c := range clients {
		tokens, calls, err := stores[0].TokensToday(t.Context(), c)
		if err != nil || tokens != want[c][0] || calls != want[c][1] {
			t.Errorf("client %s today: %d tokens in %d calls (%v), want %d in %d", c, tokens, calls, err, want[c][0], want[c][1])
		}
	}
	if rounds := access.CallRounds(stores[0]) + access.CallRounds(stores[1]); rounds >= callers*jobs {
		t.Fatalf("%d model calls were recorded in %d rounds: the rounds gathered nothing", callers*jobs, rounds)
	}
}

// Usage counted in memory reaches Postgres in one flush, and reads back as what was done.
func TestUsage_CountsWhatWasDoneAndReadsItBackPerDay(t *testing.T) {
	p := pool(t)
	s := access.NewStore(p)
	c, _, _ := client(t, s, p, access.Premium)
	t.Cleanup(func() {
		for _, table := range []string{"usage", "model_call", "daily_tokens"} {
			_, _ = p.Exec(context.Background(), `DELETE FROM access.`+table+` WHERE client = $1`, c.ID)
		}
	})
	u := access.NewUsage(s, slog.New(slog.DiscardHandler))
	for range 3 {
		u.RPC(c.ID, "Say", "ok")
	}
	u.RPC(c.ID, "Say", "invalid_argument")
	u.Queued(c.ID)
	u.Queued(c.ID)
	u.Refused(c.ID, "sentences")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := u.Run(ctx); err != nil { // an ended context: one last flush
		t.Fatal(err)
	}
	if _, err := s.RecordModelCall(t.Context(), uuid.New(), c.ID, 12, 5); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if _, err := s.UsageBetween(t.Context(), uuid.New(), today, today); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("the usage of a client that does not exist: %v, want not found", err)
	}
	if days, err := s.UsageBetween(t.Context(), c.ID, today.AddDate(0, 0, -9), today.AddDate(0, 0, -2)); err != nil || len(days) != 0 {
		t.Fatalf("a client's usage on days it did nothing: %+v (%v), want none", days, err)
	}
	days, err := s.UsageBetween(t.Context(), c.ID, today.AddDate(0, 0, -1), today)
	if err != nil || len(days) != 1 {
		t.Fatalf("usage %+v (%v), want today's alone", days, err)
	}
	d := days[0]
	if !d.Day.Equal(today) || d.RPCs["Say/ok"] != 3 || d.RPCs["Say/invalid_argument"] != 1 || d.Queued != 2 || d.Refused != 1 ||
		d.ModelCalls != 1 || d.PromptTokens != 12 || d.CompletionTokens != 5 {
		t.Fatalf("today's usage %+v, want 3 Say ok, 1 invalid, 2 queued, 1 refused, 1 model call of 12 + 5 tokens", d)
	}
}

func TestStore_ForgetModelCallsDeletesOnlyOldRowsAtMostBatchAndKeepsTheTotals(t *testing.T) {
	p := pool(t)
	s := access.NewStore(p)
	c, _, _ := client(t, s, p, access.Premium)
	var old []uuid.UUID
	for range 3 {
		old = append(old, uuid.New())
	}
	recent := uuid.New()
	for _, job := range append(old, recent) {
		if _, err := s.RecordModelCall(t.Context(), job, c.ID, 4, 3); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = p.Exec(context.Background(), `DELETE FROM access.model_call WHERE client = $1`, c.ID)
		_, _ = p.Exec(context.Background(), `DELETE FROM access.daily_tokens WHERE client = $1`, c.ID)
	})
	// Two centuries back: on a shared database nobody else's row is that old, so what the
	// test asks to forget (a century and a half) is exactly its own three.
	if _, err := p.Exec(t.Context(), `UPDATE access.model_call SET at = now() - interval '200 years' WHERE job = ANY ($1)`, old); err != nil {
		t.Fatal(err)
	}
	const century = 150 * 365 * 24 * time.Hour
	for _, want := range []int{2, 1, 0} {
		n, err := s.ForgetModelCalls(t.Context(), century, 2)
		if err != nil || n != want {
			t.Fatalf("ForgetModelCalls deleted %d (%v), want %d: at most the batch, and only rows older than asked", n, err, want)
		}
	}
	rows, _ := p.Query(t.Context(), `SELECT job FROM access.model_call WHERE client = $1`, c.ID)
	left, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(left) != 1 || left[0] != recent {
		t.Fatalf("rows left %v (%v), want only the recent job's", left, err)
	}
	if tokens, calls, err := s.TokensToday(t.Context(), c.ID); err != nil || tokens != 28 || calls != 4 {
		t.Errorf("today: %d tokens in %d calls (%v), want the 28 in 4 counted before: forgetting the rows keeps the totals", tokens, calls, err)
	}
	if n, err := s.ForgetModelCalls(t.Context(), century, 0); err != nil || n != 0 {
		t.Errorf("a batch of 0 deleted %d (%v)", n, err)
	}
}

// A sentence given back (ReturnSentence) may be sent again, but the allowance never grows past
// its limit: a client cannot bank returns.
func TestQuotas_ReturnedSentencesRefillTheAllowanceUpToItsLimit(t *testing.T) {
	q := access.NewQuotas(access.QuotaConfig{Clients: access.Limits{SentencesPerMinute: 2}}, nil, slog.New(slog.DiscardHandler))
	c := access.Client{ID: uuid.New(), Tier: access.Free}
	q.ReturnSentence(c) // before any sentence: nothing to give back
	if why := q.AdmitSentence(t.Context(), c); why != "" {
		t.Fatalf("the first sentence: %s", why)
	}
	for range 3 { // one taken, three given back: the allowance is full again, and no more
		q.ReturnSentence(c)
	}
	admitted := 0
	for range 4 {
		if q.AdmitSentence(t.Context(), c) == "" {
			admitted++
		}
	}
	if admitted != 2 {
		t.Fatalf("%d of 4 sentences admitted, want the limit, 2", admitted)
	}
	q.ReturnSentence(c)
	if why := q.AdmitSentence(t.Context(), c); why != "" {
		t.Fatalf("a sentence after one was given back: %s, want it admitted", why)
	}
	why := q.AdmitSentence(t.Context(), c)
	if !strings.Contains(why, "2 sentences a minute, in bursts of at most 2; try again in 30s") {
		t.Fatalf("the next: %q, want a refusal naming the limit and about 30 s", why)
	}
}

// A client's limit changed keeps what its allowance holds, at most the new limit: a limit
// changed back and forth gave a full new burst at each change. The time since the last call
// fills at the faster rate: a raised limit was refused as if it had not been.
func TestQuotas_ALimitChangedKeepsWhatTheAllowanceHolds(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	q := access.NewQuotas(access.QuotaConfig{Clients: access.Limits{SentencesPerMinute: 600}, Now: func() time.Time { return now }},
		nil, slog.New(slog.DiscardHandler))
	c := access.Client{ID: uuid.New(), Tier: access.Free, Limits: access.Limits{SentencesPerMinute: 2}}
	admitted := func(n int) int {
		got := 0
		for range n {
			if q.AdmitSentence(t.Context(), c) == "" {
				got++
			}
		}
		return got
	}
	if got := admitted(3); got != 2 {
		t.Fatalf("%d of 3 admitted at 2 a minute, want 2", got)
	}
	c.Limits.SentencesPerMinute = 0 // back to the default, 600 a minute: 10 a second from now on
	if got := admitted(5); got != 0 {
		t.Fatalf("%d of 5 admitted at once after the limit was raised, want none: the allowance was empty", got)
	}
	c.Limits.SentencesPerMinute = 2
	now = now.Add(300 * time.Millisecond) // 3 at 10 a second; the new limit holds 2 of them
	if got := admitted(3); got != 2 {
		t.Fatalf("%d of 3 admitted after the limit went back to 2, want 2", got)
	}
	// Raised once the old limit was spent, and a while after: the time since the last sentence
	// fills at the new rate, the faster. At the old one, 3 s held a tenth of a sentence, and the
	// client was told to wait still.
	now = now.Add(3 * time.Second)
	c.Limits.SentencesPerMinute = 0 // 10 a second: 3 s hold 30
	if got := admitted(5); got != 5 {
		t.Fatalf("%d of 5 admitted 3 s after the limit was raised to 10 a second, want 5", got)
	}
}

// A limit of one is said in the singular: "1 sentence a minute".
func TestQuotas_ALimitOfOneIsSaidInTheSingular(t *testing.T) {
	q := access.NewQuotas(access.QuotaConfig{Clients: access.Limits{RequestsPerSecond: 1, SentencesPerMinute: 1}}, nil, slog.New(slog.DiscardHandler))
	c := access.Client{ID: uuid.New(), Tier: access.Free}
	if err := q.AllowRequest(c); err != nil {
		t.Fatalf("the first request: %v", err)
	}
	if err := q.AllowRequest(c); err == nil || !strings.Contains(err.Error(), "quota exceeded: 1 request a second, in bursts of at most 1;") {
		t.Errorf("the second request: %v, want a refusal saying 1 request", err)
	}
	if why := q.AdmitSentence(t.Context(), c); why != "" {
		t.Fatalf("the first sentence: %s", why)
	}
	if why := q.AdmitSentence(t.Context(), c); !strings.Contains(why, "quota exceeded: 1 sentence a minute, in bursts of at most 1;") {
		t.Errorf("the second sentence: %q, want a refusal saying 1 sentence", why)
	}
}
