package syncer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/fakehub"
	"github.com/hubsync/hubsync/sync/syncer"
)

// clientWithChannels returns the first of the simulator's clients (from
// index from on) with at least n channels.
func clientWithChannels(t *testing.T, srv *fakehub.Server, from, n int) string {
	t.Helper()
	ids := srv.ClientIDs()
	for _, id := range ids[from:] {
		if len(srv.ChannelIDs(id)) >= n {
			return id
		}
	}
	t.Fatalf("no client with %d channels", n)
	return ""
}

// channelState is a channel's row as the database holds it.
func (h *harness) channelState(t *testing.T, id string) string {
	t.Helper()
	var s string
	err := h.pool.QueryRow(context.Background(), `SELECT client_id || '/' || coalesce(status, '-') || '/' ||
		(removed_at IS NULL)::text || '/' || encode(content_hash, 'hex') FROM hub.channels WHERE id = $1`, id).Scan(&s)
	if err != nil {
		t.Fatalf("channel %s: %v", id, err)
	}
	return s
}

// TestFaultOneClientFails: when a client's shared numbers still fail after
// retries, its channels stay exactly as they were (no update, no removal, no
// history), the rest of the run completes, and the run ends partial: exit
// status 3 from `hubsync sync`.
func TestFaultOneClientFails(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 401, Clients: 30})
	h.mustSync(t)

	victim := clientWithChannels(t, h.srv, 0, 2)
	vch := h.srv.ChannelIDs(victim)
	other := clientWithChannels(t, h.srv, 10, 1)
	och := h.srv.ChannelIDs(other)[0]
	before := map[string]string{}
	for _, id := range vch {
		before[id] = h.channelState(t, id)
	}
	// Changes the run must not apply (the victim's) and one it must.
	if err := h.srv.SetChannelField(vch[0], "status", "error"); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.RemoveChannel(vch[1]); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.SetChannelField(och, "status", "unverified"); err != nil {
		t.Fatal(err)
	}
	var attempts int
	h.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if isShared(r) && strings.Contains(r.URL.Path, "/"+victim+"/") {
			attempts++
			answer(http.StatusServiceUnavailable)(w, r)
			return true
		}
		return false
	})
	histBefore := h.count(t, `SELECT count(*) FROM hub.status_history`)
	res, err := h.run(t)
	wantPartial(t, res, err, "could not be fetched", victim)
	if res.ClientsFailed != 1 {
		t.Errorf("clients_failed %d, want 1", res.ClientsFailed)
	}
	if attempts < 2 {
		t.Errorf("the failing client's numbers were asked for %d times; want retries", attempts)
	}
	for _, id := range vch {
		if got := h.channelState(t, id); got != before[id] {
			t.Errorf("channel %s of the failing client changed from %s to %s", id, before[id], got)
		}
	}
	if n := h.count(t, `SELECT count(*) FROM hub.status_history WHERE entity = 'channel' AND entity_id = ANY($1)`, vch); n != h.count(t,
		`SELECT count(*) FROM hub.status_history WHERE entity = 'channel' AND entity_id = ANY($1) AND sync_run_id < $2`, vch, res.RunID) {
		t.Errorf("the partial run wrote history for the failing client's channels")
	}
	if got := h.channelState(t, och); !strings.Contains(got, "/unverified/true/") {
		t.Errorf("channel %s of a healthy client is %s; the rest of the run should have applied its change", och, got)
	}
	if n := h.count(t, `SELECT count(*) FROM hub.status_history`); n != histBefore+1 {
		t.Errorf("the run wrote %d history rows, want 1 (the healthy client's change)", n-histBefore)
	}
	var status, why string
	if err := h.pool.QueryRow(context.Background(), `SELECT status, coalesce(error, '') FROM hub.sync_runs WHERE id = $1`, res.RunID).Scan(&status, &why); err != nil ||
		status != "partial" || !strings.Contains(why, victim) {
		t.Errorf("sync_runs row: %q %q (%v); want partial, naming the client", status, why, err)
	}

	// The command line says so with exit status 3. (Its retries would take
	// their default two minutes over a 503; a 404, as for a client deleted
	// between the listing and the fetch, is not retried.)
	h.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if isShared(r) && strings.Contains(r.URL.Path, "/"+victim+"/") {
			answer(http.StatusNotFound)(w, r)
			return true
		}
		return false
	})
	var out, errOut syncBuffer
	code := cli.Run(context.Background(), []string{"sync"}, cli.Env{
		Getenv: envMap(map[string]string{
			"DATABASE_URL": h.dbURL, "HUB_API_URL": h.ts.URL, "HUB_PARTNER_ID": h.srv.Config().PartnerID,
			"HUB_API_KEY": h.srv.Config().APIKey, "HUBSYNC_RATE_LIMIT": "1000",
		}),
		Stdout: &out, Stderr: &errOut, Terminal: func() bool { return false },
	})
	if code != cli.ExitPartial {
		t.Errorf("hubsync sync with a failing client: exit status %d, want %d\nstdout: %s\nstderr: %s", code, cli.ExitPartial, out.String(), errOut.tail(10))
	}
	h.settle(t)
}

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// bigString is n bytes of incompressible text, so that Postgres cannot
// squeeze it under its index size limit.
func bigString(n int) string {
	b := make([]byte, n*3/4+3)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// TestFaultBadRecords: records without a usable status (absent, null, of
// the wrong type, a megabyte long) or id are logged and counted in
// sync_runs.bad_records; they are skipped without being marked removed, and
// the good records on the same page are written. A member of the wrong type
// costs only itself: the record is stored with that column NULL, counted in
// fields_made_safe. A null where the spec promises a value is stored as NULL
// and logged. A record without any usable id makes the listing unprovable:
// partial, no removals.
func TestFaultBadRecords(t *testing.T) {
	t.Parallel()

	t.Run("IdentifiableBadRecords", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 501, Clients: 30})
		h.mustSync(t)
		ids := h.srv.ClientIDs()
		malformed, wrongType, nullName, huge := ids[3], ids[4], ids[5], ids[6]
		neighbour := ids[7] // same page: its change must land
		noStatusClient := clientWithChannels(t, h.srv, 12, 2)
		noStatusCh := h.srv.ChannelIDs(noStatusClient)[0]
		hugeStatusCh := h.srv.ChannelIDs(noStatusClient)[1]
		brokenChClient := clientWithChannels(t, h.srv, 20, 2)
		brokenChannels := h.srv.ChannelIDs(brokenChClient)
		malformedChClient := clientWithChannels(t, h.srv, 0, 1)
		if malformedChClient == noStatusClient || malformedChClient == brokenChClient {
			malformedChClient = malformed
		}
		movedCh := h.srv.ChannelIDs(malformedChClient)

		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(h.srv.SetRawClient(malformed, []byte(`{"id":"`+malformed+`","name":"no status"}`)))
		must(h.srv.SetClientField(wrongType, "max_channels", "ten"))
		must(h.srv.SetClientField(nullName, "name", nil))
		must(h.srv.SetClientField(huge, "partner_payload", bigString(1<<20)))
		must(h.srv.SetClientField(neighbour, "status", "suspended"))
		must(h.srv.SetChannelField(noStatusCh, "status", nil))
		must(h.srv.SetChannelField(hugeStatusCh, "status", bigString(1<<20)))
		// A shared-numbers answer with one malformed channel among good ones.
		var chans []map[string]any
		h.getJSON(t, "/api/v2/partners/"+h.srv.Config().PartnerID+"/clients/"+brokenChClient+"/shared_client_numbers", &chans)
		good := mustJSON(t, chans[1:])
		must(h.srv.SetRawSharedNumbers(brokenChClient, []byte(`[{"id":"`+brokenChannels[0]+`","status":42,"is_oba":"yes"},`+good[1:])))
		// The malformed client's channels change: they must still be synced.
		if len(movedCh) > 0 {
			must(h.srv.SetChannelField(movedCh[0], "current_quality_rating", "Low"))
		}

		res, err := h.run(t)
		if err != nil || res.Status != syncer.StatusSucceeded || !res.Complete {
			t.Fatalf("run: %s, complete %v, err %v (%q); want succeeded: every bad record has an id", res.Status, res.Complete, err, res.Error)
		}
		// The client without status, the channel without status, the huge
		// status, the channel whose status is a number.
		if res.BadRecords != 4 {
			t.Errorf("bad_records %d, want 4", res.BadRecords)
		}
		if res.FieldsMadeSafe < 1 {
			t.Errorf("fields_made_safe %d, want at least 1 (max_channels \"ten\")", res.FieldsMadeSafe)
		}
		if got := h.count(t, `SELECT count(*) FROM hub.clients WHERE id = $1 AND max_channels IS NULL AND raw->>'max_channels' = 'ten'`, wrongType); got != 1 {
			t.Errorf("client %s with max_channels \"ten\" was not stored with the column NULL and raw kept", wrongType)
		}
		if n := h.count(t, `SELECT bad_records FROM hub.sync_runs WHERE id = $1`, res.RunID); n != res.BadRecords {
			t.Errorf("sync_runs.bad_records %d, want %d", n, res.BadRecords)
		}
		if res.ClientsRemoved+res.ChannelsRemoved != 0 {
			t.Errorf("bad records were marked removed: %+v", res.Counts)
		}
		logs := h.logs.String()
		for _, id := range []string{malformed, noStatusCh, hugeStatusCh, brokenChannels[0]} {
			if !strings.Contains(logs, `"msg":"skipped a bad record"`) || !strings.Contains(logs, `"id":"`+id+`"`) {
				t.Errorf("no log line names bad record %s", id)
			}
		}
		if !strings.Contains(logs, `"member":"name"`) {
			t.Errorf("the null name was not logged")
		}
		if got := h.count(t, `SELECT count(*) FROM hub.clients WHERE id = $1 AND status = 'suspended'`, neighbour); got != 1 {
			t.Errorf("the good client %s on the same page as bad ones was not updated", neighbour)
		}
		if got := h.count(t, `SELECT count(*) FROM hub.clients WHERE id = $1 AND name IS NULL AND removed_at IS NULL`, nullName); got != 1 {
			t.Errorf("client %s with a null name was not stored with name NULL", nullName)
		}
		if got := h.count(t, `SELECT count(*) FROM hub.clients WHERE id = $1 AND length(partner_payload) = $2`, huge, 1<<20); got != 1 {
			t.Errorf("client %s with a 1 MB partner_payload was not stored", huge)
		}
		if len(movedCh) > 0 {
			if got := h.count(t, `SELECT count(*) FROM hub.channels WHERE id = $1 AND current_quality_rating = 'Low'`, movedCh[0]); got != 1 {
				t.Errorf("channel %s of client %s (whose own record was bad) was not synced", movedCh[0], malformedChClient)
			}
		}
		for _, id := range brokenChannels[1:] {
			if got := h.count(t, `SELECT count(*) FROM hub.channels WHERE id = $1 AND removed_at IS NULL`, id); got != 1 {
				t.Errorf("good channel %s beside a malformed one is not live", id)
			}
		}

		must(h.srv.SetRawClient(malformed, nil))
		must(h.srv.SetClientField(wrongType, "max_channels", 3))
		must(h.srv.SetClientField(nullName, "name", "Named Again"))
		must(h.srv.SetChannelField(noStatusCh, "status", "ready"))
		must(h.srv.SetChannelField(hugeStatusCh, "status", "ready"))
		must(h.srv.SetRawSharedNumbers(brokenChClient, nil))
		h.settle(t)
	})

	t.Run("RecordsWithoutUsableID", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 502, Clients: 30})
		h.mustSync(t)
		gone := removeSome(t, h.srv, 2)
		ids := h.srv.ClientIDs()
		noID, hugeID, cutShort := ids[2], ids[12], ids[22]
		neighbour := ids[13]
		chClient := clientWithChannels(t, h.srv, 0, 1)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(h.srv.SetClientField(noID, "id", nil))
		must(h.srv.SetClientField(hugeID, "id", bigString(1<<20)))
		must(h.srv.SetRawClient(cutShort, []byte(`["not", "an", "object"]`)))
		must(h.srv.SetClientField(neighbour, "status", "suspended"))
		must(h.srv.SetChannelField(h.srv.ChannelIDs(chClient)[0], "id", nil))
		res, err := h.run(t)
		wantPartial(t, res, err, "no usable id")
		h.assertLive(t, gone)
		if res.BadRecords != 4 {
			t.Errorf("bad_records %d, want 4", res.BadRecords)
		}
		if got := h.count(t, `SELECT count(*) FROM hub.clients WHERE id = $1 AND status = 'suspended'`, neighbour); got != 1 {
			t.Errorf("the good client %s next to a 1 MB id was not updated", neighbour)
		}
		must(h.srv.SetClientField(noID, "id", noID))
		must(h.srv.SetClientField(hugeID, "id", hugeID))
		must(h.srv.SetRawClient(cutShort, nil))
		for _, ch := range h.srv.ChannelIDs(chClient)[:1] {
			must(h.srv.SetChannelField(ch, "id", ch))
		}
		h.settle(t)
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNestedMembersAreStored: members two levels down (settings.throughput
// .level) reach their column, as those one level down do.
func TestNestedMembersAreStored(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 503, Clients: 20})
	h.mustSync(t)
	withLevel := h.count(t, `SELECT count(*) FROM hub.channels WHERE raw->'settings'->'throughput'->>'level' IS NOT NULL`)
	if withLevel == 0 {
		t.Fatal("the simulator served no channel with settings.throughput.level; the test needs some")
	}
	if n := h.count(t, `SELECT count(*) FROM hub.channels WHERE throughput_level IS NOT DISTINCT FROM raw->'settings'->'throughput'->>'level'`); n != h.count(t, `SELECT count(*) FROM hub.channels`) {
		t.Errorf("%d channels have throughput_level equal to raw's settings.throughput.level, want every one (%d with a level)", n, withLevel)
	}
}
