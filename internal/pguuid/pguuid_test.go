package pguuid_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/beacon/eventdispatch/internal/pguuid"
)

func TestRegister_EncodesAndScansAsPgxDoesWithoutAStringPerUUID(t *testing.T) {
	ids := make([]uuid.UUID, 100)
	for i := range ids {
		ids[i] = uuid.New()
	}
	nilID := (*uuid.UUID)(nil)
	plain, registered := pgtype.NewMap(), pgtype.NewMap()
	pguuid.Register(registered)
	for _, c := range []struct {
		name   string
		oid    uint32
		format int16
		value  any
	}{
		{"uuid, binary", pgtype.UUIDOID, pgtype.BinaryFormatCode, ids[0]},
		{"uuid, text", pgtype.UUIDOID, pgtype.TextFormatCode, ids[0]},
		{"*uuid", pgtype.UUIDOID, pgtype.BinaryFormatCode, &ids[1]},
		{"nil *uuid", pgtype.UUIDOID, pgtype.BinaryFormatCode, nilID},
		{"uuid[], binary", pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids},
		{"uuid[], text", pgtype.UUIDArrayOID, pgtype.TextFormatCode, ids},
		{"uuid[] of one", pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids[:1]},
		{"empty uuid[]", pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, []uuid.UUID{}},
		{"nil uuid[]", pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, []uuid.UUID(nil)},
	} {
		want, err := plain.Encode(c.oid, c.format, c.value, nil)
		if err != nil {
			t.Fatalf("%s, pgx alone: %v", c.name, err)
		}
		got, err := registered.Encode(c.oid, c.format, c.value, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoded %x, pgx alone %x", c.name, got, want)
		}
	}
	for _, format := range []int16{pgtype.BinaryFormatCode, pgtype.TextFormatCode} {
		src, err := plain.Encode(pgtype.UUIDOID, format, ids[2], nil)
		if err != nil {
			t.Fatal(err)
		}
		var got uuid.UUID
		if err := registered.Scan(pgtype.UUIDOID, format, src, &got); err != nil || got != ids[2] {
			t.Errorf("scan of format %d: %v, %v; want %v", format, got, err, ids[2])
		}
		got = ids[3]
		if err := registered.Scan(pgtype.UUIDOID, format, nil, &got); err != nil || got != uuid.Nil {
			t.Errorf("scan of NULL, format %d: %v, %v; want uuid.Nil, as uuid.UUID's Scan gives", format, got, err)
		}
		var arr []uuid.UUID
		arrSrc, err := plain.Encode(pgtype.UUIDArrayOID, format, ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := registered.Scan(pgtype.UUIDArrayOID, format, arrSrc, &arr); err != nil || !slices.Equal(arr, ids) {
			t.Errorf("scan of uuid[], format %d: %d ids, %v", format, len(arr), err)
		}
	}
	// What the package is for: a uuid[] of 100 without a string, or a box, per element.
	allocs := func(m *pgtype.Map) float64 {
		buf := make([]byte, 0, 4096)
		return testing.AllocsPerRun(20, func() {
			if _, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, buf); err != nil {
				t.Fatal(err)
			}
		})
	}
	before, after := allocs(plain), allocs(registered)
	t.Logf("encoding a uuid[] of %d: %.0f allocations with pgx alone, %.0f registered", len(ids), before, after)
	if after > 1 {
		t.Errorf("encoding a uuid[] of %d allocated %.0f times registered (%.0f with pgx alone): want one at most", len(ids), after, before)
	}
}
