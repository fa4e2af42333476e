package syncer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

// harness is one simulated Partner API, one fresh database and a Syncer
// between them, set up for fast retries.
type harness struct {
	t     *testing.T
	srv   *fakehub.Server
	ts    *httptest.Server
	dbURL string
	pool  *pgxpool.Pool
	api   *hubapi.Client
	apiCf hubapi.Config
	cfg   syncer.Config
	logs  *syncBuffer
}

// option changes the harness's API client or syncer configuration before
// they are built.
type option func(*hubapi.Config, *syncer.Config)

// setup starts fakehub with fc behind an httptest.Server, creates a fresh
// migrated database and wires a Syncer to both. Retries back off from 5ms
// and give up after 3s, so that faults cost little test time.
func setup(t *testing.T, fc fakehub.Config, opts ...option) *harness {
	t.Helper()
	srv, err := fakehub.New(fc)
	if err != nil {
		t.Fatalf("fakehub.New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h := &harness{t: t, srv: srv, ts: ts, logs: &syncBuffer{}}
	h.dbURL = dbtest.URL(t)
	h.pool = dbtest.Pool(t, h.dbURL)
	fcfg := srv.Config()
	h.apiCf = hubapi.Config{
		BaseURL:        ts.URL,
		PartnerID:      fcfg.PartnerID,
		APIKey:         fcfg.APIKey,
		RequestTimeout: 2 * time.Second,
		MaxElapsed:     3 * time.Second,
		InitialBackoff: 5 * time.Millisecond,
		Logger:         slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	h.cfg = syncer.Config{
		Pool:        h.pool,
		PartnerID:   fcfg.PartnerID,
		PageSize:    10,
		Concurrency: 4,
		Logger:      slog.New(slog.NewJSONHandler(h.logs, nil)),
	}
	for _, o := range opts {
		o(&h.apiCf, &h.cfg)
	}
	h.api, err = hubapi.New(h.apiCf)
	if err != nil {
		t.Fatalf("hubapi.New: %v", err)
	}
	h.cfg.API = h.api
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sync logs:\n%s", h.logs.tail(60))
		}
	})
	return h
}

// syncer returns a Syncer on the harness's settings, changed by mod.
func (h *harness) syncer(mod func(*syncer.Config)) *syncer.Syncer {
	cfg := h.cfg
	if mod != nil {
		mod(&cfg)
	}
	return syncer.New(cfg)
}

// run runs one sync and returns its result; an error is returned in
// Result.Error and in err, as Run does.
func (h *harness) run(t *testing.T) (syncer.Result, error) {
	t.Helper()
	return h.runWith(t, nil)
}

func (h *harness) runWith(t *testing.T, mod func(*syncer.Config)) (syncer.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return h.syncer(mod).Run(ctx)
}

// mustSync runs one sync that must succeed and see everything.
func (h *harness) mustSync(t *testing.T) syncer.Result {
	t.Helper()
	res, err := h.run(t)
	if err != nil || res.Status != syncer.StatusSucceeded || !res.Complete {
		t.Fatalf("sync: status %s, complete %v, err %v (error text %q); want succeeded and complete", res.Status, res.Complete, err, res.Error)
	}
	return res
}

// wantPartial asserts a run ended partial, did not remove anything, and
// says why with text containing each of why.
func wantPartial(t *testing.T, res syncer.Result, err error, why ...string) {
	t.Helper()
	if err != nil || res.Status != syncer.StatusPartial || res.Complete {
		t.Fatalf("run: status %s, complete %v, err %v (%q); want partial and incomplete", res.Status, res.Complete, err, res.Error)
	}
	if res.ClientsRemoved+res.ChannelsRemoved != 0 {
		t.Errorf("partial run removed %d clients and %d channels; want none", res.ClientsRemoved, res.ChannelsRemoved)
	}
	for _, w := range why {
		if !strings.Contains(res.Error, w) {
			t.Errorf("partial run's error %q does not contain %q", res.Error, w)
		}
	}
}

