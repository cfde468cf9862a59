package main_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/proctest"
)

func TestDispatcher_RecoversOnItsOwnWhenPostgresComesBack(t *testing.T) {
	e := setup(t)
	dbURL, err := url.Parse(e.ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := proctest.NewProxy(t, dbURL.Host)
	dbURL.Host = proxy.Addr()
	d := e.start("DATABASE_URL=" + dbURL.String())
	defer e.stop(d)

	proxy.Down()
	waitReady(t, d.admin, false)
	rec := uuid.New()
	e.insert(rec, "eeg", eegChannels)
	e.insert(rec, "accelerometer", accChannels)

	waitLog(t, d.Proc, "batch failed; retrying")
	// Had the dispatcher committed offsets past the batch it could not store, this recording
	// would never be processed.
	proxy.Up()
	e.waitProcessed(30*time.Second, rec)
	waitReady(t, d.admin, true)
}

func TestDispatcher_StartsWithoutKafkaAndJoinsWhenItAppears(t *testing.T) {
	e := setup(t)
	proxy := proctest.NewProxy(t, e.ep.KafkaBrokers[0])
	proxy.Down()
	d := e.launch("KAFKA_BROKERS=" + proxy.Addr())
	defer e.stop(d)

	proctest.WaitHTTP(t, "http://"+d.admin+"/healthz", 20*time.Second) // alive...
	waitReady(t, d.admin, false)                                       // ...but not ready
	if d.Exited() {
		t.Fatal("the dispatcher gave up without Kafka")
	}
	proxy.Up()
	waitReady(t, d.admin, true)
	rec := uuid.New()
	e.insert(rec, "eeg", eegChannels)
	e.insert(rec, "accelerometer", accChannels)
	e.waitProcessed(30*time.Second, rec)
}

// waitReady waits for /readyz to report ready (200) or not (503).
func waitReady(t *testing.T, admin string, ready bool) {
	t.Helper()
	want := http.StatusServiceUnavailable
	if ready {
		want = http.StatusOK
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+admin+"/readyz", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered %d", want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
