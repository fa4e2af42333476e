package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
)

// harness is one simulator and one fresh database, driven through the same
// cli.Run that the hubsync binary runs.
type harness struct {
	t    *testing.T
	hub  *fakehub.Server
	srv  *httptest.Server
	env  map[string]string
	pool *pgxpool.Pool
}

func setup(t *testing.T, cfg fakehub.Config) *harness {
	t.Helper()
	if cfg.Clients == 0 {
		cfg.Clients = 40
	}
	if cfg.Seed == 0 {
		cfg.Seed = 7
	}
	hub, err := fakehub.New(cfg)
	if err != nil {
		t.Fatalf("fakehub.New: %v", err)
	}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	url := dbtest.URL(t)
	h := &harness{
		t: t, hub: hub, srv: srv,
		env: map[string]string{
			"DATABASE_URL":       url,
			"HUB_API_URL":        srv.URL,
			"HUB_PARTNER_ID":     hub.Config().PartnerID,
			"HUB_API_KEY":        hub.Config().APIKey,
			"HUBSYNC_RATE_LIMIT": "100000",
			"HUBSYNC_PAGE_SIZE":  "15",
			"HUBSYNC_LOG_FORMAT": "json",
		},
		pool: dbtest.Pool(t, url),
	}
	return h
}

// run runs hubsync with args and returns its exit status and output.
func (h *harness) run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(ctx, args, cli.Env{
		Getenv:   func(k string) string { return h.env[k] },
		Stdout:   &out,
		Stderr:   &errb,
		Terminal: func() bool { return false },
	})
	return code, out.String(), errb.String()
}

