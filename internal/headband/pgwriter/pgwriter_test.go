package pgwriter_test

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/headband/pgwriter"
	"github.com/beacon/eventdispatch/internal/headband/simulate"
	"github.com/beacon/eventdispatch/internal/stack"
)

// setup returns a writer and a direct connection to the stack's database, and deletes the
// rows of recs when the test ends.
func setup(t *testing.T, recs ...headband.Recording) (*pgwriter.Writer, *pgx.Conn) {
	t.Helper()
	ep := stack.Require(t, stack.Postgres)
	w, err := pgwriter.Open(t.Context(), ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	conn, err := pgx.Connect(t.Context(), ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `DELETE FROM datastore.signal WHERE recording = ANY($1)`, ids); err != nil {
			t.Errorf("clean up rows: %v", err)
		}
		_ = conn.Close(ctx)
	})
	return w, conn
}

// fullRecording is a recording of a fresh random seed with all three signals kept.
func fullRecording(t *testing.T) headband.Recording {
	t.Helper()
	g := headband.NewGenerator(rand.Uint64(), 0)
	for range 1000 {
		if r := g.Next(); len(r.Inserts) == 3 {
			return r
		}
	}
	t.Fatal("no recording with three signals in 1000")
	return headband.Recording{}
}

func TestWriter_InsertsEachSignalAsARowThatReadsBackUnchanged(t *testing.T) {
	rec := fullRecording(t)
	w, conn := setup(t, rec)
	for _, s := range rec.Signals() {
		inserted, err := w.Insert(t.Context(), s)
		if err != nil || !inserted {
			t.Fatalf("insert %s signal: inserted=%v err=%v", s.SensorType, inserted, err)
		}
	}
	for _, want := range rec.Signals() {
		var got headband.Signal
		var sampleType string
		var halfOpen bool
		err := conn.QueryRow(t.Context(), `
			SELECT id, recording, data, lower(span), upper(span), sensor_label, sensor_type, channels,
			       sample_unit, sample_resolution_in_unit, sample_offset_in_unit, sample_type::text, sample_rate,
			       lower_inc(span) AND NOT upper_inc(span)
			FROM datastore.signal WHERE id = $1`, want.ID).Scan(
			&got.ID, &got.Recording, &got.Data, &got.Span.Start, &got.Span.End, &got.SensorLabel, &got.SensorType,
			&got.Channels, &got.SampleUnit, &got.SampleResolution, &got.SampleOffset, &sampleType, &got.SampleRate,
			&halfOpen)
		if err != nil {
			t.Fatalf("read back %s signal: %v", want.SensorType, err)
		}
		if !halfOpen {
			t.Errorf("%s signal: span is not [start,end)", want.SensorType)
		}
		got.SampleType = headband.SampleType(sampleType)
		got.Samples = want.Samples // not a column
		if !equalSignals(got, want) {
			t.Errorf("%s signal read back as %+v, want %+v", want.SensorType, brief(got), brief(want))
		}
	}
}

func TestWriter_ReportsAnExistingSignalAsNotInsertedWithoutError(t *testing.T) {
	rec := fullRecording(t)
	w, _ := setup(t, rec)
	s := rec.Signals()[0]
	if inserted, err := w.Insert(t.Context(), s); err != nil || !inserted {
		t.Fatalf("first insert: inserted=%v err=%v", inserted, err)
	}
	if inserted, err := w.Insert(t.Context(), s); err != nil || inserted {
		t.Fatalf("second insert: inserted=%v err=%v, want false and no error", inserted, err)
	}
}

func TestWriter_MarksARowTheSchemaRejectsAsPermanent(t *testing.T) {
	rec := fullRecording(t)
	w, _ := setup(t, rec)
	s := rec.Signals()[0]
	s.SensorLabel = "Not A Label" // violates the signal_label domain's check
	_, err := w.Insert(t.Context(), s)
	if err == nil || !simulate.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
}

func TestWriter_FailsTransientlyWhileTheDatabaseIsUnreachable(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	w, err := pgwriter.Open(t.Context(), "postgres://postgres:secret@"+addr+"/beacon?sslmode=disable")
	if err != nil {
		t.Fatalf("Open must not need the database: %v", err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with nothing listening")
	}
	_, err = w.Insert(ctx, fullRecording(t).Signals()[0])
	if err == nil || simulate.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
}

func TestOpen_RejectsAMalformedURLWithoutShowingThePassword(t *testing.T) {
	_, err := pgwriter.Open(t.Context(), "postgres://postgres:hunter2@localhost:notaport/beacon")
	if err == nil {
		t.Fatal("want an error for a malformed URL")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func equalSignals(a, b headband.Signal) bool {
	return a.ID == b.ID && a.Recording == b.Recording && slices.Equal(a.Data, b.Data) && a.Span == b.Span &&
		a.SensorLabel == b.SensorLabel && a.SensorType == b.SensorType && slices.Equal(a.Channels, b.Channels) &&
		a.SampleUnit == b.SampleUnit && a.SampleResolution == b.SampleResolution && a.SampleOffset == b.SampleOffset &&
		a.SampleType == b.SampleType && a.SampleRate == b.SampleRate
}

// brief leaves out the bulky fields in failure messages.
func brief(s headband.Signal) headband.Signal {
	s.Samples, s.Data = nil, s.Data[:min(8, len(s.Data))]
	return s
}

// A database that answers but was not migrated is not ready: every insert would fail.
func TestWriter_PingNeedsTheSignalTable(t *testing.T) {
	for _, c := range []struct {
		name, url string
		ready     bool
	}{
		{"migrated", stack.FreshDatabase(t), true},
		{"not migrated", stack.EmptyDatabase(t), false},
	} {
		w, err := pgwriter.Open(t.Context(), c.url)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Ping(t.Context())
		w.Close()
		switch {
		case c.ready && err != nil:
			t.Errorf("%s: Ping: %v", c.name, err)
		case !c.ready && (err == nil || !strings.Contains(err.Error(), "datastore.signal does not exist")):
			t.Errorf("%s: Ping: %v, want an error saying datastore.signal does not exist", c.name, err)
		}
	}
}
