// Command auth is the benchmark harness behind `make bench-auth`. It measures what
// authentication costs the front door, on the local stack (the clients and tokens in its
// Postgres), and prints a Markdown report; BENCHMARKS.md keeps a run's numbers.
//
//  1. Say throughput and latency: C concurrent callers (Connect over HTTP/1.1, one connection
//     each) call Say for a while on a front door with AUTH=off, then on one with
//     AUTH=required and a valid token, in alternating rounds; requests per second and the
//     latency percentiles of each, and the ratio of the two throughputs (target >= 0.9).
//     Both front doors have their request quotas off: the run measures the check, not a limit.
//  2. Revocation: a token is checked (and cached) on two AUTH=required front doors, then
//     revoked; each front door is asked in a tight loop until it refuses the token. The time
//     until both refuse it, over many revocations.
//
// It adds a client of its own and deletes it, with its usage, at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/internal/access"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

type config struct {
	Concurrency int
	Duration    time.Duration
	Rounds      int
	Revocations int
	Timeout     time.Duration
	DatabaseURL string
	Brokers     string
	Out         string
}

func (c config) RunTimeout() time.Duration { return c.Timeout }

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench-auth", flag.ContinueOnError)
	fs.IntVar(&c.Concurrency, "concurrency", 32, "concurrent Say callers")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time of each round and configuration")
	fs.IntVar(&c.Rounds, "rounds", 3, "rounds, each measuring AUTH=off and AUTH=required once, in alternating order")
	fs.IntVar(&c.Revocations, "revocations", 20, "tokens revoked, each timed until both front doors refuse it")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "bound on the whole run")
	fs.StringVar(&c.DatabaseURL, "database-url", envOr("DATABASE_URL", "postgres://postgres:demo@localhost:5432/beacon?sslmode=disable"), "the stack's Postgres")
	fs.StringVar(&c.Brokers, "brokers", envOr("KAFKA_BROKERS", "localhost:9092"), "the stack's Kafka")
	fs.StringVar(&c.Out, "out", "", "also write the report to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Concurrency < 1 || c.Duration <= 0 || c.Rounds < 1 || c.Revocations < 1 {
		return c, errors.New("-concurrency, -duration, -rounds and -revocations must be positive")
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() { benchkit.Main("bench-auth", parseConfig, run) }

type bench struct {
	cfg    config
	log    *slog.Logger
	dir    string
	runID  string
	store  *access.Store
	pool   *pgxpool.Pool
	client access.Client
	token  string
	procs  []*benchkit.Process
}

func run(ctx context.Context, log *slog.Logger, cfg config) error {
	dir, err := os.MkdirTemp("", "bench-auth-")
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, log: log, dir: dir, runID: time.Now().UTC().Format("20060102T150405")}
	rep, runErr := b.run(ctx)
	return benchkit.Finish(ctx, log, benchkit.Outcome{Err: runErr, Cleanup: b.cleanup, Dir: dir, Out: cfg.Out, Report: rep.write, Figures: rep.figures})
}

type door struct {
	name string
	addr string
}

func (b *bench) startDoor(ctx context.Context, name string, env ...string) (door, error) {
	addr, err := benchkit.FreeAddr(ctx)
	if err != nil {
		return door{}, err
	}
	p, err := benchkit.StartProcess(ctx, benchkit.ProcessConfig{
		Name: name, Path: filepath.Join(b.dir, "frontdoor"), Log: filepath.Join(b.dir, name+".log"),
		Env: append([]string{
			"ADDR=" + addr, "DATABASE_URL=" + b.cfg.DatabaseURL, "KAFKA_BROKERS=" + b.cfg.Brokers,
			"JOBS_TOPIC=bench.auth." + b.runID, "WEB_UI=false", "LOG_LEVEL=warn",
			"QUOTA_REQUESTS_PER_SECOND=0", "ANONYMOUS_REQUESTS_PER_SECOND=0",
		}, env...),
	})
	if err != nil {
		return door{}, err
	}
	b.procs = append(b.procs, p)
	if err := p.WaitReady(ctx, 30*time.Second); err != nil {
		return door{}, fmt.Errorf("%s: %w", name, err)
	}
	return door{name: name, addr: addr}, nil
}

