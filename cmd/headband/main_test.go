package main_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// Each test uses its own seed, so their recordings (and rows) never overlap.
const (
	fastSeed     = 4242001
	sigtermSeed  = 4242002
	recoverySeed = 4242003
)

func TestHeadband_FastRunInsertsExactlyWhatTheGeneratorSaysThenExitsZero(t *testing.T) {
	const n = 20
	ep := stack.Require(t, stack.Postgres)
	recs := recordings(fastSeed, n)
	conn := connect(t, ep.DatabaseURL, recs)

	p := proctest.Start(t, proctest.Build(t, "./cmd/headband"),
		"DATABASE_URL="+ep.DatabaseURL, "ADMIN_ADDR="+proctest.FreeAddr(t),
		"HEADBAND_FAST=1", "HEADBAND_RECORDINGS="+strconv.Itoa(n), "HEADBAND_SEED="+strconv.Itoa(fastSeed))
	if code := p.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}

	got := rows(t, conn, recs)
	want := 0
	for _, r := range recs {
		signals := r.Signals()
		want += len(signals)
		if perRecording := countRecording(got, r.ID); perRecording != len(signals) {
			t.Errorf("recording %s: %d rows, want %d (dropped %v)", r.ID, perRecording, len(signals), r.Dropped)
		}
		for _, s := range signals {
			row, ok := got[s.ID]
			switch {
			case !ok:
				t.Errorf("recording %s: %s signal %s missing", r.ID, s.SensorType, s.ID)
			case !sameRow(row, s):
				t.Errorf("recording %s: %s signal %s differs: got %s %v %d bytes %s, want %s %v %d bytes %s",
					r.ID, s.SensorType, s.ID, row.SensorType, row.Channels, len(row.Data), row.SampleType,
					s.SensorType, s.Channels, len(s.Data), s.SampleType)
			}
		}
	}
	if len(got) != want {
		t.Errorf("%d rows for the run's recordings, want %d", len(got), want)
	}
	if lines := strings.Count(p.Output(), `msg="inserted signal"`); lines != want {
		t.Errorf("%d \"inserted signal\" log lines, want %d", lines, want)
	}
}

