package debezium

import (
	"strings"
	"testing"
)

func TestParseSpan(t *testing.T) {
	tests := []struct {
		in   string
		want Span
	}{
		{"[0,60000000000)", Span{Lower: 0, Upper: 60_000_000_000, LowerInclusive: true}},
		{"[60000000000,120000000000)", Span{Lower: 60_000_000_000, Upper: 120_000_000_000, LowerInclusive: true}},
		{"(-5,10]", Span{Lower: -5, Upper: 10, UpperInclusive: true}},
		{"[3,7]", Span{Lower: 3, Upper: 7, LowerInclusive: true, UpperInclusive: true}},
		{"(3,7)", Span{Lower: 3, Upper: 7}},
		{"[5,5]", Span{Lower: 5, Upper: 5, LowerInclusive: true, UpperInclusive: true}},
		{"[+1,2)", Span{Lower: 1, Upper: 2, LowerInclusive: true}},
		{"[-9223372036854775808,9223372036854775807)", Span{Lower: -1 << 63, Upper: 1<<63 - 1, LowerInclusive: true}},
		{"empty", Span{Empty: true}},
		{"EMPTY", Span{Empty: true}},
		{"[5,5)", Span{Empty: true}}, // as Postgres reads it
		{"(5,5]", Span{Empty: true}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpan(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseSpan_RejectsWhatPostgresDoesNotPrintForATimeSpan(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "too short"},
		{"[", "too short"},
		{"[0,)", "upper bound: unbounded"},
		{"(,10)", "lower bound: unbounded"},
		{"(,)", "lower bound: unbounded"},
		{"[0,60_000_000_000)", "not an integer"},
		{"[ 0,1)", "not an integer"},
		{`["0","1")`, "not an integer"},
		{"[0x10,20)", "not an integer"},
		{"[-,1)", "not an integer"},
		{"[0,1,2)", "more than one comma"},
		{"[0;1)", "no comma"},
		{"{0,1)", "must start with"},
		{"[0,1}", "must end with"},
		{" [0,1)", "must start with"},
		{"[0,1) ", "must end with"},
		{"empt", "must start with"},
		{"emptyy", "must start with"},
		{"[10,5)", "lower bound above upper bound"},
		{"[0,9223372036854775808)", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpan(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %+v, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
}

func TestSpan_StringIsPostgresTextForm(t *testing.T) {
	for _, s := range []string{"[0,60000000000)", "(-5,10]", "[3,7]", "(3,7)", "empty"} {
		sp, err := ParseSpan(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := sp.String(); got != s {
			t.Errorf("String() = %q, want %q", got, s)
		}
	}
}

// Whatever ParseSpan accepts, it reads back the same from the span's String.
func FuzzParseSpan(f *testing.F) {
	for _, s := range []string{"[0,60000000000)", "(-5,10]", "empty", "[5,5)", "[0,)", "[+1,2]", "[a,b)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpan(s)
		if err != nil {
			return
		}
		if !sp.Empty && sp.Lower > sp.Upper {
			t.Fatalf("%q: lower above upper: %+v", s, sp)
		}
		again, err := ParseSpan(sp.String())
		if err != nil || again != sp {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, sp, sp.String(), again, err)
		}
	})
}
