package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/beacon/eventdispatch/bench/dispatch/poller"
)

// pollCost is what one of the baseline's polls costs the database, from EXPLAIN ANALYZE.
type pollCost struct {
	// RowsRead are the rows of datastore.signal the poll's plan read (returned or filtered out).
	RowsRead int64
	// TableRows is the table's size at the time.
	TableRows int64
	Time      time.Duration
}

// explainPoll runs the poller's query once under EXPLAIN ANALYZE with watermark.
func (b *bench) explainPoll(ctx context.Context, watermark time.Time) (pollCost, error) {
	var raw []byte
	if err := b.pool.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+poller.Query, poller.Args(watermark)...).Scan(&raw); err != nil {
		return pollCost{}, fmt.Errorf("explain the baseline's poll: %w", err)
	}
	var plans []struct {
		Plan          planNode `json:"Plan"`
		ExecutionTime float64  `json:"Execution Time"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) == 0 {
		return pollCost{}, fmt.Errorf("explain the baseline's poll: unexpected output %.200s: %w", raw, err)
	}
	c := pollCost{RowsRead: plans[0].Plan.rowsRead("signal"), Time: time.Duration(plans[0].ExecutionTime * float64(time.Millisecond))}
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM datastore.signal`).Scan(&c.TableRows); err != nil {
		return pollCost{}, fmt.Errorf("size of datastore.signal: %w", err)
	}
	return c, nil
}

// planNode is the part of an EXPLAIN (FORMAT JSON) plan node the cost needs.
type planNode struct {
	Relation       string     `json:"Relation Name"`
	ActualRows     float64    `json:"Actual Rows"`
	ActualLoops    float64    `json:"Actual Loops"`
	RemovedByFiler float64    `json:"Rows Removed by Filter"`
	RemovedByIndex float64    `json:"Rows Removed by Index Recheck"`
	Plans          []planNode `json:"Plans"`
}

// rowsRead sums, over the scans of relation in the plan, the rows each read.
func (n planNode) rowsRead(relation string) int64 {
	var sum int64
	if n.Relation == relation {
		sum += int64((n.ActualRows + n.RemovedByFiler + n.RemovedByIndex) * n.ActualLoops)
	}
	for _, c := range n.Plans {
		sum += c.rowsRead(relation)
	}
	return sum
}