func TestHeadband_SIGTERMDuringASlowRunExitsZeroPromptly(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	connect(t, ep.DatabaseURL, recordings(sigtermSeed, 200)) // cleans up whatever it inserted
	admin := proctest.FreeAddr(t)
	p := proctest.Start(t, proctest.Build(t, "./cmd/headband"),
		"DATABASE_URL="+ep.DatabaseURL, "ADMIN_ADDR="+admin, "HEADBAND_SEED="+strconv.Itoa(sigtermSeed),
		"HEADBAND_INTERVAL=200ms", "HEADBAND_MAX_PAUSE=3s", "SHUTDOWN_GRACE=20s")
	proctest.WaitHTTP(t, "http://"+admin+"/readyz", 20*time.Second)
	waitFor(t, 20*time.Second, "a row to be inserted", func() bool {
		return strings.Contains(p.Output(), `msg="inserted signal"`)
	})

	sent := time.Now()
	p.Signal(t, syscall.SIGTERM)
	// Recordings in flight are mid-pause: the process must not sit out their pauses, nor the
	// 20 s grace, which is only for statements already executing.
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if took := time.Since(sent); took > 5*time.Second {
		t.Errorf("took %s to exit after SIGTERM", took)
	}
	out := p.Output()
	for _, want := range []string{"recording cut short by shutdown", "shut down cleanly"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestHeadband_RetriesWhileTheDatabaseIsDownAndInsertsOnceItIsBack(t *testing.T) {
	const n = 3
	ep := stack.Require(t, stack.Postgres)
	recs := recordings(recoverySeed, n)
	conn := connect(t, ep.DatabaseURL, recs)

	// The simulator talks to Postgres through a proxy that is down at start.
	target := pgAddr(t, ep.DatabaseURL)
	proxy := proctest.NewProxy(t, target)
	proxy.Down()
	admin := proctest.FreeAddr(t)
	p := proctest.Start(t, proctest.Build(t, "./cmd/headband"),
		"DATABASE_URL="+withHost(t, ep.DatabaseURL, proxy.Addr()), "ADMIN_ADDR="+admin,
		"HEADBAND_FAST=1", "HEADBAND_RECORDINGS="+strconv.Itoa(n), "HEADBAND_SEED="+strconv.Itoa(recoverySeed))
	proctest.WaitHTTP(t, "http://"+admin+"/healthz", 20*time.Second)
	waitFor(t, 20*time.Second, "failed insert attempts", func() bool {
		return metric(admin, "headband_insert_errors_total") > 0
	})
	if code := status(admin, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while the database is unreachable, want 503", code)
	}
	if p.Exited() {
		t.Fatal("the process ended while the database was unreachable")
	}

	proxy.Up()
	waitFor(t, 30*time.Second, "/readyz to recover", func() bool { return status(admin, "/readyz") == http.StatusOK })
	if code := p.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	want := 0
	for _, r := range recs {
		want += len(r.Signals())
	}
	if got := len(rows(t, conn, recs)); got != want {
		t.Fatalf("%d rows after the database came back, want %d", got, want)
	}
}

func TestHeadband_RejectsBadConfigurationNamingTheVariable(t *testing.T) {
	bin := proctest.Build(t, "./cmd/headband")
	cases := map[string]string{
		"HEADBAND_INTERVAL":      "soon",
		"HEADBAND_MAX_PAUSE":     "-1s",
		"HEADBAND_RECORDINGS":    "-1",
		"HEADBAND_SEED":          "abc",
		"HEADBAND_FAST":          "maybe",
		"HEADBAND_MAX_IN_FLIGHT": "0",
		"HEADBAND_RETRY_FOR":     "0s",
		"SHUTDOWN_GRACE":         "0s",
		"DATABASE_URL":           "postgres://postgres:demo@localhost:notaport/beacon",
		"LOG_LEVEL":              "chatty",
		"LOG_FORMAT":             "xml",
	}
	for name, value := range cases {
		p := proctest.Start(t, bin, name+"="+value, "ADMIN_ADDR="+proctest.FreeAddr(t))
		if code := p.Wait(t, 10*time.Second); code == 0 {
			t.Errorf("%s=%s: exit code 0, want failure", name, value)
		}
		if !strings.Contains(p.Output(), name) {
			t.Errorf("%s=%s: error does not name the variable: %s", name, value, p.Output())
		}
	}
}

func TestHeadband_BusyAdminPortIsAClearError(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := proctest.Start(t, proctest.Build(t, "./cmd/headband"), "ADMIN_ADDR="+ln.Addr().String())
	if code := p.Wait(t, 10*time.Second); code == 0 {
		t.Fatal("exit code 0 with the admin port taken")
	}
	if out := p.Output(); !strings.Contains(out, "ADMIN_ADDR") || !strings.Contains(out, ln.Addr().String()) {
		t.Fatalf("error does not name the variable and the address: %s", out)
	}
}

func recordings(seed uint64, n int) []headband.Recording {
	g := headband.NewGenerator(seed, 0)
	out := make([]headband.Recording, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// connect opens a connection to the stack's database and deletes the rows of recs now (a
// previous run may have left them) and when the test ends.
func connect(t *testing.T, url string, recs []headband.Recording) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	clean := func(ctx context.Context) {
		if _, err := conn.Exec(ctx, `DELETE FROM datastore.signal WHERE recording = ANY($1)`, ids); err != nil {
			t.Errorf("clean up rows: %v", err)
		}
	}
	clean(t.Context())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		clean(ctx)
		_ = conn.Close(ctx)
	})
	return conn
}

// rows reads the rows of recs by signal ID.
func rows(t *testing.T, conn *pgx.Conn, recs []headband.Recording) map[uuid.UUID]headband.Signal {
	t.Helper()
	ids := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	res, err := conn.Query(t.Context(), `
		SELECT id, recording, data, lower(span), upper(span), sensor_label, sensor_type, channels,
		       sample_unit, sample_resolution_in_unit, sample_offset_in_unit, sample_type::text, sample_rate
		FROM datastore.signal WHERE recording = ANY($1)`, ids)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uuid.UUID]headband.Signal{}
	for res.Next() {
		var s headband.Signal
		var sampleType string
		if err := res.Scan(&s.ID, &s.Recording, &s.Data, &s.Span.Start, &s.Span.End, &s.SensorLabel, &s.SensorType,
			&s.Channels, &s.SampleUnit, &s.SampleResolution, &s.SampleOffset, &sampleType, &s.SampleRate); err != nil {
			t.Fatal(err)
		}
		s.SampleType = headband.SampleType(sampleType)
		out[s.ID] = s
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRow(row, s headband.Signal) bool {
	return row.Recording == s.Recording && row.SensorLabel == s.SensorLabel && row.SensorType == s.SensorType &&
		slices.Equal(row.Channels, s.Channels) && len(row.Data) == len(s.Data) && slices.Equal(row.Data, s.Data) &&
		row.Span == s.Span && row.SampleType == s.SampleType && row.SampleRate == s.SampleRate &&
		row.SampleUnit == s.SampleUnit && row.SampleResolution == s.SampleResolution && row.SampleOffset == s.SampleOffset
}

func countRecording(rows map[uuid.UUID]headband.Signal, rec uuid.UUID) int {
	n := 0
	for _, r := range rows {
		if r.Recording == rec {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(admin, path string) int {
	res, err := http.Get("http://" + admin + path)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	return res.StatusCode
}

// metric returns the value of an unlabelled sample on the admin port's /metrics, or -1.
func metric(admin, name string) float64 {
	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// withHost returns the database URL with its host and port replaced by addr.
func withHost(t *testing.T, databaseURL, addr string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// pgAddr is the host:port a database URL points at, default port included.
func pgAddr(t *testing.T, databaseURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// A run of HEADBAND_RECORDINGS whose rows did not land fails: against a database that answers
// but was never migrated, /readyz says why, and the process exits 1 once the recordings are
// done, saying how many signals it gave up on.
func TestHeadband_ARunThatInsertedNothingFailsAndIsNotReady(t *testing.T) {
	admin := proctest.FreeAddr(t)
	p := proctest.Start(t, proctest.Build(t, "./cmd/headband"),
		"DATABASE_URL="+stack.EmptyDatabase(t), "ADMIN_ADDR="+admin,
		"HEADBAND_FAST=1", "HEADBAND_RECORDINGS=1", "HEADBAND_RETRY_FOR=5s", "HEADBAND_SEED="+strconv.Itoa(recoverySeed))
	proctest.WaitHTTP(t, "http://"+admin+"/healthz", 20*time.Second)
	// Its first signal is retried for HEADBAND_RETRY_FOR: it cannot have ended yet.
	if code := status(admin, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with no datastore.signal, want 503", code)
	}
	if code := p.Wait(t, 60*time.Second); code != 1 || !strings.Contains(p.Output(), "gave up inserting signals") {
		t.Fatalf("exit code %d, printed:\n%s\nwant 1 and the signals given up", code, p.Output())
	}
}

// A database that refuses the credentials stops the simulator at its start, naming
// DATABASE_URL, as it stops the other binaries: each row was retried for HEADBAND_RETRY_FOR as
// a passing fault, then given up, one after another (forever with HEADBAND_RECORDINGS=0).
func TestHeadband_CredentialsTheDatabaseRefusesStopItAtStart(t *testing.T) {
	u, err := url.Parse(stack.Require(t, stack.Postgres).DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "not-the-password")
	p := proctest.Start(t, proctest.Build(t, "./cmd/headband"),
		"DATABASE_URL="+u.String(), "ADMIN_ADDR="+proctest.FreeAddr(t), "HEADBAND_FAST=1", "HEADBAND_RECORDINGS=0")
	if code := p.Wait(t, 30*time.Second); code != 1 || !strings.Contains(p.Output(), "DATABASE_URL: the database cannot be used") {
		t.Fatalf("exit code %d, printed:\n%s\nwant 1, naming DATABASE_URL", code, p.Output())
	}
}
