package pgcount

import (
	"bytes"
	"sync/atomic"
)

// Counts is what went through a Proxy: what clients asked the server to do, and what each
// side sent.
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

	// ClientBytes are the bytes clients sent to the server, ServerBytes those the server sent
	// back: what the client process read from Postgres. Both count whole packets as they
	// crossed the proxy, startup and authentication included.
	ClientBytes, ServerBytes int64
	// Rows are DataRow messages from the server: result rows.
	Rows int64
	// Notifications are NotificationResponse messages from the server: NOTIFYs delivered to a
	// connection that LISTENs to their channel.
	Notifications int64
	// Connections are the client connections the proxy accepted.
	Connections int64
}

// Sub returns the counts accumulated since earlier.
func (c Counts) Sub(earlier Counts) Counts {
	return Counts{
		Statements:    c.Statements - earlier.Statements,
		RoundTrips:    c.RoundTrips - earlier.RoundTrips,
		Transactions:  c.Transactions - earlier.Transactions,
		Prepares:      c.Prepares - earlier.Prepares,
		Pings:         c.Pings - earlier.Pings,
		ClientBytes:   c.ClientBytes - earlier.ClientBytes,
		ServerBytes:   c.ServerBytes - earlier.ServerBytes,
		Rows:          c.Rows - earlier.Rows,
		Notifications: c.Notifications - earlier.Notifications,
		Connections:   c.Connections - earlier.Connections,
	}
}

// Add returns the sum of c and other.
func (c Counts) Add(other Counts) Counts {
	return Counts{
		Statements:    c.Statements + other.Statements,
		RoundTrips:    c.RoundTrips + other.RoundTrips,
		Transactions:  c.Transactions + other.Transactions,
		Prepares:      c.Prepares + other.Prepares,
		Pings:         c.Pings + other.Pings,
		ClientBytes:   c.ClientBytes + other.ClientBytes,
		ServerBytes:   c.ServerBytes + other.ServerBytes,
		Rows:          c.Rows + other.Rows,
		Notifications: c.Notifications + other.Notifications,
		Connections:   c.Connections + other.Connections,
	}
}

// counters is the live, concurrently updated form of Counts, for one connection.
type counters struct {
	statements, roundTrips, transactions, prepares, pings atomic.Int64
	clientBytes, serverBytes, rows, notifications         atomic.Int64
}

func (c *counters) snapshot() Counts {
	return Counts{
		Statements:    c.statements.Load(),
		RoundTrips:    c.roundTrips.Load(),
		Transactions:  c.transactions.Load(),
		Prepares:      c.prepares.Load(),
		Pings:         c.pings.Load(),
		ClientBytes:   c.clientBytes.Load(),
		ServerBytes:   c.serverBytes.Load(),
		Rows:          c.rows.Load(),
		Notifications: c.notifications.Load(),
		Connections:   1,
	}
}

// Message types of protocol version 3: the frontend's (client's) ...
const (
	msgQuery   = 'Q'
	msgParse   = 'P'
	msgExecute = 'E'
	msgSync    = 'S'
)

// ... and the backend's (server's).
const (
	msgDataRow      = 'D'
	msgNotification = 'A'
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

// countServer records one typed server message.
func (c *counters) countServer(typ byte) {
	switch typ {
	case msgDataRow:
		c.rows.Add(1)
	case msgNotification:
		c.notifications.Add(1)
	}
}
