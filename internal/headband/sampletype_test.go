package headband

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

func TestSampleType_EncodesLittleEndianAndDecodesBack(t *testing.T) {
	cases := []struct {
		typ    SampleType
		values []float64
		want   []byte
	}{
		{Int8, []float64{-128, -1, 127}, []byte{0x80, 0xff, 0x7f}},
		{Uint8, []float64{0, 255}, []byte{0x00, 0xff}},
		{Int16, []float64{-2, 0x1234}, []byte{0xfe, 0xff, 0x34, 0x12}},
		{Uint16, []float64{0xbeef}, []byte{0xef, 0xbe}},
		{Int32, []float64{-1, 0x01020304}, []byte{0xff, 0xff, 0xff, 0xff, 0x04, 0x03, 0x02, 0x01}},
		{Uint32, []float64{0xdeadbeef}, []byte{0xef, 0xbe, 0xad, 0xde}},
		{Int64, []float64{-2}, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{Uint64, []float64{1 << 40}, []byte{0, 0, 0, 0, 0, 1, 0, 0}},
		{Float32, []float64{1, -2.5}, []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0}},
		{Float64, []float64{1}, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ), func(t *testing.T) {
			data, err := tc.typ.Encode(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, tc.want) {
				t.Fatalf("encoded % x, want % x", data, tc.want)
			}
			got, err := tc.typ.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.values) {
				t.Fatalf("decoded %v, want %v", got, tc.values)
			}
		})
	}
}

func TestSampleType_QuantizeRoundsAndClampsToTheTypesRange(t *testing.T) {
	cases := []struct {
		typ      SampleType
		in, want float64
	}{
		{Int8, 1000, 127},
		{Int8, -1000, -128},
		{Int8, 2.5, 3},
		{Uint8, -3, 0},
		{Int16, 40000, 32767},
		{Uint16, 65535.4, 65535},
		{Int32, -1e12, math.MinInt32},
		{Uint32, 1e12, math.MaxUint32},
		{Int64, 1e30, math.Nextafter(1<<63, 0)},
		{Uint64, 1e30, math.Nextafter(1<<64, 0)},
		{Float32, 0.1, float64(float32(0.1))},
		{Float64, 0.1, 0.1},
	}
	for _, tc := range cases {
		if got := tc.typ.Quantize(tc.in); got != tc.want {
			t.Errorf("%s.Quantize(%v) = %v, want %v", tc.typ, tc.in, got, tc.want)
		}
		// A quantized value survives a round trip exactly.
		data, _ := tc.typ.Encode([]float64{tc.typ.Quantize(tc.in)})
		if back, err := tc.typ.Decode(data); err != nil || back[0] != tc.want {
			t.Errorf("%s: round trip of %v gave %v, %v", tc.typ, tc.want, back, err)
		}
	}
}

func TestSampleType_RejectsUnknownTypesAndPartialValues(t *testing.T) {
	if _, err := SampleType("int24").Encode([]float64{1}); err == nil {
		t.Error("Encode accepted an unknown sample type")
	}
	if _, err := SampleType("int24").Decode([]byte{1, 2, 3}); err == nil {
		t.Error("Decode accepted an unknown sample type")
	}
	if _, err := Int32.Decode([]byte{1, 2, 3}); err == nil {
		t.Error("Decode accepted 3 bytes of int32")
	}
	if got := SampleType("int24").Size(); got != 0 {
		t.Errorf("Size of an unknown type = %d, want 0", got)
	}
}

func FuzzSampleType_DecodeThenEncodeGivesTheSameBytes(f *testing.F) {
	f.Add(uint8(0), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(9), []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		typ := SampleTypes()[int(which)%len(SampleTypes())]
		values, err := typ.Decode(data)
		if len(data)%typ.Size() != 0 {
			if err == nil {
				t.Fatalf("%s: no error for %d bytes", typ, len(data))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		back, err := typ.Encode(values)
		if err != nil {
			t.Fatal(err)
		}
		wide := typ == Int64 || typ == Uint64 // beyond 2^53 float64 cannot hold them exactly
		for i, v := range values {
			if math.IsNaN(v) || (wide && math.Abs(v) >= 1<<53) {
				continue // NaN payloads may change through float64; wide ints round
			}
			a, b := data[i*typ.Size():(i+1)*typ.Size()], back[i*typ.Size():(i+1)*typ.Size()]
			if !bytes.Equal(a, b) {
				t.Fatalf("%s value %d: % x came back as % x", typ, i, a, b)
			}
		}
	})
}