// sync runs `hubsync sync` and fails the test unless it exits with want.
func (h *harness) sync(want int) string {
	h.t.Helper()
	code, out, errs := h.run(context.Background(), "sync")
	if code != want {
		h.t.Fatalf("hubsync sync exited %d, want %d\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
	}
	return out
}

func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

type histRow struct {
	Attribute, From, To, ClientID string
	RunID                         int64
}

// history returns the history rows of one entity in order, NULLs as "∅".
func (h *harness) history(entity, id string) []histRow {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), `
		SELECT attribute, coalesce(from_value, '∅'), coalesce(to_value, '∅'), coalesce(client_id, ''), coalesce(sync_run_id, 0)
		FROM hub.status_history WHERE entity = $1 AND entity_id = $2 ORDER BY id`, entity, id)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []histRow
	for rows.Next() {
		var r histRow
		if err := rows.Scan(&r.Attribute, &r.From, &r.To, &r.ClientID, &r.RunID); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// channelJSON fetches what the simulator serves for a client's channels.
func (h *harness) channelJSON(clientID string) []map[string]any {
	h.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v2/partners/%s/clients/%s/shared_client_numbers", h.srv.URL, h.env["HUB_PARTNER_ID"], clientID), nil)
	req.Header.Set("X-API-Key", h.env["HUB_API_KEY"])
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// aChannel returns a client with at least one channel, and that channel.
func (h *harness) aChannel() (clientID, channelID string) {
	h.t.Helper()
	for _, c := range h.hub.ClientIDs() {
		if chs := h.hub.ChannelIDs(c); len(chs) > 0 {
			return c, chs[0]
		}
	}
	h.t.Fatal("the simulator has no channel")
	return "", ""
}

func TestSyncFirstSightingWritesOneRowPerTrackedValue(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	out := h.sync(0)
	clients, channels := h.hub.Counts()
	if got := h.count(`SELECT count(*) FROM hub.clients WHERE removed_at IS NULL`); got != clients {
		t.Errorf("live clients = %d, simulator has %d", got, clients)
	}
	if got := h.count(`SELECT count(*) FROM hub.channels WHERE removed_at IS NULL`); got != channels {
		t.Errorf("live channels = %d, simulator has %d", got, channels)
	}
	// Every channel: exactly one status row, from NULL.
	if got := h.count(`SELECT count(*) FROM hub.channel_status_history WHERE from_status IS NULL`); got != channels {
		t.Errorf("first-sighting channel status rows = %d, want %d", got, channels)
	}
	if got := h.count(`SELECT count(*) FROM (SELECT channel_id FROM hub.channel_status_history GROUP BY 1 HAVING count(*) <> 1) x`); got != 0 {
		t.Errorf("%d channels have other than one status history row after the first sync", got)
	}
	if got := h.count(`SELECT count(*) FROM hub.status_history WHERE from_value IS NOT NULL`); got != 0 {
		t.Errorf("%d history rows of a first sync have a from_value", got)
	}
	var status string
	var seen, ins, trans int
	if err := h.pool.QueryRow(context.Background(), `SELECT status, clients_seen, channels_inserted, transitions FROM hub.sync_runs`).Scan(&status, &seen, &ins, &trans); err != nil {
		t.Fatal(err)
	}
	if status != "succeeded" || seen != clients || ins != channels {
		t.Errorf("sync_runs: status %s, clients_seen %d, channels_inserted %d; want succeeded, %d, %d", status, seen, ins, clients, channels)
	}
	if got := h.count(`SELECT count(*) FROM hub.status_history`); got != trans {
		t.Errorf("sync_runs.transitions = %d, history has %d rows", trans, got)
	}
	if !strings.Contains(out, "SUCCEEDED") || !strings.Contains(out, "transitions recorded") {
		t.Errorf("summary lacks the outcome or transitions:\n%s", out)
	}
	// Typed columns came through, timestamps parsed whatever their format.
	if got := h.count(`SELECT count(*) FROM hub.channels WHERE created_at IS NULL`); got != 0 {
		t.Errorf("%d channels have no created_at", got)
	}
	if got := h.count(`SELECT count(*) FROM hub.channels WHERE phone_number IS NULL AND raw->'setup_info'->>'phone_number' IS NOT NULL`); got != 0 {
		t.Errorf("%d channels lost setup_info.phone_number", got)
	}
}

func TestSyncRecordsOneRowPerChangeOfEachTrackedAttribute(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	h.sync(0)
	clientID, channelID := h.aChannel()
	prev := map[string]string{}
	for _, r := range h.history("channel", channelID) {
		prev[r.Attribute] = r.To
	}
	changes := map[string]string{
		"status":                 "error",
		"availability_status":    "cancelled",
		"current_quality_rating": "Low",
		"current_limit":          "TIER_UNLIMITED",
	}
	for attr, v := range changes {
		if prev[attr] == v {
			t.Fatalf("test data: %s already %s", attr, v)
		}
		if err := h.hub.SetChannelField(channelID, attr, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.hub.SetClientField(clientID, "status", "suspended-for-test"); err != nil {
		t.Fatal(err)
	}
	h.sync(0)

	got := h.history("channel", channelID)
	after := map[string][]histRow{}
	for _, r := range got {
		after[r.Attribute] = append(after[r.Attribute], r)
	}
	for attr, v := range changes {
		rows := after[attr]
		last := rows[len(rows)-1]
		if last.From != prev[attr] || last.To != v || len(rows) != 2 && prev[attr] != "" && prev[attr] != "∅" {
			t.Errorf("%s history = %+v, want one change %s → %s", attr, rows, prev[attr], v)
		}
	}
	ch := h.history("client", clientID)
	if last := ch[len(ch)-1]; last.To != "suspended-for-test" || last.From == "∅" || len(ch) != 2 {
		t.Errorf("client status history = %+v, want first sighting then one change", ch)
	}
	if n := h.count(`SELECT count(*) FROM hub.status_history WHERE sync_run_id = 2`); n != 5 {
		t.Errorf("second run wrote %d history rows, want 5 (4 channel attributes, 1 client status)", n)
	}
	if n := h.count(`SELECT channels_updated + clients_updated FROM hub.sync_runs WHERE id = 2`); n != 2 {
		t.Errorf("second run updated %d rows, want 2", n)
	}
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE id = $1 AND status = 'error' AND availability_status = 'cancelled' AND updated_at > first_seen_at`, channelID); n != 1 {
		t.Errorf("current row of %s not updated", channelID)
	}
}

func TestSyncWithNoChangeWritesNothing(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	h.sync(0)
	snapshot := func() string {
		var s string
		err := h.pool.QueryRow(context.Background(), `
			SELECT (SELECT string_agg(id || ':' || xmin::text || ':' || xmax::text, ',' ORDER BY id) FROM hub.clients) || '|' ||
			       (SELECT string_agg(id || ':' || xmin::text || ':' || xmax::text, ',' ORDER BY id) FROM hub.channels) || '|' ||
			       (SELECT count(*) FROM hub.status_history)::text`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	h.sync(0)
	if after := snapshot(); after != before {
		t.Errorf("a second sync of unchanged data rewrote or locked rows (xmin/xmax moved) or added history")
	}
	var ins, upd, trans int
	if err := h.pool.QueryRow(context.Background(), `SELECT clients_inserted + channels_inserted, clients_updated + channels_updated, transitions FROM hub.sync_runs WHERE id = 2`).Scan(&ins, &upd, &trans); err != nil {
		t.Fatal(err)
	}
	if ins+upd+trans != 0 {
		t.Errorf("second run counts: inserted %d, updated %d, transitions %d; want all 0", ins, upd, trans)
	}
}

func TestSyncMarksRemovedAndRecordsReappearance(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	h.sync(0)
	clientID, channelID := h.aChannel()
	// Hide the channel: the client's answer without it.
	var kept []map[string]any
	for _, c := range h.channelJSON(clientID) {
		if c["id"] != channelID {
			kept = append(kept, c)
		}
	}
	if kept == nil {
		kept = []map[string]any{}
	}
	body, _ := json.Marshal(kept)
	if err := h.hub.SetRawSharedNumbers(clientID, body); err != nil {
		t.Fatal(err)
	}
	h.sync(0)
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE id = $1 AND removed_at IS NOT NULL`, channelID); n != 1 {
		t.Fatalf("channel %s not marked removed", channelID)
	}
	hist := h.history("channel", channelID)
	var statusRows []histRow
	for _, r := range hist {
		if r.Attribute == "status" {
			statusRows = append(statusRows, r)
		}
	}
	if len(statusRows) != 2 || statusRows[1].To != "∅" || statusRows[1].From == "∅" {
		t.Fatalf("status history after removal = %+v, want sighting then one row to NULL", statusRows)
	}
	if n := h.count(`SELECT channels_removed FROM hub.sync_runs WHERE id = 2`); n != 1 {
		t.Errorf("run 2 channels_removed = %d, want 1", n)
	}
	// A third run with it still gone writes nothing more.
	h.sync(0)
	if got := len(h.history("channel", channelID)); got != len(hist) {
		t.Errorf("a run that still does not see a removed channel wrote history (%d rows, was %d)", got, len(hist))
	}
	// It comes back.
	if err := h.hub.SetRawSharedNumbers(clientID, nil); err != nil {
		t.Fatal(err)
	}
	h.sync(0)
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE id = $1 AND removed_at IS NULL`, channelID); n != 1 {
		t.Fatalf("channel %s did not come back", channelID)
	}
	statusRows = nil
	for _, r := range h.history("channel", channelID) {
		if r.Attribute == "status" {
			statusRows = append(statusRows, r)
		}
	}
	if len(statusRows) != 3 || statusRows[2].From != "∅" || statusRows[2].To != statusRows[0].To {
		t.Fatalf("status history after return = %+v, want a row from NULL to %s", statusRows, statusRows[0].To)
	}
	// A removed client: its row and its channels.
	gone := h.hub.ClientIDs()[len(h.hub.ClientIDs())-1]
	goneChannels := len(h.hub.ChannelIDs(gone))
	if err := h.hub.RemoveClient(gone); err != nil {
		t.Fatal(err)
	}
	h.sync(0)
	if n := h.count(`SELECT count(*) FROM hub.client_status_history WHERE client_id = $1 AND to_status IS NULL`, gone); n != 1 {
		t.Errorf("removed client %s has %d removal rows, want 1", gone, n)
	}
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE client_id = $1 AND removed_at IS NOT NULL`, gone); n != goneChannels {
		t.Errorf("removed client's channels marked removed: %d, want %d", n, goneChannels)
	}
}

func TestSyncRecordsAChannelMovedToAnotherClient(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	h.sync(0)
	from, channelID := h.aChannel()
	var to string
	for _, c := range h.hub.ClientIDs() {
		if c != from {
			to = c
			break
		}
	}
	if err := h.hub.MoveChannel(channelID, to); err != nil {
		t.Fatal(err)
	}
	h.sync(0)
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE id = $1 AND client_id = $2 AND removed_at IS NULL`, channelID, to); n != 1 {
		t.Fatalf("channel %s is not live under client %s", channelID, to)
	}
	var moves []histRow
	for _, r := range h.history("channel", channelID) {
		if r.Attribute == "client_id" {
			moves = append(moves, r)
		}
		if r.To == "∅" {
			t.Errorf("a move was recorded as a removal: %+v", r)
		}
	}
	if len(moves) != 1 || moves[0].From != from || moves[0].To != to {
		t.Fatalf("client_id history = %+v, want one move %s → %s", moves, from, to)
	}
	if n := h.count(`SELECT channels_removed + channels_inserted FROM hub.sync_runs WHERE id = 2`); n != 0 {
		t.Errorf("the move counted %d removals/insertions, want 0", n)
	}
}

func TestSyncKeepsAndCountsAnUnknownStatus(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	h.sync(0)
	_, channelID := h.aChannel()
	if err := h.hub.SetChannelField(channelID, "status", "quantum_entangled"); err != nil {
		t.Fatal(err)
	}
	_, _, stderr := h.run(context.Background(), "sync")
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE id = $1 AND status = 'quantum_entangled'`, channelID); n != 1 {
		t.Fatal("the unknown status was not stored as sent")
	}
	var unknown int
	var list string
	if err := h.pool.QueryRow(context.Background(), `SELECT unknown_values, unknown_value_list::text FROM hub.sync_runs WHERE id = 2`).Scan(&unknown, &list); err != nil {
		t.Fatal(err)
	}
	if unknown != 1 || !strings.Contains(list, `"channel.status=quantum_entangled": 1`) {
		t.Errorf("sync_runs unknown_values = %d, list %s; want 1 and the value", unknown, list)
	}
	if c := strings.Count(stderr, "quantum_entangled"); c != 1 {
		t.Errorf("the unknown value was logged %d times, want once:\n%s", c, stderr)
	}
	if n := h.count(`SELECT count(*) FROM hub.channel_status_history WHERE channel_id = $1 AND to_status = 'quantum_entangled'`, channelID); n != 1 {
		t.Errorf("no history row to the unknown status")
	}
}

// TestQuietResyncStillReportsWhatItSees: a re-sync leaves the records it
// holds already undecoded, but still reports what the contract asks of
// every run: an unknown enum value is counted and logged once (from the
// stored row), and nothing is written.
func TestQuietResyncStillReportsWhatItSees(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	_, channelID := h.aChannel()
	if err := h.hub.SetChannelField(channelID, "hub_status", "hyperspace"); err != nil {
		t.Fatal(err)
	}
	if err := h.hub.SetChannelField(channelID, "is_oba", nil); err != nil {
		t.Fatal(err)
	}
	h.sync(0)
	_, _, stderr := h.run(context.Background(), "sync") // run 2: every record as stored
	var unknown, updated, inserted int
	var list string
	if err := h.pool.QueryRow(context.Background(), `SELECT unknown_values, unknown_value_list::text,
		channels_updated + clients_updated, channels_inserted + clients_inserted FROM hub.sync_runs WHERE id = 2`).
		Scan(&unknown, &list, &updated, &inserted); err != nil {
		t.Fatal(err)
	}
	if unknown != 1 || !strings.Contains(list, `"channel.hub_status=hyperspace": 1`) {
		t.Errorf("quiet run: unknown_values = %d, list %s; want 1 and the value", unknown, list)
	}
	if updated+inserted != 0 {
		t.Errorf("quiet run wrote %d rows, want none", updated+inserted)
	}
	if c := strings.Count(stderr, "hyperspace"); c != 1 {
		t.Errorf("quiet run logged the unknown value %d times, want once:\n%s", c, stderr)
	}
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE id = $1 AND hub_status = 'hyperspace' AND is_oba IS NULL`, channelID); n != 1 {
		t.Error("the channel is not stored as sent")
	}
}

func TestSyncKeepsAnUnknownFieldInRaw(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	clientID, channelID := h.aChannel()
	if err := h.hub.SetChannelField(channelID, "brand_new_field", map[string]any{"since": "v3", "n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.hub.SetClientField(clientID, "loyalty_tier", "gold"); err != nil {
		t.Fatal(err)
	}
	h.sync(0)
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE id = $1 AND raw->'brand_new_field'->>'since' = 'v3'`, channelID); n != 1 {
		t.Error("the channel's unknown field is not in raw")
	}
	if n := h.count(`SELECT count(*) FROM hub.clients WHERE id = $1 AND raw->>'loyalty_tier' = 'gold'`, clientID); n != 1 {
		t.Error("the client's unknown field is not in raw")
	}
}

