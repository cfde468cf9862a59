package headband

import (
	"encoding/binary"
	"fmt"
	"math"
)

// SampleType is a label of the datastore.sample_type enum: how one stored value is encoded.
type SampleType string

// The datastore.sample_type labels.
const (
	Int8    SampleType = "int8"
	Int16   SampleType = "int16"
	Int32   SampleType = "int32"
	Int64   SampleType = "int64"
	Uint8   SampleType = "uint8"
	Uint16  SampleType = "uint16"
	Uint32  SampleType = "uint32"
	Uint64  SampleType = "uint64"
	Float32 SampleType = "float32"
	Float64 SampleType = "float64"
)

// SampleTypes lists every label in the enum's order.
func SampleTypes() []SampleType {
	return []SampleType{Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Float32, Float64}
}

// Size is the number of bytes one value takes, or 0 for a label outside the enum.
func (t SampleType) Size() int {
	switch t {
	case Int8, Uint8:
		return 1
	case Int16, Uint16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64:
		return 8
	default:
		return 0
	}
}

// Quantize returns the value of t nearest to v: rounded and clamped to the range for the
// integer types, rounded to single precision for float32. Encode stores quantized values
// exactly, so Decode gives them back unchanged.
func (t SampleType) Quantize(v float64) float64 {
	switch t {
	case Float32:
		return float64(float32(v))
	case Float64:
		return v
	}
	lo, hi := t.bounds()
	return math.Min(math.Max(math.Round(v), lo), hi)
}

// bounds are the smallest and largest integers of t that convert exactly to float64 and back.
func (t SampleType) bounds() (lo, hi float64) {
	switch t {
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Int64:
		// 2^63 itself is one past the range; the float64 just below it is in range.
		return math.MinInt64, math.Nextafter(-math.MinInt64, 0)
	case Uint8:
		return 0, math.MaxUint8
	case Uint16:
		return 0, math.MaxUint16
	case Uint32:
		return 0, math.MaxUint32
	case Uint64:
		return 0, math.Nextafter(1<<64, 0)
	default:
		return 0, 0
	}
}

// Encode writes values as little-endian t, one after another. Values should be quantized
// (see Quantize); others are converted as Go converts float64 to t.
func (t SampleType) Encode(values []float64) ([]byte, error) {
	size := t.Size()
	if size == 0 {
		return nil, fmt.Errorf("encode: unknown sample type %q", t)
	}
	out := make([]byte, len(values)*size)
	le := binary.LittleEndian
	for i, v := range values {
		b := out[i*size:]
		switch t {
		case Int8:
			b[0] = byte(int8(v))
		case Uint8:
			b[0] = uint8(v)
		case Int16:
			le.PutUint16(b, uint16(int16(v)))
		case Uint16:
			le.PutUint16(b, uint16(v))
		case Int32:
			le.PutUint32(b, uint32(int32(v)))
		case Uint32:
			le.PutUint32(b, uint32(v))
		case Int64:
			le.PutUint64(b, uint64(int64(v)))
		case Uint64:
			le.PutUint64(b, uint64(v))
		case Float32:
			le.PutUint32(b, math.Float32bits(float32(v)))
		case Float64:
			le.PutUint64(b, math.Float64bits(v))
		}
	}
	return out, nil
}

// Decode reads little-endian values of t. It fails when data is not a whole number of values.
// 64-bit integers beyond ±2^53 come back rounded to the nearest float64.
func (t SampleType) Decode(data []byte) ([]float64, error) {
	size := t.Size()
	if size == 0 {
		return nil, fmt.Errorf("decode: unknown sample type %q", t)
	}
	if len(data)%size != 0 {
		return nil, fmt.Errorf("decode %s: %d bytes is not a multiple of %d", t, len(data), size)
	}
	out := make([]float64, len(data)/size)
	le := binary.LittleEndian
	for i := range out {
		b := data[i*size:]
		switch t {
		case Int8:
			out[i] = float64(int8(b[0]))
		case Uint8:
			out[i] = float64(b[0])
		case Int16:
			out[i] = float64(int16(le.Uint16(b)))
		case Uint16:
			out[i] = float64(le.Uint16(b))
		case Int32:
			out[i] = float64(int32(le.Uint32(b)))
		case Uint32:
			out[i] = float64(le.Uint32(b))
		case Int64:
			out[i] = float64(int64(le.Uint64(b)))
		case Uint64:
			out[i] = float64(le.Uint64(b))
		case Float32:
			out[i] = float64(math.Float32frombits(le.Uint32(b)))
		case Float64:
			out[i] = math.Float64frombits(le.Uint64(b))
		}
	}
	return out, nil
}
