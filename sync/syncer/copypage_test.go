package syncer_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hubsync/hubsync/sync/fakehub"
)

// TestFirstSyncByCopy: a first sync writes its all-new pages by COPY, with
// the same rows and first-sighting history the upserts write; a page whose
// COPY meets a row that exists after all (here a channel listed, as if it
// moved while the run went on, under a client on the first page and one on
// the third) is upserted instead, and the move is history, not a second
// first sighting.
func TestFirstSyncByCopy(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 801, Clients: 30}) // pages of 10
	from := clientWithChannels(t, h.srv, 0, 1)
	to := clientWithChannels(t, h.srv, 20, 1)
	if from >= h.srv.ClientIDs()[10] {
		t.Fatalf("client %s with channels is not on the first page", from)
	}
	var fromChans, toChans []map[string]any
	h.getJSON(t, "/api/v2/partners/"+h.srv.Config().PartnerID+"/clients/"+from+"/shared_client_numbers", &fromChans)
	h.getJSON(t, "/api/v2/partners/"+h.srv.Config().PartnerID+"/clients/"+to+"/shared_client_numbers", &toChans)
	moved := fromChans[0]
	movedID := moved["id"].(string)
	moved["client_id"] = to
	if err := h.srv.SetRawSharedNumbers(to, []byte(mustJSON(t, append(toChans, moved)))); err != nil {
		t.Fatal(err)
	}

	res := h.mustSync(t)
	clients, channels := h.srv.Counts()
	if res.ClientsInserted != clients || res.ChannelsInserted != channels {
		t.Errorf("inserted %d clients and %d channels, want %d and %d", res.ClientsInserted, res.ChannelsInserted, clients, channels)
	}
	// Every client and channel has exactly one first sighting per tracked
	// attribute with a value, whichever way its page was written.
	if n := h.count(t, `SELECT count(*) FROM hub.status_history WHERE from_value IS NULL AND attribute = 'status'`); n != clients+channels {
		t.Errorf("%d first sightings of a status, want %d", n, clients+channels)
	}
	want := h.count(t, `SELECT count(*) FROM hub.channels c, LATERAL (VALUES (c.status), (c.availability_status),
		(c.current_quality_rating), (c.current_limit)) v(x) WHERE v.x IS NOT NULL`)
	if n := h.count(t, `SELECT count(*) FROM hub.status_history WHERE entity = 'channel' AND attribute <> 'client_id'`); n != want {
		t.Errorf("%d channel history rows, want %d (one per attribute with a value)", n, want)
	}
	// Two pages are written at once, so either page may commit first: the
	// channel is first seen under one client and moves to the other, once,
	// and is stored under the client of the page that committed last.
	if n := h.count(t, `SELECT count(*) FROM hub.status_history h JOIN hub.channels c ON c.id = h.entity_id
		WHERE h.entity = 'channel' AND h.entity_id = $1 AND h.attribute = 'client_id'
		AND h.to_value = c.client_id AND h.from_value IN ($2, $3) AND h.from_value <> h.to_value`, movedID, from, to); n != 1 {
		t.Errorf("the move of channel %s between %s and %s is not one history row ending where it is stored (%d)", movedID, from, to, n)
	}
	if n := h.count(t, `SELECT count(*) FROM hub.status_history WHERE entity_id = $1 AND attribute = 'client_id'`, movedID); n != 1 {
		t.Errorf("channel %s has %d client_id history rows, want the one move", movedID, n)
	}
	if n := h.count(t, `SELECT count(*) FROM hub.status_history WHERE entity_id = $1 AND attribute = 'status'`, movedID); n != 1 {
		t.Errorf("channel %s has %d status history rows, want one first sighting", movedID, n)
	}
	if res.Transitions != h.count(t, `SELECT count(*) FROM hub.status_history`) {
		t.Errorf("the run counted %d transitions, history holds %d", res.Transitions, h.count(t, `SELECT count(*) FROM hub.status_history`))
	}
	// The tally by kind, which the COPY path counts itself, says what the
	// history says.
	rows, err := h.pool.Query(context.Background(), `SELECT entity || '.' || attribute || ': ' || coalesce(from_value, '∅') || ' → ' || coalesce(to_value, '∅'), count(*)
		FROM hub.status_history GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]int{}
	var kind string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&kind, &n}, func() error { byKind[kind] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(byKind) != len(res.TransitionsByKind) {
		t.Errorf("the run tallied %d kinds of transition, history holds %d", len(res.TransitionsByKind), len(byKind))
	}
	for k, n := range byKind {
		if res.TransitionsByKind[k] != n {
			t.Errorf("transitions %q: the run tallied %d, history holds %d", k, res.TransitionsByKind[k], n)
		}
	}
	h.assertHistoryChains(t)
	if err := h.srv.SetRawSharedNumbers(to, nil); err != nil {
		t.Fatal(err)
	}
	h.settle(t)
}