// settle clears every fault and hook, runs a quiet sync that must succeed
// and see everything, checks that the database then matches the simulator
// exactly and that history chains, and that one more sync writes nothing.
func (h *harness) settle(t *testing.T) {
	t.Helper()
	h.srv.SetFault(nil)
	h.srv.OnList(nil)
	// A client of its own, so that the pacing or hooks of the test do
	// not slow or skew the check.
	cf := h.apiCf
	cf.RateLimit, cf.OnResponse, cf.OnRetry = 0, nil, nil
	quiet, err := hubapi.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	saved := h.cfg.API
	h.cfg.API = quiet
	defer func() { h.cfg.API = saved }()
	h.mustSync(t)
	h.assertMatchesSim(t)
	h.assertHistoryChains(t)
	again := h.mustSync(t)
	if n := again.ClientsInserted + again.ClientsUpdated + again.ChannelsInserted + again.ChannelsUpdated + again.Transitions +
		again.ClientsRemoved + again.ChannelsRemoved; n != 0 {
		t.Errorf("a second quiet sync wrote something: %+v", again.Counts)
	}
}

// simClient and simChannel are what the simulator serves, read through
// plain HTTP and a generic decoder, independently of hubapi.
type simClient struct {
	status   any
	channels map[string]simChannel
}

type simChannel struct {
	clientID                             string
	status, availability, limit, quality any
}

// simState reads every client and channel from the simulator's API.
func (h *harness) simState(t *testing.T) map[string]simClient {
	t.Helper()
	p := h.srv.Config().PartnerID
	var all []map[string]any
	for {
		var page struct {
			Total   int              `json:"total"`
			Clients []map[string]any `json:"clients"`
		}
		h.getJSON(t, fmt.Sprintf("/api/v2/partners/%s/clients?limit=1000&sort=id&offset=%d", url.PathEscape(p), len(all)), &page)
		all = append(all, page.Clients...)
		if len(page.Clients) == 0 || len(all) >= page.Total {
			if len(all) != page.Total {
				t.Fatalf("simulator state: total %d but %d clients listed", page.Total, len(all))
			}
			break
		}
	}
	out := make(map[string]simClient, len(all))
	for _, c := range all {
		id := c["id"].(string)
		var chans []map[string]any
		h.getJSON(t, "/api/v2/partners/"+url.PathEscape(p)+"/clients/"+url.PathEscape(id)+"/shared_client_numbers", &chans)
		sc := simClient{status: c["status"], channels: map[string]simChannel{}}
		for _, ch := range chans {
			sc.channels[ch["id"].(string)] = simChannel{
				clientID: ch["client_id"].(string), status: ch["status"], availability: ch["availability_status"],
				limit: ch["current_limit"], quality: ch["current_quality_rating"],
			}
		}
		out[id] = sc
	}
	return out
}

func (h *harness) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+path, nil)
	req.Header.Set("X-API-Key", h.srv.Config().APIKey)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("read simulator state %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("read simulator state %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("read simulator state %s: %v", path, err)
	}
}

func str(v any) string {
	if v == nil {
		return "<null>"
	}
	return fmt.Sprint(v)
}