func TestSyncCutShortMarksNothingRemoved(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Clients: 60})
	h.sync(0)
	// A channel disappears, then the next run is cancelled half-way.
	clientID, channelID := h.aChannel()
	body, _ := json.Marshal([]any{})
	if err := h.hub.SetRawSharedNumbers(clientID, body); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	h.hub.OnList(func(offset, limit int) {
		if offset > 20 {
			once.Do(cancel)
		}
	})
	code, out, errs := h.run(ctx, "sync")
	if code != cli.ExitFailed {
		t.Fatalf("cancelled sync exited %d, want %d\n%s\n%s", code, cli.ExitFailed, out, errs)
	}
	var status string
	var errText *string
	if err := h.pool.QueryRow(context.Background(), `SELECT status, error FROM hub.sync_runs WHERE id = 2`).Scan(&status, &errText); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || errText == nil || *errText == "" {
		t.Errorf("cut-short run: status %q, error %v; want failed with a reason", status, errText)
	}
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE removed_at IS NOT NULL`); n != 0 {
		t.Errorf("a cut-short run marked %d channels removed (%s among them?)", n, channelID)
	}
	if n := h.count(`SELECT count(*) FROM hub.status_history WHERE to_value IS NULL`); n != 0 {
		t.Errorf("a cut-short run wrote %d removal history rows", n)
	}
	// A quiet run afterwards gets it right.
	h.hub.OnList(nil)
	h.sync(0)
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE client_id = $1 AND removed_at IS NOT NULL`, clientID); n == 0 {
		t.Errorf("the next complete run did not mark the gone channels removed")
	}
}

