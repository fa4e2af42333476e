package syncer_test

import (
	"testing"

	"github.com/hubsync/hubsync/sync/fakehub"
)

// TestFirstSyncByCopy: a first sync writes its all-new pages by COPY, with
// the same rows and first-sighting history the upserts write; a page whose
// COPY meets a row that exists after all (here a channel that moved, while
// the run went on, from a client on the first page to one on the third) is
// upserted instead, and the move is history, not a second first sighting.
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
	if n := h.count(t, `SELECT count(*) FROM hub.status_history WHERE entity = 'channel' AND entity_id = $1
		AND attribute = 'client_id' AND from_value = $2 AND to_value = $3`, movedID, from, to); n != 1 {
		t.Errorf("the move of channel %s from %s to %s is not one history row (%d)", movedID, from, to, n)
	}
	if got := h.count(t, `SELECT count(*) FROM hub.channels WHERE id = $1 AND client_id = $2`, movedID, to); got != 1 {
		t.Errorf("channel %s is not stored under %s, where it was seen last", movedID, to)
	}
	if res.Transitions != h.count(t, `SELECT count(*) FROM hub.status_history`) {
		t.Errorf("the run counted %d transitions, history holds %d", res.Transitions, h.count(t, `SELECT count(*) FROM hub.status_history`))
	}
	h.assertHistoryChains(t)
	if err := h.srv.SetRawSharedNumbers(to, nil); err != nil {
		t.Fatal(err)
	}
	h.settle(t)
}
