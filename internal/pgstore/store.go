// Package pgstore keeps the dispatcher's pending state in Postgres and applies batches of
// signal changes to it, running process_record in the same transaction.
//
// Why Postgres and not consumer memory: Debezium keys events by recording here, but the
// dispatcher must stay correct when a partition moves to another replica mid-recording, when
// a process is killed, and with the connector's default primary-key keying, where one
// recording's signals land on several partitions owned by different replicas. Durable shared
// state makes all of these the same case. Each batch runs in one transaction that
//
//  1. takes truncateLock shared, then the blind lock (shared, or exclusive for a batch with
//     changes that do not say their recording: see truncateLock), then a transaction-scoped
//     advisory lock per recording it touches, in sorted order (so two transactions never
//     deadlock on them), which serialises work on a recording across partitions and replicas;
//  2. loads those recordings' signal states (one row per signal and recording it was in:
//     migration 00024), whether they were processed, and the source table's truncates (1 and
//     2 are sent together, in one round trip; a batch with blind changes makes one more first,
//     for its lookup under the blind lock);
//  3. applies the changes in order with a recording.Ledger, which ignores anything no newer
//     than what it has (redeliveries, replays after a crash);
//  4. writes the changed signal states and tracks pending recordings, in one round trip (a
//     processed recording's signals are written only if they had a row: see
//     recording.Ledger.Upsert), then runs the Processor for recordings that became complete;
//  5. commits — and only then may the caller commit the Kafka offsets.
//
// A crash anywhere before 5 leaves nothing; after 5 and before the offset commit, the batch is
// redelivered and changes nothing. That is what makes the effect exactly-once.
package pgstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/recording"
)

// MaxBatch is the most changes Apply should be given at once (BATCH_SIZE's bound). A batch
// holds a transaction-scoped advisory lock per recording it touches, and those live in
// Postgres's shared lock table, of about max_locks_per_transaction × max_connections
// entries: on the local stack one transaction could take 12,000 and not 20,000 with the
// default of 64, 40,000 and not 50,000 with the 256 that it and k8s/postgres.yaml set. That
// is room for a batch of MaxBatch from each of the signal topic's three partitions at once,
// with a margin for the rest of the server's sessions.
const MaxBatch = 5000

// Processor is process_record. ProcessRecords runs inside the transaction that marks the
// recordings complete, so whatever it writes through tx commits or rolls back with that mark.
// Effects outside this database must be idempotent on the recording ID.
type Processor interface {
	ProcessRecords(ctx context.Context, tx pgx.Tx, recs []recording.Complete) error
}

// Store is the Postgres-backed state of the dispatcher.
type Store struct {
	pool      *pgxpool.Pool
	rule      recording.Rule
	processor Processor
	// group is the consumer group whose progress the batches note (ForGroup).
	group string
}

// ForGroup returns the Store for the batches of consumer group id: their progress through the
// partitions is noted apart from another group's on the same database (partition_progress).
func (s *Store) ForGroup(id string) *Store {
	g := *s
	g.group = id
	return &g
}

// New returns a Store on pool deciding completeness with rule and processing with p.
func New(pool *pgxpool.Pool, rule recording.Rule, p Processor) *Store {
	return &Store{pool: pool, rule: rule, processor: p}
}

// applyTx begins Apply's transactions with sequential scans off, in the same round trip:
// every statement of a batch finds its rows through an index, and a plan made while the
// tables looked empty (a new database, or right after a cleanup) would otherwise scan them
// for as long as the connection keeps it.
var applyTx = pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL enable_seqscan = off"}

// Apply applies changes read from partition, in order, in one transaction. On error nothing
// was applied.
func (s *Store) Apply(ctx context.Context, partition int, changes []recording.Change) (recording.Applied, error) {
	var res recording.Applied
	err := pgx.BeginTxFunc(ctx, s.pool, applyTx, func(tx pgx.Tx) error {
		var err error
		res, err = s.apply(ctx, tx, partition, changes)
		return err
	})
	if err != nil {
		return recording.Applied{}, fmt.Errorf("apply %d signal changes: %w", len(changes), err)
	}
	return res, nil
}

