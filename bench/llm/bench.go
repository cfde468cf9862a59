package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// bench holds what the measurements of a run share, and what the run must clean up.
type bench struct {
	cfg   config
	log   *slog.Logger
	runID string // unique per run: names topics and groups
	dir   string // the binaries and their logs
	kafka *benchkit.Kafka
	// pgAddr is Postgres's host:port, for the proxies that count what front doors read.
	pgAddr string
	// disk holds Postgres's data directory, watched for pauses during the enqueue runs; nil
	// when Postgres is not on this machine or its disk cannot be found.
	disk *benchkit.Disk

	// Left behind by the measurements, removed by cleanup.
	topics, groups []string
	conversations  conversations
}

func newBench(cfg config, log *slog.Logger) (*bench, error) {
	b := &bench{cfg: cfg, log: log, kafka: benchkit.NewKafka(cfg.Endpoints.KafkaBrokers),
		runID: "bench-llm-" + strings.ToLower(time.Now().UTC().Format("20060102t150405z"))}
	pg, err := pgxpool.ParseConfig(cfg.Endpoints.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	b.pgAddr = net.JoinHostPort(pg.ConnConfig.Host, strconv.Itoa(int(pg.ConnConfig.Port)))
	if b.dir, err = os.MkdirTemp("", "bench-llm-"); err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	return b, nil
}

// findDisk finds the disk that holds Postgres's data directory, for the enqueue runs to watch
// (its WAL is flushed there on every commit the front door waits for). Where it cannot (a
// Postgres elsewhere, a role that may not read the setting), the runs go on without.
func (b *bench) findDisk(ctx context.Context) {
	conn, err := pgx.Connect(ctx, b.cfg.Endpoints.DatabaseURL)
	if err == nil {
		defer conn.Close(context.WithoutCancel(ctx))
		var dir string
		if err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err == nil {
			var d benchkit.Disk
			if d, err = benchkit.DiskOf(dir); err == nil {
				b.disk = &d
				b.log.Info("watching the disk of Postgres's data for pauses", "device", d.Name, "data_directory", dir)
				return
			}
		}
	}
	b.log.Info("not watching Postgres's disk for pauses", "why", err)
}

// cleanup deletes the run's topics, consumer groups and conversations. Run it once every
// process of the run has stopped (groups with members cannot be deleted, and a dispatcher
// still running could record an outcome in a conversation being deleted).
func (b *bench) cleanup(ctx context.Context) error {
	b.log.Info("cleaning up", "topics", len(b.topics), "groups", len(b.groups))
	deleted, convErr := b.conversations.delete(ctx, b.cfg.Endpoints.DatabaseURL)
	b.log.Info("conversations deleted from the transcript", "deleted", deleted)
	return errors.Join(b.kafka.DeleteTopics(ctx, b.topics...), b.kafka.DeleteGroups(ctx, b.groups...), convErr)
}

// raiseFileLimit lifts the soft limit on open files to the hard one, for the harness and the
// front doors it starts (they inherit it): thousands of streams and their connections.
func raiseFileLimit(log *slog.Logger) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open-files limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise the open-files limit to %d: %w", lim.Max, err)
		}
	}
	log.Info("open-files limit", "limit", lim.Cur)
	return nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
