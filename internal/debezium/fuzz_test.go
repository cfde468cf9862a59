package debezium

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

// FuzzDecodeSignalChange starts from every captured and hand-made fixture (and the captured
// keys, which are JSON too). Whatever the input, decoding must not panic, must fail only with
// ErrTombstone or ErrMalformed, and a success must hold up the Change's documented promises.
// DecodeRuleChange must agree with it (see assertRuleDecodeAgrees).
func FuzzDecodeSignalChange(f *testing.F) {
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) == ".md" || filepath.Base(filepath.Dir(path)) == "FuzzDecodeSignalChange" {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil {
			f.Add(b)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		assertRuleDecodeAgrees(t, "input", value)
		ch, err := DecodeSignalChange(value)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTombstone) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrTombstone: %v", err)
			}
			return
		}
		switch ch.Op {
		case OpCreate, OpRead, OpUpdate:
			if ch.After == nil || ch.After.ID == uuid.Nil || ch.After.Recording == uuid.Nil {
				t.Fatalf("op %q decoded without an after row with id and recording: %+v", ch.Op, ch.After)
			}
		case OpDelete:
			if ch.Before == nil || ch.Before.ID == uuid.Nil || ch.After != nil {
				t.Fatalf("delete decoded without a before id, or with an after: %+v / %+v", ch.Before, ch.After)
			}
		case OpTruncate:
			if ch.Before != nil || ch.After != nil {
				t.Fatalf("truncate decoded with a row")
			}
		default:
			t.Fatalf("decoded unknown op %q", ch.Op)
		}
	})
}

// FuzzScannerChecksSyntaxAsEncodingJSONDoes: the scanner, reading a whole text as
// DecodeSignalChange does (one value, then only whitespace), accepts exactly the texts that
// encoding/json calls valid.
func FuzzScannerChecksSyntaxAsEncodingJSONDoes(f *testing.F) {
	for _, seed := range []string{
		`{"a":[1,-0.5e+3,true,false,null,"x\u00e9\n"],"b":{}}`, `[]`, `""`, `"\ud800"`, "\"\x7f\xff\"",
		`01`, `1.`, `-`, `.5`, `1e`, `[1,]`, `{"a" 1}`, `{"a":1,}`, `"\x"`, "\"\t\"", `nul`, `{"a":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		s := &scanner{b: text}
		_, err := s.value()
		if err == nil {
			err = s.end()
		}
		if want := json.Valid(text); (err == nil) != want {
			t.Fatalf("scanner says %v, encoding/json says valid=%v, for %q", err, want, text)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("syntax error does not wrap ErrMalformed: %v", err)
		}
	})
}
