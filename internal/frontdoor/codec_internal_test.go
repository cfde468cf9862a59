package frontdoor

import "testing"

// Half of a surrogate pair is found wherever it stands in a string; pairs, other escapes and
// a surrogate's digits outside strings are not taken for one.
func TestLoneSurrogate(t *testing.T) {
	for _, tc := range []struct {
		json string
		at   int // -1: none
	}{
		{`{"sentence":"a\ud800b"}`, 14},
		{`{"sentence":"a\udc00"}`, 14},
		{`{"sentence":"\ud800"}`, 13},
		{`{"sentence":"\ud800\ud800\udc00"}`, 13},
		{`{"sentence":"\ud800\n"}`, 13},
		{`{"sentence":"x","conversationId":"\uDBFF"}`, 34},
		{`{"sentence":"\ud83d\ude00 \u00e9 \\ud800 \" \/"}`, -1},
		{`{"sentence":"plain"}`, -1},
		{`{"sentence":"\ud8"}`, -1},
	} {
		at, found := loneSurrogate([]byte(tc.json))
		if tc.at < 0 && found || tc.at >= 0 && (!found || at != tc.at) {
			t.Errorf("loneSurrogate(%s) = %d, %v; want %d", tc.json, at, found, tc.at)
		}
	}
}
