package hubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
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

// TestSharedNumbersExceptLeavesKnownRecordsUndecoded: known sees each
// record's compacted bytes; the ones it knows are left out, the rest decoded
// as SharedNumbers would, and a bad record keeps its place in the answer.
func TestSharedNumbersExceptLeavesKnownRecordsUndecoded(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, "[ {\"id\": \"ch1\", \"status\": \"ready\"},\n"+
			`{"id":"ch2","status":"error"}, {"status":"ready"}, {"id":"ch4","status":5} ]`)
	})
	cl := newTestClient(t, srv.URL, nil)
	var seen []string
	known := func(raw json.RawMessage) bool {
		seen = append(seen, string(raw))
		return string(raw) == `{"id":"ch1","status":"ready"}`
	}
	chans, bad, err := cl.SharedNumbersExcept(context.Background(), "c1", known)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"id":"ch1","status":"ready"}`, `{"id":"ch2","status":"error"}`, `{"status":"ready"}`, `{"id":"ch4","status":5}`}
	if !slices.Equal(seen, want) {
		t.Errorf("known was given %q, want the compacted records %q", seen, want)
	}
	if len(chans) != 1 || chans[0].ID != "ch2" || chans[0].ClientID != "c1" || string(chans[0].Raw) != want[1] {
		t.Errorf("decoded channels = %+v, want ch2 alone (client c1)", chans)
	}
	if len(bad) != 2 || bad[0].Index != 2 || !errors.Is(bad[0].Err, ErrMissingID) || bad[1].Index != 3 || bad[1].ID != "ch4" {
		t.Errorf("bad records = %+v, want the record without id at 2 and ch4 at 3", bad)
	}

	all, _, err := cl.SharedNumbers(context.Background(), "c1")
	if err != nil || len(all) != 2 || all[0].ID != "ch1" {
		t.Errorf("SharedNumbers = %+v, %v; want ch1 and ch2", all, err)
	}
}