func (s *Store) apply(ctx context.Context, tx pgx.Tx, partition int, changes []recording.Change) (recording.Applied, error) {
	var res recording.Applied
	ids := make([]uuid.UUID, 0, len(changes))
	recordings := make(map[uuid.UUID]bool, len(changes))
	firstSeen := make(map[uuid.UUID]time.Time, len(changes))
	var across []uuid.UUID // signals to find in every recording (recording.Ledger.Delete and Upsert)
	for _, c := range changes {
		ids = append(ids, c.Signal.ID)
		if c.Signal.Recording != uuid.Nil {
			recordings[c.Signal.Recording] = true
		}
		if c.Moved || c.Delete && c.Signal.Recording == uuid.Nil {
			across = append(across, c.Signal.ID)
		}
	}
	blind := len(across) > 0
	if blind {
		// Only with REPLICA IDENTITY DEFAULT: find the recordings of these signals, so that
		// they are locked and loaded too, once no other batch is in flight.
		owners, err := lockBlindAndFindOwners(ctx, tx, across)
		if err != nil {
			return res, err
		}
		for _, rec := range owners {
			recordings[rec] = true
		}
	}
	recs := make([]uuid.UUID, 0, len(recordings))
	for rec := range recordings {
		recs = append(recs, rec)
	}
	ledger := recording.NewLedger(s.rule)
	ledger.TrackChanges()
	stored, err := lockAndLoad(ctx, tx, ledger, recs, ids, blind)
	if err != nil {
		return res, err
	}

	for _, c := range changes {
		out := ledger.Apply(c)
		if !out.Changed {
			res.Ignored++
			continue
		}
		if !c.Delete {
			// A recording waits from its first change that leaves it a signal present
			// (not one from before a truncate), as in internal/memstore.
			if t, ok := firstSeen[c.Signal.Recording]; (!ok || c.At.Before(t)) && !ledger.Empty(c.Signal.Recording) {
				firstSeen[c.Signal.Recording] = c.At
			}
			if err := out.Invalid(); err != nil {
				res.Invalid = append(res.Invalid, recording.Invalid{Signal: out.Signal, Err: err})
			}
		}
		if out.Completed != nil {
			res.Completed = append(res.Completed, *out.Completed)
		}
	}

	// A processed recording's signals need no row unless one exists: the ledger ignores
	// signals it does not know of processed recordings. Most recordings complete within
	// the batch that brings their signals, so this saves most of the rows of a backlog.
	dirty := ledger.Changed()
	dirty = slices.DeleteFunc(dirty, func(sg recording.Signal) bool {
		st := ledger.Recording(sg.Recording)
		return !stored[pairOf(sg)] && !sg.Deleted && st != nil && st.Processed
	})
	// The state's writes go in one round trip: each statement is its own and runs in order.
	writes := &pgx.Batch{}
	if err := saveSignals(writes, dirty); err != nil {
		return res, err
	}
	trackPending(writes, ledger, partition, recs, firstSeen, res.Completed)
	trackProgress(writes, s.group, partition, changes)
	if writes.Len() > 0 {
		if err := tx.SendBatch(ctx, writes).Close(); err != nil {
			return res, fmt.Errorf("save signal state and pending recordings: %w", err)
		}
	}
	if len(res.Completed) > 0 {
		if err := s.processor.ProcessRecords(ctx, tx, res.Completed); err != nil {
			return res, fmt.Errorf("process_record: %w", err)
		}
	}
	return res, nil
}

// pair is a signal in one recording: a row of dispatcher.signal_state.
type pair struct{ recording, signal uuid.UUID }

func pairOf(sg recording.Signal) pair { return pair{sg.Recording, sg.ID} }

// lockBlindAndFindOwners takes truncateLock shared and the blind lock (truncateLock with 1)
// exclusive, then returns the recordings that have a row of any of the signals ids, in one
// round trip. Once the blind lock is held no other batch is in flight, so the rows it reads
// are every batch's before this one, and none can add one before this batch commits.
func lockBlindAndFindOwners(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) ([]uuid.UUID, error) {
	b := &pgx.Batch{}
	queueBatchLocks(b, true)
	b.Queue(`SELECT DISTINCT recording FROM dispatcher.signal_state WHERE signal = ANY($1) AND recording <> $2`, ids, uuid.Nil)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if err := execBatchLocks(br); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("find recordings of signals: %w", err)
	}
	recs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("find recordings of signals: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("find recordings of signals: %w", err)
	}
	return recs, nil
}

// queueBatchLocks queues the locks a batch takes before any other: truncateLock shared, then
// the blind lock (truncateLock with 1), exclusive for a batch with blind changes.
func queueBatchLocks(b *pgx.Batch, blind bool) {
	b.Queue(`SELECT pg_advisory_xact_lock_shared($1, 0)`, truncateLock)
	if blind {
		b.Queue(`SELECT pg_advisory_xact_lock($1, 1)`, truncateLock)
	} else {
		b.Queue(`SELECT pg_advisory_xact_lock_shared($1, 1)`, truncateLock)
	}
}

