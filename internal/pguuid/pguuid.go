// Package pguuid teaches pgx to encode and scan github.com/google/uuid's UUID as the 16 bytes
// it is.
//
// uuid.UUID is a driver.Valuer and a sql.Scanner, and pgx leaves such types to those
// interfaces: left alone, it encodes every uuid.UUID parameter (every element of a uuid[] too)
// through Value, as the 36-character string, after first building an error for each plan that
// does not fit, and scans every uuid column through Scan, from that string again. The
// dispatcher's allocation profile of a backlog drain (BENCHMARKS.md, "Where the time goes")
// had a quarter of all the bytes it allocated there. Register gives pgx's uuid type a codec
// that handles uuid.UUID itself, and its uuid[] type one that writes a []uuid.UUID parameter
// in one pass (pgx's array codec boxes every element on its way to the element's codec); the
// bytes sent to and read from Postgres are the same.
package pguuid

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Register replaces m's uuid and uuid[] types with ones whose codec handles uuid.UUID and
// *uuid.UUID directly, and anything else as pgx's own uuid codec does.
func Register(m *pgtype.Map) {
	t := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: codec{}}
	m.RegisterType(t)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: arrayCodec{&pgtype.ArrayCodec{ElementType: t}}})
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

// arrayCodec is pgx's array codec of uuid[], with a binary plan of its own for a non-empty
// []uuid.UUID: the batches of the dispatcher's store send several such arrays of hundreds.
type arrayCodec struct{ *pgtype.ArrayCodec }

func (c arrayCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if ids, ok := value.([]uuid.UUID); ok && len(ids) > 0 && format == pgtype.BinaryFormatCode {
		return encodeBinaryArray{}
	}
	return c.ArrayCodec.PlanEncode(m, oid, format, value)
}

// encodeBinaryArray writes Postgres's binary array form: the number of dimensions (1), a
// has-nulls flag (0), the element type, the dimension's length and lower bound (1), then each
// element as its length and its bytes.
type encodeBinaryArray struct{}

func (encodeBinaryArray) Encode(value any, buf []byte) ([]byte, error) {
	ids := value.([]uuid.UUID)
	buf = slices.Grow(buf, 20+len(ids)*(4+len(uuid.Nil)))
	buf = binary.BigEndian.AppendUint32(buf, 1)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	buf = binary.BigEndian.AppendUint32(buf, pgtype.UUIDOID)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(ids))) //nolint:gosec // a slice's length fits
	buf = binary.BigEndian.AppendUint32(buf, 1)
	for _, id := range ids {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(id)))
		buf = append(buf, id[:]...)
	}
	return buf, nil
}
