//go:build faults

package faults_test

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// row is one scenario's line of the report.
type row struct {
	scenario  string
	recovered recovered
	bound     time.Duration
	rec       cdcResult
	sentences convResult
}

// results collects the rows of the scenarios that ran.
type results struct {
	mu   sync.Mutex
	rows []row
}

var report = &results{}

func (r *results) add(x row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, x)
}

// print writes the report as a Markdown table (docs/reliability.md keeps one).
func (r *results) print(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nFault suite,", time.Now().UTC().Format("2006-01-02 15:04 MST")+":")
	fmt.Fprintln(w, "| scenario | Kafka serving | dispatchers ready | rejoin | CDC back | conversations back | bound | complete recordings | lost | twice | ghost | "+
		"enqueued | refused | not confirmed | failed calls | unanswered | answered twice | ghost jobs | model calls | extra calls |")
	fmt.Fprintln(w, "|---|"+strings.Repeat("--:|", 19))
	for _, x := range r.rows {
		c := x.sentences
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n",
			strings.TrimPrefix(x.scenario, "TestFaults_"), round(x.recovered.serving), round(x.recovered.ready), round(x.recovered.rejoin()), round(x.recovered.cdc), round(x.recovered.conv), x.bound,
			x.rec.complete, len(x.rec.lost), len(x.rec.dups)+x.rec.refusedTwice, len(x.rec.ghosts),
			c.enqueued, c.refused, c.unconfirmed, c.failed, len(c.unanswered), len(c.twice), len(c.ghosts), c.modelCalls, c.extraCalls)
	}
	slowest := slices.MaxFunc(r.rows, func(a, b row) int { return cmp.Compare(a.recovered.rejoin(), b.recovered.rejoin()) })
	fmt.Fprintf(w, "\nRejoin, slowest of %d scenarios (the p99 of so few): %s, in %s; bound %s.\n",
		len(r.rows), round(slowest.recovered.rejoin()), strings.TrimPrefix(slowest.scenario, "TestFaults_"), rejoinBound)
}
