// Package pguuid teaches pgx to encode and scan github.com/google/uuid's UUID as the 16 bytes
// it is.
//
// uuid.UUID is a driver.Valuer and a sql.Scanner, and pgx leaves such types to those
// interfaces: left alone, it encodes every uuid.UUID parameter (every element of a uuid[] too)
// through Value, as the 36-character string, after first building an error for each plan that
// does not fit, and scans every uuid column through Scan, from that string again. The
// dispatcher's allocation profile of a backlog drain (BENCHMARKS.md, "Where the time goes")
// had a quarter of all the bytes it allocated there. Register gives pgx's uuid type a codec
// that handles uuid.UUID itself; the bytes sent to and read from Postgres are the same.
package pguuid

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Register replaces m's uuid and uuid[] types with ones whose codec handles uuid.UUID and
// *uuid.UUID directly, and anything else as pgx's own uuid codec does.
func Register(m *pgtype.Map) {
	t := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: codec{}}
	m.RegisterType(t)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: t}})
}

// AfterConnect registers the types on a new connection: set it as a pool's
// pgxpool.Config.AfterConnect.
func AfterConnect(_ context.Context, conn *pgx.Conn) error {
	Register(conn.TypeMap())
	return nil
}

// codec is pgx's uuid codec, with plans of its own for uuid.UUID.
type codec struct{ pgtype.UUIDCodec }

func (c codec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok {
		if format == pgtype.BinaryFormatCode {
			return encodeBinary{}
		}
		return encodeText{}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c codec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok {
		if format == pgtype.BinaryFormatCode {
			return scanBinary{}
		}
		return scanText{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeBinary struct{}

func (encodeBinary) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(uuid.UUID)
	return append(buf, u[:]...), nil
}

type encodeText struct{}

func (encodeText) Encode(value any, buf []byte) ([]byte, error) {
	return append(buf, value.(uuid.UUID).String()...), nil
}

// A NULL scans as uuid.Nil, as uuid.UUID's own Scan does.

type scanBinary struct{}

func (scanBinary) Scan(src []byte, target any) error {
	u := target.(*uuid.UUID)
	switch len(src) {
	case 0:
		if src == nil {
			*u = uuid.Nil
			return nil
		}
	case len(u):
		copy(u[:], src)
		return nil
	}
	return fmt.Errorf("scan uuid: %d bytes, want %d", len(src), len(u))
}

type scanText struct{}

func (scanText) Scan(src []byte, target any) error {
	u := target.(*uuid.UUID)
	if src == nil {
		*u = uuid.Nil
		return nil
	}
	parsed, err := uuid.ParseBytes(src)
	if err != nil {
		return fmt.Errorf("scan uuid: %w", err)
	}
	*u = parsed
	return nil
}