func (b *bench) run(ctx context.Context) (report, error) {
	rep := report{cfg: b.cfg, runID: b.runID, machine: benchkit.ThisMachine()}
	b.log.Info("building the front door", "dir", b.dir)
	if err := benchkit.Build(ctx, b.dir, "./cmd/frontdoor"); err != nil {
		return rep, err
	}
	pool, err := pgxpool.New(ctx, b.cfg.DatabaseURL)
	if err != nil {
		return rep, err
	}
	b.pool, b.store = pool, access.NewStore(pool)
	if b.client, b.token, _, err = b.store.AddClient(ctx, "bench-auth "+b.runID, access.Premium, false); err != nil {
		return rep, fmt.Errorf("add the bench's client (are the migrations applied? make stack-up): %w", err)
	}
	off, err := b.startDoor(ctx, "frontdoor-off", "AUTH=off")
	if err != nil {
		return rep, err
	}
	required, err := b.startDoor(ctx, "frontdoor-required", "AUTH=required")
	if err != nil {
		return rep, err
	}

	samples := map[string][]time.Duration{}
	rates := map[string][]float64{}
	for round := range b.cfg.Rounds {
		order := []door{off, required}
		if round%2 == 1 {
			order = []door{required, off}
		}
		for _, d := range order {
			token := ""
			if d == required {
				token = b.token
			}
			lat, rate, err := b.load(ctx, d, token)
			if err != nil {
				return rep, err
			}
			b.log.Info("round measured", "round", round+1, "door", d.name, "rps", int(rate))
			samples[d.name] = append(samples[d.name], lat...)
			rates[d.name] = append(rates[d.name], rate)
		}
	}
	rep.off = result{rps: median(rates[off.name]), latency: benchkit.Summarise(samples[off.name]), samples: samples[off.name]}
	rep.required = result{rps: median(rates[required.name]), latency: benchkit.Summarise(samples[required.name]), samples: samples[required.name]}

	second, err := b.startDoor(ctx, "frontdoor-required-2", "AUTH=required")
	if err != nil {
		return rep, err
	}
	if rep.revocation, err = b.revocations(ctx, required, second); err != nil {
		return rep, err
	}
	return rep, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// sayClient is a Say client of d sending token (none when empty), with one connection per caller.
func sayClient(d door, token string, conns int) elizav1connect.ElizaServiceClient {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	var rt http.RoundTripper = tr
	if token != "" {
		rt = access.WithHeader(tr, "Authorization", "Bearer "+token)
	}
	return elizav1connect.NewElizaServiceClient(&http.Client{Transport: rt}, "http://"+d.addr)
}

// load runs the callers against d for a second of warm-up, then for the duration, and returns
// the measured calls' latencies and the calls a second.
func (b *bench) load(ctx context.Context, d door, token string) ([]time.Duration, float64, error) {
	client := sayClient(d, token, b.cfg.Concurrency)
	warm := time.Now().Add(time.Second)
	end := warm.Add(b.cfg.Duration)
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for range b.cfg.Concurrency {
		wg.Go(func() {
			var mine []time.Duration
			req := &elizav1.SayRequest{Sentence: "I feel happy today"}
			for {
				start := time.Now()
				if !start.Before(end) || ctx.Err() != nil {
					break
				}
				if _, err := client.Say(ctx, connect.NewRequest(req)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: Say: %w", d.name, err)
					}
					mu.Unlock()
					return
				}
				if start.After(warm) {
					mine = append(mine, time.Since(start))
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return all, float64(len(all)) / b.cfg.Duration.Seconds(), ctx.Err()
}

// revocations revokes fresh tokens, each cached first on both doors, and times until both
// refuse it.
func (b *bench) revocations(ctx context.Context, doors ...door) (benchkit.Distribution, error) {
	var times []time.Duration
	for range b.cfg.Revocations {
		secret, tok, err := b.store.AddToken(ctx, b.client.ID)
		if err != nil {
			return benchkit.Distribution{}, err
		}
		clients := make([]elizav1connect.ElizaServiceClient, len(doors))
		for i, d := range doors {
			clients[i] = sayClient(d, secret, 1)
			if _, err := clients[i].Say(ctx, connect.NewRequest(&elizav1.SayRequest{Sentence: "hello"})); err != nil {
				return benchkit.Distribution{}, fmt.Errorf("%s: a new token: %w", d.name, err)
			}
		}
		start := time.Now()
		if err := b.store.RevokeToken(ctx, tok.ID); err != nil {
			return benchkit.Distribution{}, err
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var slowest time.Duration
		var failed error
		for i, c := range clients {
			wg.Go(func() {
				for time.Since(start) < 10*time.Second {
					_, err := c.Say(ctx, connect.NewRequest(&elizav1.SayRequest{Sentence: "hello"}))
					if connect.CodeOf(err) == connect.CodeUnauthenticated {
						mu.Lock()
						slowest = max(slowest, time.Since(start))
						mu.Unlock()
						return
					}
					time.Sleep(time.Millisecond)
				}
				mu.Lock()
				failed = fmt.Errorf("%s still accepts a token revoked 10 s ago", doors[i].name)
				mu.Unlock()
			})
		}
		wg.Wait()
		if failed != nil {
			return benchkit.Distribution{}, failed
		}
		times = append(times, slowest)
	}
	return benchkit.Summarise(times), nil
}

func (b *bench) cleanup(ctx context.Context) error {
	var errs []error
	for _, p := range b.procs {
		errs = append(errs, p.Stop())
	}
	if b.pool != nil {
		if b.client.ID != uuid.Nil {
			for _, table := range []string{"usage", "daily_tokens", "model_call"} {
				if _, err := b.pool.Exec(ctx, `DELETE FROM access.`+table+` WHERE client = $1`, b.client.ID); err != nil {
					errs = append(errs, err)
				}
			}
			if _, err := b.pool.Exec(ctx, `DELETE FROM access.client WHERE id = $1`, b.client.ID); err != nil {
				errs = append(errs, err)
			}
		}
		b.pool.Close()
	}
	return errors.Join(errs...)
}

type result struct {
	rps     float64
	latency benchkit.Distribution
	samples []time.Duration // latency's sample, for the plot
}

type report struct {
	cfg           config
	runID         string
	machine       benchkit.Machine
	off, required result
	revocation    benchkit.Distribution
}

// figures is the report's plot: Say's latency with and without authentication.
func (r report) figures() []benchkit.Figure {
	return []benchkit.Figure{{Name: "say", Plot: benchkit.LatencyCDF(
		fmt.Sprintf("Say latency, %d concurrent callers", r.cfg.Concurrency),
		benchkit.Series{Name: "AUTH=off", Sample: r.off.samples},
		benchkit.Series{Name: "AUTH=required, valid token", Sample: r.required.samples})}}
}

func (r report) write(w io.Writer) {
	r.machine.WriteHeader(w, "bench-auth", r.runID)
	fmt.Fprintf(w, "- load: %d concurrent Say callers (Connect, HTTP/1.1, a connection each) on the same machine, %d rounds of %s per configuration after 1 s of warm-up; request quotas off\n\n",
		r.cfg.Concurrency, r.cfg.Rounds, r.cfg.Duration)
	t := benchkit.NewTable("front door", "requests/s (median of rounds)", "p50", "p90", "p99", "max", "calls")
	for _, row := range []struct {
		name string
		res  result
	}{{"AUTH=off", r.off}, {"AUTH=required, valid token", r.required}} {
		t.Add(row.name, fmt.Sprintf("%.0f", row.res.rps), benchkit.Millis(row.res.latency.P50), benchkit.Millis(row.res.latency.P90),
			benchkit.Millis(row.res.latency.P99), benchkit.Millis(row.res.latency.Max), benchkit.Thousands(int64(row.res.latency.N)))
	}
	t.Write(w)
	ratio := r.required.rps / r.off.rps
	fmt.Fprintf(w, "\nAUTH=required at %.3f of AUTH=off's throughput (target >= 0.9): %s\n\n", ratio, benchkit.Met(ratio >= 0.9))
	fmt.Fprintf(w, "Revocation, until both of two AUTH=required front doors refuse the token (%d revocations, each token checked and cached on both first): p50 %s, p90 %s, max %s (bound: 1 s): %s\n",
		r.revocation.N, benchkit.Millis(r.revocation.P50), benchkit.Millis(r.revocation.P90), benchkit.Millis(r.revocation.Max),
		benchkit.Met(r.revocation.Max <= time.Second))
}
