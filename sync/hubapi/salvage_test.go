package hubapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSalvageKeepsGoodRecordsAroundBrokenOnes(t *testing.T) {
	t.Parallel()
	const env = `{"limit":10,"offset":0,"total":%d,"count":%d,"clients":[%s],"sort":["id"]}`
	cases := []struct {
		name    string
		records string
		good    []string
		badIDs  []string // "" for a bad record without a usable id
	}{
		{"trailing comma", `{"id":"a","status":"active"},{"id":"b","name":"x",},{"id":"c","status":"active"}`, []string{"a", "c"}, []string{"b"}},
		{"missing value", `{"id":"a","status":"active"},{"id":"b","name":},{"id":"c","status":"active"}`, []string{"a", "c"}, []string{"b"}},
		{"unterminated string", `{"id":"a","status":"active"},{"id":"brok,{"id":"c","status":"active"}`, []string{"a", "c"}, []string{""}},
		{"broken last", `{"id":"a","status":"active"},{"id":"b","name":"x`, []string{"a"}, []string{"b"}},
		{"broken first", `{"id":"a","max_channels":1 2},{"id":"b","status":"active"}`, []string{"b"}, []string{"a"}},
		{"garbage between", `{"id":"a","status":"active"},}{,{"id":"b","status":"active"}`, []string{"a", "b"}, []string{""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := len(c.good) + len(c.badIDs)
			body := strings.Replace(strings.Replace(strings.Replace(env, "%d", itoa(n), 1), "%d", itoa(n), 1), "%s", c.records, 1)
			srv, hits := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body) })
			cl := newTestClient(t, srv.URL, nil)
			page, err := cl.ListClients(context.Background(), ListParams{})
			if err != nil {
				t.Fatalf("ListClients: expected the page salvaged, got %v", err)
			}
			if hits.Load() != 1 {
				t.Errorf("requests: expected 1 (a salvaged page is not retried), got %d", hits.Load())
			}
			var good []string
			for _, pc := range page.Clients {
				good = append(good, pc.ID)
			}
			if strings.Join(good, ",") != strings.Join(c.good, ",") {
				t.Errorf("good records: expected %v, got %v", c.good, good)
			}
			var bad []string
			for _, b := range page.Bad {
				bad = append(bad, b.ID)
				if b.Err == nil {
					t.Errorf("bad record %q has no error", b.ID)
				}
			}
			if strings.Join(bad, ",") != strings.Join(c.badIDs, ",") || len(bad) != len(c.badIDs) {
				t.Errorf("bad records: expected ids %q, got %q", c.badIDs, bad)
			}
			if !page.TotalKnown || page.Total != n {
				t.Errorf("total: expected %d, got %d (known %v)", n, page.Total, page.TotalKnown)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSalvageRefusesADamagedFrame(t *testing.T) {
	t.Parallel()
	// Valid framing (Content-Length matches) but the array never closes:
	// not a broken record but a damaged answer, retried until it gives up.
	srv, hits := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"total":2,"clients":[{"id":"a"},{"id":"b"`)
	})
	cl := newTestClient(t, srv.URL, func(c *Config) { c.MaxElapsed = 200 * time.Millisecond })
	if _, err := cl.ListClients(context.Background(), ListParams{}); err == nil {
		t.Fatal("ListClients: expected an error for a page whose array never ends")
	}
	if hits.Load() < 2 {
		t.Errorf("requests: expected retries of a damaged page, got %d", hits.Load())
	}
}

func TestSalvageSharedNumbers(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `[{"id":"ch1","status":"ready"},{"id":"ch2","status":},{"id":"ch3","status":"ready"}]`)
	})
	cl := newTestClient(t, srv.URL, nil)
	chans, bad, err := cl.SharedNumbers(context.Background(), "c1")
	if err != nil {
		t.Fatalf("SharedNumbers: expected the answer salvaged, got %v", err)
	}
	if len(chans) != 2 || chans[0].ID != "ch1" || chans[1].ID != "ch3" {
		t.Errorf("good channels: expected ch1 and ch3, got %+v", chans)
	}
	if len(bad) != 1 || bad[0].ID != "ch2" || !errors.Is(bad[0].Err, errMalformedRecord) {
		t.Errorf("bad channels: expected ch2 as malformed, got %+v", bad)
	}
}