// execBatchLocks reads the results of queueBatchLocks's statements.
func execBatchLocks(br pgx.BatchResults) error {
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("lock out truncates: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("take the blind lock: %w", err)
	}
	return nil
}

// outOfSharedMemory is the SQLSTATE of a full lock table (out_of_memory).
const outOfSharedMemory = "53200"

// lockAndLoad takes truncateLock and the blind lock shared (queueBatchLocks), unless blind is
// set (the batch holds them already: lockBlindAndFindOwners), then a transaction-scoped advisory lock per
// recording of recs, and the nil recording's when blind is set (a delete that did not say its
// recording writes its tombstone there), in ascending key order. Then it gives the ledger the
// state of recs, the tombstones of the nil recording among ids, and the truncates' positions,
// and returns the pairs it had a row for. The statements go in one round trip; they run in
// order, so the loads read what the locks now protect.
func lockAndLoad(ctx context.Context, tx pgx.Tx, ledger *recording.Ledger, recs, ids []uuid.UUID, blind bool) (map[pair]bool, error) {
	keys := make([]int64, 0, len(recs)+1)
	for _, rec := range recs {
		keys = append(keys, lockKey(rec))
	}
	if blind {
		keys = append(keys, lockKey(uuid.Nil))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	b := &pgx.Batch{}
	if !blind {
		queueBatchLocks(b, false)
	}
	b.Queue(`SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`, keys)
	b.Queue(`
		SELECT signal, recording, sensor_type, channels, sample_type, source_lsn, deleted
		FROM dispatcher.signal_state
		WHERE recording = ANY($1) OR (recording = $3 AND signal = ANY($2))`, recs, ids, uuid.Nil)
	b.Queue(`SELECT recording FROM dispatcher.processed_recording WHERE recording = ANY($1)`, recs)
	b.Queue(`SELECT source_lsn FROM dispatcher.signal_truncate`)
	br := tx.SendBatch(ctx, b)
	defer br.Close()

	if !blind {
		if err := execBatchLocks(br); err != nil {
			return nil, err
		}
	}
	if _, err := br.Exec(); err != nil {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == outOfSharedMemory {
			return nil, fmt.Errorf("lock %d recordings: Postgres's lock table is full: lower BATCH_SIZE, or raise the server's max_locks_per_transaction (see pgstore.MaxBatch): %w", len(keys), err)
		}
		return nil, fmt.Errorf("lock recordings: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("load signal state: %w", err)
	}
	signals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (recording.Signal, error) {
		var sg recording.Signal
		err := row.Scan(&sg.ID, &sg.Recording, &sg.SensorType, &sg.Channels, &sg.SampleType, &sg.Version, &sg.Deleted)
		return sg, err
	})
	if err != nil {
		return nil, fmt.Errorf("load signal state: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("load processed recordings: %w", err)
	}
	processed, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("load processed recordings: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("load truncates: %w", err)
	}
	truncates, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("load truncates: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("lock and load recordings: %w", err)
	}

	byRecording := map[uuid.UUID][]recording.Signal{}
	stored := make(map[pair]bool, len(signals))
	for _, sg := range signals {
		byRecording[sg.Recording] = append(byRecording[sg.Recording], sg)
		stored[pairOf(sg)] = true
	}
	for _, rec := range processed {
		ledger.Load(rec, true, nil)
	}
	for rec, sigs := range byRecording {
		ledger.Load(rec, false, sigs)
	}
	ledger.LoadTruncates(truncates...)
	return stored, nil
}

// truncateLock is the advisory lock (with 0, in the two-key space, apart from the
// recordings' one-key locks) that every batch holds shared and Truncate exclusive: a truncate
// then waits for the batches that loaded the truncates before it, and its sweep of the
// pending recordings sees what they wrote.
//
// With 1, it is the blind lock: every batch holds it shared, after truncateLock, and a batch
// with blind changes exclusive. A blind change (only with REPLICA IDENTITY DEFAULT) is a delete
// that does not say its recording, or an update that does not say where the signal was
// (recording.Change.Moved); the batch must find the recordings that hold the signal before it
// knows which recordings to lock. Held exclusive, the lock makes that lookup see every other
// batch's signals, and keeps out a batch on another partition that would add the signal to a
// recording between the lookup and this batch's commit, unseen by both. The deployed
// connector's REPLICA IDENTITY FULL has no blind changes, so there batches never wait for it.
const truncateLock int32 = 0x74727563 // "truc"

// lockKey is the advisory lock of a recording: the first 8 bytes of its id.
func lockKey(rec uuid.UUID) int64 {
	return int64(binary.BigEndian.Uint64(rec[:8])) //nolint:gosec // a hash: wrapping is fine
}

// signalRow is a signal's state as saveSignals sends it: one element of a JSON array that
// jsonb_to_recordset turns into rows. JSON because a batch's channel lists differ in length,
// which one array parameter per column (unnest) cannot carry.
type signalRow struct {
	Signal     uuid.UUID `json:"signal"`
	Recording  uuid.UUID `json:"recording"`
	SensorType string    `json:"sensor_type"`
	Channels   []string  `json:"channels"`
	SampleType string    `json:"sample_type"`
	Deleted    bool      `json:"deleted"`
	SourceLSN  int64     `json:"source_lsn"`
}

// saveSignals queues the write of the changed pairs in one statement: the batch's rows go to
// Postgres as one parameter, instead of one statement per pair. A row is not overwritten by
// an older change.
func saveSignals(writes *pgx.Batch, dirty []recording.Signal) error {
	if len(dirty) == 0 {
		return nil
	}
	rows := make([]signalRow, 0, len(dirty))
	for _, sg := range dirty {
		row := signalRow{Signal: sg.ID, Recording: sg.Recording, SensorType: sg.SensorType, Channels: sg.Channels,
			SampleType: sg.SampleType, Deleted: sg.Deleted, SourceLSN: sg.Version}
		if row.Channels == nil {
			row.Channels = []string{}
		}
		rows = append(rows, row)
	}
	doc, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("save signal state: %w", err)
	}
	// Each pair is in dirty once, so no row is updated twice by the statement.
	writes.Queue(`
		INSERT INTO dispatcher.signal_state AS st (signal, recording, sensor_type, channels, sample_type, deleted, source_lsn)
		SELECT signal, recording, sensor_type, channels, sample_type, deleted, source_lsn
		FROM jsonb_to_recordset($1::jsonb) AS r(signal uuid, recording uuid, sensor_type text, channels text[],
		                                        sample_type text, deleted boolean, source_lsn bigint)
		ON CONFLICT (recording, signal) DO UPDATE SET
			sensor_type = EXCLUDED.sensor_type, channels = EXCLUDED.channels,
			sample_type = EXCLUDED.sample_type, deleted = EXCLUDED.deleted,
			source_lsn = EXCLUDED.source_lsn, updated_at = now()
		WHERE st.source_lsn < EXCLUDED.source_lsn`, string(doc))
	return nil
}

// trackProgress notes in dispatcher.partition_progress how far partition has been applied:
// the newest commit time of changes. ReportIncomplete reads it. Last of the batch's writes, so
// that its row lock is held the least.
func trackProgress(writes *pgx.Batch, group string, partition int, changes []recording.Change) {
	newest := recording.Newest(changes)
	if newest.IsZero() {
		return
	}
	writes.Queue(`
		INSERT INTO dispatcher.partition_progress AS g (group_id, kafka_partition, source_at) VALUES ($1, $2, $3)
		ON CONFLICT (group_id, kafka_partition) DO UPDATE SET source_at = greatest(g.source_at, EXCLUDED.source_at)`,
		group, partition, newest)
}

// trackPending queues the writes that record recordings seen and not complete, with the
// partition their changes come through (for Snapshot), and forget completed ones and those of
// touched (the batch's recordings) left with no signal present, which wait for nothing.
func trackPending(writes *pgx.Batch, ledger *recording.Ledger, partition int, touched []uuid.UUID, firstSeen map[uuid.UUID]time.Time, completed []recording.Complete) {
	var recs []uuid.UUID
	var seen []time.Time
	for rec, at := range firstSeen {
		if st := ledger.Recording(rec); rec != uuid.Nil && st != nil && !st.Processed && !ledger.Empty(rec) {
			recs, seen = append(recs, rec), append(seen, at)
		}
	}
	if len(recs) > 0 {
		writes.Queue(`
			INSERT INTO dispatcher.pending_recording (recording, first_seen, kafka_partition)
			SELECT r, at, $3 FROM unnest($1::uuid[], $2::timestamptz[]) AS u(r, at)
			ON CONFLICT (recording) DO UPDATE SET first_seen = least(pending_recording.first_seen, EXCLUDED.first_seen),
				kafka_partition = EXCLUDED.kafka_partition`,
			recs, seen, partition)
	}
	var gone []uuid.UUID
	for _, c := range completed {
		gone = append(gone, c.Recording)
	}
	for _, rec := range touched {
		if st := ledger.Recording(rec); st != nil && !st.Processed && ledger.Empty(rec) {
			gone = append(gone, rec)
		}
	}
	if len(gone) > 0 {
		writes.Queue(`DELETE FROM dispatcher.pending_recording WHERE recording = ANY($1)`, gone)
	}
}
