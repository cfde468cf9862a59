package consumer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn counts the reads that reach the connection.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// A partition reader's connection is read in pieces of readBufferBytes, not in kafka-go's
// 4 KiB: a fetch response of 1 MiB is a few reads of the socket, not 256.
func TestReaderDialer_ReadsTheSocketInLargePieces(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(payload)
	}()

	conn, err := ReaderDialer.DialFunc(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bc, ok := conn.(*bufferedConn)
	if !ok {
		t.Fatalf("dialed a %T, want the buffered connection", conn)
	}
	counted := &countingConn{Conn: bc.Conn}
	bc.r.Reset(counted)

	// As kafka-go reads a fetch: through its 4 KiB buffer, a message's bytes at a time.
	in := bufio.NewReaderSize(conn, 4096)
	got := make([]byte, len(payload))
	for at := 0; at < len(got); at += 1200 {
		if _, err := io.ReadFull(in, got[at:min(at+1200, len(got))]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the bytes read are not the bytes written")
	}
	// A socket read may return less than asked (the sender's segments), so allow for some;
	// through kafka-go's 4 KiB alone it would be 256 reads, and none through counted would
	// mean the buffer was not read at all.
	if counted.reads == 0 || counted.reads > 32 {
		t.Errorf("%d reads of the socket for %d bytes, want 1 to 32", counted.reads, len(payload))
	}
}

// kafka-go ends a fetch with a read deadline; the buffer must not hide it.
func TestReaderDialer_KeepsReadDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(2 * time.Second) // writes nothing
		}
	}()
	conn, err := ReaderDialer.DialFunc(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
}
