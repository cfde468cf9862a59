package consumer

import (
	"bufio"
	"context"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// readBufferBytes is how much of a fetch response one read from the socket may take.
// kafka-go reads its connections through a bufio.Reader of 4 KiB, one system call for each
// 4 KiB of messages: most of the read's cost while a backlog drains (BENCHMARKS.md, "The
// partition readers' system calls").
const readBufferBytes = 256 << 10

// ReaderDialer dials the partition readers' connections as kafka-go's default dialer does,
// with reads buffered by readBufferBytes. It is exported for the benchmarks, which read a
// backlog through it as well as through kafka-go's own.
var ReaderDialer = &kafka.Dialer{
	Timeout: 10 * time.Second, // kafka.DefaultDialer's
	DialFunc: func(ctx context.Context, network, address string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferBytes)}, nil
	},
}

// bufferedConn is a connection whose reads go through r; everything else is the
// connection's own.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