func TestClientsUpdateWritesThroughWithHistory(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	h.sync(0)
	id := h.hub.ClientIDs()[0]
	code, out, errs := h.run(context.Background(), "clients", "update", id, "--max-channels", "7", "--partner-payload", "tier=gold ✓")
	if code != 0 {
		t.Fatalf("clients update exited %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "updated") {
		t.Errorf("output does not say the row was updated:\n%s", out)
	}
	if n := h.count(`SELECT count(*) FROM hub.clients WHERE id = $1 AND max_channels = 7 AND partner_payload = 'tier=gold ✓'`, id); n != 1 {
		t.Errorf("the database row was not written through")
	}
	// The next sync agrees with the write-through: nothing to change.
	h.sync(0)
	if n := h.count(`SELECT clients_updated FROM hub.sync_runs WHERE id = 2`); n != 0 {
		t.Errorf("the sync after a write-through updated %d clients, want 0", n)
	}
	// A 400 shows the API's message and trace id, and writes nothing.
	code, out, errs = h.run(context.Background(), "clients", "update", id, "--max-channels", "-3")
	if code != cli.ExitUsage {
		t.Errorf("negative --max-channels exited %d, want %d", code, cli.ExitUsage)
	}
	code, _, errs = h.run(context.Background(), "clients", "update", "no-such-client", "--max-channels", "3")
	if code != cli.ExitFailed || !strings.Contains(errs, "404") || !strings.Contains(errs, "trace id") {
		t.Errorf("update of an unknown client: exit %d, stderr %q; want 1 with the API's message and trace id", code, errs)
	}
	_ = out
}

func TestSyncExitStatuses(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	// Partial: one client's channels cannot be fetched (a permanent 404).
	victim := h.hub.ClientIDs()[3]
	h.hub.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/clients/"+victim+"/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			io.WriteString(w, `{"meta":{"developer_message":"gone","http_code":404,"success":false}}`)
			return true
		}
		return false
	})
	out := h.sync(cli.ExitPartial)
	if !strings.Contains(out, "PARTIAL") {
		t.Errorf("summary of a partial run:\n%s", out)
	}
	h.hub.SetFault(nil)
	h.sync(0)
	// Usage: no partner.
	delete(h.env, "HUB_PARTNER_ID")
	if code, _, errs := h.run(context.Background(), "sync"); code != cli.ExitUsage || !strings.Contains(errs, "HUB_PARTNER_ID") {
		t.Errorf("sync without a partner: exit %d, %q", code, errs)
	}
	// Failed: the API refuses the credentials.
	h.env["HUB_PARTNER_ID"] = h.hub.Config().PartnerID
	h.env["HUB_API_KEY"] = "wrong-key"
	if code, _, errs := h.run(context.Background(), "sync"); code != cli.ExitFailed || !strings.Contains(errs, "401") {
		t.Errorf("sync with a wrong key: exit %d, %q", code, errs)
	}
}
