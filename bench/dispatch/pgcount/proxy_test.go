package pgcount

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func untyped(code uint32, payload string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
	b = binary.BigEndian.AppendUint32(b, code)
	return append(b, payload...)
}

func typed(t byte, body string) []byte {
	b := []byte{t}
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(body)))
	return append(b, body...)
}

func TestRelayClient_CountsStatementsAndPassesBytesThrough(t *testing.T) {
	var in bytes.Buffer
	in.Write(untyped(sslRequest, ""))
	in.Write(untyped(196608, "user\x00postgres\x00\x00")) // protocol 3.0 startup
	in.Write(typed('p', "secret\x00"))
	in.Write(typed('Q', "begin\x00"))
	// A pipelined batch of two executions of one prepared statement, then one Sync.
	in.Write(typed('P', "stmt\x00INSERT 1\x00\x00\x00"))
	for range 2 {
		in.Write(typed('B', "\x00stmt\x00\x00\x00\x00\x00\x00\x00"))
		in.Write(typed('E', "\x00\x00\x00\x00\x00"))
	}
	in.Write(typed('S', ""))
	in.Write(typed('Q', "commit\x00"))
	in.Write(typed('Q', "-- ping\x00"))
	in.Write(typed('X', ""))
	sent := bytes.Clone(in.Bytes())

	var p Proxy
	var out bytes.Buffer
	if err := p.relayClient(&in, &out); !errors.Is(err, io.EOF) {
		t.Fatalf("relay ended with %v, want io.EOF at the end of input", err)
	}
	if !bytes.Equal(out.Bytes(), sent) {
		t.Fatal("the server did not receive exactly what the client sent")
	}
	want := Counts{Statements: 4, RoundTrips: 4, Transactions: 1, Prepares: 1, Pings: 1}
	if got := p.Counts(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}
