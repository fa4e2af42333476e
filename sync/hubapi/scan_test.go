package hubapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// scanCases are JSON documents with whitespace, escapes and nesting in the
// places a hand-written scanner gets wrong.
var scanCases = []string{
	`[]`,
	` [ ] `,
	`[1]`,
	`[ 1 , -2.5e3 ,true,false, null ]`,
	`[{"id":"a"},{"id":"b"}]`,
	"[\n  {\"id\": \"a\", \"n\": [1, {\"x\": \"]\"}]},\n  {\"id\" : \"b\\\"}, \" }\n]\n",
	`[{"s":"a \\\\"},{"s":"\\\\\""}, "x,y", [[],[{}]], {} ]`,
	`["ünïcødé  \u2028", {"k\t":"v\r"}]`,
	`{"id": "x", "list": [1, 2], "o": {"a": " b "}}`,
	`"just a string with  spaces"`,
	`null`,
}

// TestCompactMatchesEncodingJSON: compact gives json.Compact's bytes, so
// content hashes of stored rows do not change with it.
func TestCompactMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range scanCases {
		checkCompact(t, []byte(in))
	}
}

// TestSplitArrayMatchesEncodingJSON: splitArray finds the elements that
// json.Unmarshal into []json.RawMessage finds, and nil for a non-array.
func TestSplitArrayMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range scanCases {
		checkSplit(t, []byte(in))
	}
}

func FuzzScanners(f *testing.F) {
	for _, in := range scanCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return // both are only ever given valid JSON
		}
		checkCompact(t, in)
		checkSplit(t, in)
	})
}

func checkCompact(t *testing.T, in []byte) {
	t.Helper()
	var want bytes.Buffer
	if err := json.Compact(&want, in); err != nil {
		t.Fatalf("case %q: %v", in, err)
	}
	if got := compact(in); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("compact(%q) = %q, want %q", in, got, want.Bytes())
	}
}

func checkSplit(t *testing.T, in []byte) {
	t.Helper()
	var want []json.RawMessage
	isArray := json.Unmarshal(in, &want) == nil && want != nil
	got := splitArray(in)
	if !isArray {
		if got != nil {
			t.Errorf("splitArray(%q) = %q, want nil (not an array)", in, got)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("splitArray(%q): %d elements %q, want %d %q", in, len(got), got, len(want), want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("splitArray(%q)[%d] = %q, want %q", in, i, got[i], want[i])
		}
	}
}
