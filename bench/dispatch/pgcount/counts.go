package pgcount

import (
	"bytes"
	"sync/atomic"
)

// Counts is what clients asked of the server through a Proxy.
type Counts struct {
	// Statements are SQL statements executed: simple queries plus extended-protocol Executes,
	// BEGIN and COMMIT included, pool pings excluded.
	Statements int64
	// RoundTrips are the times a client waited for the server: simple queries (pings
	// included) and Syncs, each answered by one ReadyForQuery.
	RoundTrips int64
	// Transactions are explicit transactions begun ("begin" queries). Statements outside one
	// run in a transaction of their own, which this does not count.
	Transactions int64
	// Prepares are Parse messages: statements prepared (pgx caches them per connection).
	Prepares int64
	// Pings are pgx's liveness checks ("-- ping"), sent by a pool before it hands out a
	// connection that was idle for a second or more.
	Pings int64
}

// Sub returns the counts accumulated since earlier.
func (c Counts) Sub(earlier Counts) Counts {
	return Counts{
		Statements:   c.Statements - earlier.Statements,
		RoundTrips:   c.RoundTrips - earlier.RoundTrips,
		Transactions: c.Transactions - earlier.Transactions,
		Prepares:     c.Prepares - earlier.Prepares,
		Pings:        c.Pings - earlier.Pings,
	}
}

// counters is the live, concurrently updated form of Counts.
type counters struct {
	statements, roundTrips, transactions, prepares, pings atomic.Int64
}

func (c *counters) snapshot() Counts {
	return Counts{
		Statements:   c.statements.Load(),
		RoundTrips:   c.roundTrips.Load(),
		Transactions: c.transactions.Load(),
		Prepares:     c.prepares.Load(),
		Pings:        c.pings.Load(),
	}
}

// Message types of the frontend (client) side of protocol version 3.
const (
	msgQuery   = 'Q'
	msgParse   = 'P'
	msgExecute = 'E'
	msgSync    = 'S'
)

// count records one typed client message with its body (the bytes after the length).
func (c *counters) count(typ byte, body []byte) {
	switch typ {
	case msgQuery:
		c.roundTrips.Add(1)
		sql := bytes.ToLower(bytes.TrimSpace(bytes.TrimRight(body, "\x00")))
		switch {
		case bytes.HasPrefix(sql, []byte("-- ping")):
			c.pings.Add(1)
		case bytes.HasPrefix(sql, []byte("begin")) || bytes.HasPrefix(sql, []byte("start transaction")):
			c.transactions.Add(1)
			c.statements.Add(1)
		default:
			c.statements.Add(1)
		}
	case msgParse:
		c.prepares.Add(1)
	case msgExecute:
		c.statements.Add(1)
	case msgSync:
		c.roundTrips.Add(1)
	}
}
