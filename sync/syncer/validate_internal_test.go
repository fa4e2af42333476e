package syncer

import "testing"

func TestMayHoldNull(t *testing.T) {
	t.Parallel()
	fields := []string{"status", "name"}
	for _, c := range []struct {
		raw  string
		want bool
	}{
		{`{"id":"a","status":"ready","name":"x"}`, false},
		{`{"id":"a","status":null}`, true},
		{`{"name":null,"id":"a"}`, true},
		{`{"id":"a","other":null,"note":"status"}`, false},
		{`{"id":"a","x":"\"status\":nul","other":null}`, false},
		{`{"id":"a","meta":{"name":null}}`, true}, // nested: the caller's decode decides
		{`{"id":"a","xstatus":null,"statusx":null}`, false},
		{`{"id":null}`, false},
		{``, false},
	} {
		if got := mayHoldNull([]byte(c.raw), fields, 0); got != c.want {
			t.Errorf("mayHoldNull(%s) = %v, want %v", c.raw, got, c.want)
		}
	}
	if mayHoldNull([]byte(`{"status":null}`), fields, 1) {
		t.Error("a field whose bit is set in skip was looked for")
	}
	if !mayHoldNull([]byte(`{"status":null,"name":null}`), fields, 1) {
		t.Error("a field whose bit is not set in skip was missed")
	}
}
