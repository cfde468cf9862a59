// Package pgwriter is the headband simulator's Postgres adapter. It inserts one generated
// signal per statement into datastore.signal (each statement its own transaction, as the
// original service did, so Debezium sees one change per row) and marks the failures that no
// retry can fix.
package pgwriter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/pguuid"
)

// Writer inserts signals through a connection pool. It is safe for concurrent use.
type Writer struct {
	pool *pgxpool.Pool
}

// Open parses databaseURL and returns a Writer with a pool that connects lazily, so a
// database that is down at start is not an error here: inserts retry and /readyz reports it.
// Pool settings such as pool_max_conns may be given in the URL.
func Open(ctx context.Context, databaseURL string) (*Writer, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err // pgconn redacts the password in the message
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "headband"
	}
	cfg.AfterConnect = pguuid.AfterConnect
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	return &Writer{pool: pool}, nil
}

// Close closes the pool's connections.
func (w *Writer) Close() {
	w.pool.Close()
}

// Ping reports whether the database answers and has a datastore.signal the simulator may
// insert into: a database not migrated, or a role without the privilege, fails every insert.
func (w *Writer) Ping(ctx context.Context) error {
	// One round trip: the query's answer is also the database's.
	var insertable bool
	// By oid: a table that is not there is NULL, not an error, and so is its privilege.
	err := w.pool.QueryRow(ctx, `SELECT coalesce(has_table_privilege(to_regclass('datastore.signal'), 'INSERT'), false)`).Scan(&insertable)
	switch {
	case err != nil:
		return fmt.Errorf("ping database: %w", err)
	case !insertable:
		return errors.New("datastore.signal does not exist (migrate not run?) or the role may not insert into it")
	}
	return nil
}

// Every text parameter is cast to text first: the range, enum and domain types are not
// registered with pgx, and PostgreSQL converts text to them itself.
const insertSignal = `
INSERT INTO datastore.signal (
    id, recording, data, span, sensor_label, sensor_type, channels, sample_unit,
    sample_resolution_in_unit, sample_offset_in_unit, sample_type, sample_rate)
VALUES ($1, $2, $3, $4::text::datastore.time_span, $5::text, $6::text, $7::text[], $8::text,
    $9, $10, $11::text::datastore.sample_type, $12)
ON CONFLICT (id) DO NOTHING`

// Insert writes s in its own statement. It reports false, without error, when a row with
// s's ID is already there (a rerun with the same seed, or a retry after a lost reply).
func (w *Writer) Insert(ctx context.Context, s headband.Signal) (bool, error) {
	tag, err := w.pool.Exec(ctx, insertSignal,
		s.ID, s.Recording, s.Data, s.Span.String(), s.SensorLabel, s.SensorType, s.Channels,
		s.SampleUnit, s.SampleResolution, s.SampleOffset, string(s.SampleType), s.SampleRate)
	if err != nil {
		err = fmt.Errorf("insert signal %s: %w", s.ID, err)
		if isPermanent(err) {
			return false, permanentError{err}
		}
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// isPermanent reports errors in the data itself (SQLSTATE classes 22, data exception, and 23,
// integrity constraint violation): the same row fails the same way every time. Everything
// else — refused connections, restarts, a schema not yet migrated — may pass on a retry.
func isPermanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
}

// permanentError marks an error that retrying cannot fix; the simulator checks Permanent.
type permanentError struct {
	err error
}

func (e permanentError) Error() string { return e.err.Error() }

func (e permanentError) Unwrap() error { return e.err }

// Permanent reports true: the insert fails the same way every time.
func (e permanentError) Permanent() bool { return true }
