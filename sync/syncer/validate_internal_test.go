package syncer

import "testing"

func TestNullFields(t *testing.T) {
	t.Parallel()
	fields := []string{"status", "name"}
	for _, c := range []struct {
		raw  string
		want uint32
	}{
		{`{"id":"a","status":"ready","name":"x"}`, 0},
		{`{"id":"a","status":null}`, 1},
		{`{"name":null,"id":"a"}`, 2},
		{`{"status":null,"name":null}`, 3},
		{`{"id":"a","other":null,"note":"status"}`, 0},
		{`{"id":"a","x":"\"status\":null","other":null}`, 0}, // inside a string
		{`{"id":"a","x":"\\","status":null}`, 1},             // an escaped backslash ends the string
		{`{"id":"a","meta":{"name":null}}`, 0},               // nested
		{`{"id":"a","list":[{"status":null}],"name":null}`, 2},
		{`{"id":"a","xstatus":null,"statusx":null}`, 0},
		{`{"id":null}`, 0},
		{``, 0},
	} {
		if got := nullFields([]byte(c.raw), fields, 0); got != c.want {
			t.Errorf("nullFields(%s) = %b, want %b", c.raw, got, c.want)
		}
	}
	if got := nullFields([]byte(`{"status":null,"name":null}`), fields, 1); got != 2 {
		t.Errorf("with status skipped: %b, want only name (10)", got)
	}
}
