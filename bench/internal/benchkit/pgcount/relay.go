package pgcount

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Codes of the untyped packets a client may send before its startup message.
const (
	sslRequest    = 80877103
	gssEncRequest = 80877104
)

// Size limits: one message either way (larger ones end the connection as a protocol error),
// and a startup packet (Postgres's own limit).
const (
	maxMessage = 1 << 30
	maxStartup = 10000
)

// bufSize is the size of each direction's read and write buffers.
const bufSize = 64 << 10

// relayClient copies the client's packets to the server, counting each. It sends the code of
// each untyped packet on untyped as it relays it, up to and including the startup message
// (whose application_name it passes to named), then closes untyped.
func relayClient(client io.Reader, server io.Writer, untyped chan<- uint32, c *counters, named func(app string)) error {
	r := bufio.NewReaderSize(client, bufSize)
	w := bufio.NewWriterSize(server, bufSize)
	err := func() error {
		defer close(untyped)
		for {
			code, payload, err := relayUntyped(r, w)
			if err != nil {
				return err
			}
			c.clientBytes.Add(int64(8 + len(payload)))
			startup := code != sslRequest && code != gssEncRequest
			if startup { // named before the server can answer, so its answer finds it named
				named(startupParam(payload, "application_name"))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			untyped <- code
			if startup {
				return nil // that was the startup message (or a cancel request)
			}
		}
	}()
	if err != nil {
		return err
	}
	var body []byte
	for {
		header, n, err := nextMessage(r, w, "client")
		if err != nil {
			return err
		}
		if int64(cap(body)) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		c.count(header[0], body)
		c.clientBytes.Add(5 + n)
		if _, err := w.Write(header[:]); err != nil {
			return err
		}
		if _, err := w.Write(body); err != nil {
			return err
		}
	}
}

// relayServer copies the server's packets to the client, counting each. It first answers, in
// step with the client's side, each untyped packet the client sent: a single byte for an
// SSLRequest or GSSENCRequest; after the startup message, typed messages only.
func relayServer(server io.Reader, client io.Writer, untyped <-chan uint32, c *counters) error {
	r := bufio.NewReaderSize(server, bufSize)
	w := bufio.NewWriterSize(client, bufSize)
	for code := range untyped {
		if code != sslRequest && code != gssEncRequest {
			break
		}
		answer, err := r.ReadByte()
		if err != nil {
			return err
		}
		c.serverBytes.Add(1)
		if err := w.WriteByte(answer); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	for {
		header, n, err := nextMessage(r, w, "server")
		if err != nil {
			return err
		}
		c.countServer(header[0])
		c.serverBytes.Add(5 + n)
		if _, err := w.Write(header[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}

// nextMessage reads the header of the next typed message from r and returns it with the
// length of the body that follows. When r holds nothing more, the sender's write is complete:
// what w holds is passed on first, before waiting.
func nextMessage(r *bufio.Reader, w *bufio.Writer, from string) (header [5]byte, n int64, err error) {
	if r.Buffered() == 0 {
		if err := w.Flush(); err != nil {
			return header, 0, err
		}
	}
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return header, 0, err
	}
	n = int64(binary.BigEndian.Uint32(header[1:])) - 4
	if n < 0 || n > maxMessage {
		return header, 0, fmt.Errorf("%s message %q has length %d", from, header[0], n+4)
	}
	return header, n, nil
}

// relayUntyped copies one packet without a type byte (length, code, payload) and returns its
// code and payload.
func relayUntyped(r io.Reader, w io.Writer) (uint32, []byte, error) {
	var header [8]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return 0, nil, err
	}
	n := int64(binary.BigEndian.Uint32(header[:4])) - 8
	if n < 0 || n > maxStartup {
		return 0, nil, fmt.Errorf("startup packet has length %d", n+8)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if _, err := w.Write(header[:]); err != nil {
		return 0, nil, err
	}
	if _, err := w.Write(payload); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(header[4:]), payload, nil
}

// startupParam returns the value of parameter name in a startup message's payload (pairs of
// NUL-terminated names and values, then a NUL), or "" if it is not there.
func startupParam(payload []byte, name string) string {
	fields := bytes.Split(bytes.TrimRight(payload, "\x00"), []byte{0})
	for i := 0; i+1 < len(fields); i += 2 {
		if string(fields[i]) == name {
			return string(fields[i+1])
		}
	}
	return ""
}
