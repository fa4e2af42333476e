package syncer

import (
	"crypto/sha256"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

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

// TestKnownChannel: a record is left undecoded only when its bytes are a
// live stored row's, stored under the client it is listed under.
func TestKnownChannel(t *testing.T) {
	t.Parallel()
	rec := []byte(`{"id":"ch1","client_id":"c1","status":"ready","hub_status":"hyperspace"}`)
	other := []byte(`{"id":"ch1","client_id":"c1","status":"error","hub_status":"hyperspace"}`)
	h := sha256.Sum256(rec)
	for _, c := range []struct {
		name   string
		stored db.PageStoredRow
		client string
		raw    []byte
		want   bool
	}{
		{"same bytes, live, same client", db.PageStoredRow{Entity: "channel", ID: "ch1", ClientID: "c1", ContentHash: h[:]}, "c1", rec, true},
		{"changed", db.PageStoredRow{Entity: "channel", ID: "ch1", ClientID: "c1", ContentHash: h[:]}, "c1", other, false},
		{"marked removed", db.PageStoredRow{Entity: "channel", ID: "ch1", ClientID: "c1", ContentHash: h[:], Removed: true}, "c1", rec, false},
		{"listed under another client", db.PageStoredRow{Entity: "channel", ID: "ch1", ClientID: "c2", ContentHash: h[:]}, "c1", rec, false},
	} {
		r := &run{s: New(Config{Pool: &pgxpool.Pool{}, API: &hubapi.Client{}}), log: slog.New(slog.DiscardHandler), unknown: map[string]int{}}
		pw := &pageWork{clients: []hubapi.PartnerClient{{ID: c.client}}, known: make([][]string, 1),
			stored: &storedPage{channelsByHash: map[[sha256.Size]byte]db.PageStoredRow{[sha256.Size]byte(c.stored.ContentHash): c.stored}}}
		got := r.knownChannel(pw, 0, c.raw)
		if got != c.want {
			t.Errorf("%s: knownChannel = %v, want %v", c.name, got, c.want)
			continue
		}
		if got && (len(pw.known[0]) != 1 || pw.known[0][0] != "ch1" || r.counts.UnknownValues != 1) {
			t.Errorf("%s: known ids %q, unknown values %d; want ch1 and the unknown hub_status counted", c.name, pw.known[0], r.counts.UnknownValues)
		}
	}
}