// assertMatchesSim compares the live rows and tracked values of hub.clients
// and hub.channels with what the simulator serves.
func (h *harness) assertMatchesSim(t *testing.T) {
	t.Helper()
	sim := h.simState(t)
	ctx := context.Background()
	rows, err := h.pool.Query(ctx, `SELECT id, coalesce(status, '<null>'), removed_at IS NULL FROM hub.clients`)
	if err != nil {
		t.Fatal(err)
	}
	dbClients := map[string]string{}
	for rows.Next() {
		var id, status string
		var live bool
		if err := rows.Scan(&id, &status, &live); err != nil {
			t.Fatal(err)
		}
		_, inSim := sim[id]
		switch {
		case live && !inSim:
			t.Errorf("client %s is live in the database but the API no longer has it", id)
		case !live && inSim:
			t.Errorf("client %s is marked removed but the API has it", id)
		case live:
			dbClients[id] = status
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	simChans := map[string]simChannel{}
	for id, c := range sim {
		st, ok := dbClients[id]
		if !ok {
			t.Errorf("client %s is served by the API but not live in the database", id)
		} else if st != str(c.status) {
			t.Errorf("client %s: status %s in the database, %s in the API", id, st, str(c.status))
		}
		for chID, ch := range c.channels {
			simChans[chID] = ch
		}
	}
	rows, err = h.pool.Query(ctx, `SELECT id, client_id, coalesce(status, '<null>'), coalesce(availability_status, '<null>'),
		coalesce(current_limit, '<null>'), coalesce(current_quality_rating, '<null>'), removed_at IS NULL FROM hub.channels`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for rows.Next() {
		var id, clientID, status, avail, limit, quality string
		var live bool
		if err := rows.Scan(&id, &clientID, &status, &avail, &limit, &quality, &live); err != nil {
			t.Fatal(err)
		}
		s, inSim := simChans[id]
		switch {
		case live && !inSim:
			t.Errorf("channel %s is live in the database but the API no longer has it", id)
		case !live && inSim:
			t.Errorf("channel %s is marked removed but the API has it", id)
		case live:
			seen[id] = true
			got := []string{clientID, status, avail, limit, quality}
			want := []string{s.clientID, str(s.status), str(s.availability), str(s.limit), str(s.quality)}
			if !slices.Equal(got, want) {
				t.Errorf("channel %s: (client, status, availability, limit, quality) %v in the database, %v in the API", id, got, want)
			}
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for id := range simChans {
		if !seen[id] {
			t.Errorf("channel %s is served by the API but not live in the database", id)
		}
	}
}

// assertHistoryChains checks hub.status_history against the rows: for every
// (entity, id, attribute) the rows chain (each from_value is the previous
// to_value; the first starts from NULL, except client_id moves), and the
// last to_value is the row's current value, NULL when removed. Any
// duplicated or missing history row breaks a chain.
func (h *harness) assertHistoryChains(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	current := map[string]*string{} // "entity/id/attribute" -> value (nil: NULL)
	put := func(k string, v *string) { current[k] = v }
	rows, err := h.pool.Query(ctx, `SELECT id, status, removed_at IS NULL FROM hub.clients`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var status *string
		var live bool
		if err := rows.Scan(&id, &status, &live); err != nil {
			t.Fatal(err)
		}
		if !live {
			status = nil
		}
		put("client/"+id+"/status", status)
	}
	rows, err = h.pool.Query(ctx, `SELECT id, client_id, status, availability_status, current_limit, current_quality_rating, removed_at IS NULL FROM hub.channels`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, clientID string
		var status, avail, limit, quality *string
		var live bool
		if err := rows.Scan(&id, &clientID, &status, &avail, &limit, &quality, &live); err != nil {
			t.Fatal(err)
		}
		if !live {
			status, avail, limit, quality = nil, nil, nil, nil
		}
		put("channel/"+id+"/status", status)
		put("channel/"+id+"/availability_status", avail)
		put("channel/"+id+"/current_limit", limit)
		put("channel/"+id+"/current_quality_rating", quality)
		put("channel/"+id+"/client_id", &clientID)
	}
	rows, err = h.pool.Query(ctx, `SELECT entity || '/' || entity_id || '/' || attribute, from_value, to_value
		FROM hub.status_history ORDER BY entity, entity_id, attribute, id`)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]*string{}
	started := map[string]bool{}
	show := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	errs := 0
	for rows.Next() {
		var k string
		var from, to *string
		if err := rows.Scan(&k, &from, &to); err != nil {
			t.Fatal(err)
		}
		prev, ok := last[k]
		switch {
		case !ok && !strings.HasSuffix(k, "/client_id") && from != nil:
			t.Errorf("history of %s starts from %s, want NULL (first sighting)", k, show(from))
			errs++
		case ok && show(prev) != show(from):
			t.Errorf("history of %s does not chain: a row from %s → %s follows one that ended at %s (duplicated or missing row)", k, show(from), show(to), show(prev))
			errs++
		}
		last[k], started[k] = to, true
		if errs > 10 {
			t.Fatal("too many history errors")
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for k, v := range current {
		if strings.HasSuffix(k, "/client_id") && !started[k] {
			continue // never moved
		}
		if got := last[k]; show(got) != show(v) {
			t.Errorf("history of %s ends at %s but the row holds %s", k, show(got), show(v))
			errs++
		}
		if errs > 20 {
			t.Fatal("too many history errors")
		}
	}
}

// count runs a counting query.
func (h *harness) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// tryCount is count for polling: an error (a connection the test just
// killed, say) counts as -1.
func (h *harness) tryCount(sql string, args ...any) int {
	var n int
	if err := h.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 600 {
			lines[i] = l[:600] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond until it holds or the deadline passes. It is for
// conditions only visible in the database, which has no signal to wait on.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
