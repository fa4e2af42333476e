package syncer_test

import (
	"context"
	"testing"

	"github.com/hubsync/hubsync/sync/fakehub"
)

// TestWorkingSetCleared: a run leaves hub.sync_run_seen empty, and never
// empties the working set of a run that is still running (another partner's,
// here): with one running, only the sets of runs that are not are deleted.
func TestWorkingSetCleared(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 901, Clients: 25})
	first := h.mustSync(t)
	if n := h.count(t, `SELECT count(*) FROM hub.sync_run_seen`); n != 0 {
		t.Fatalf("%d ids left in the working sets after a run, with no other run running; want none", n)
	}

	ctx := context.Background()
	var other int64
	if err := h.pool.QueryRow(ctx, `INSERT INTO hub.sync_runs (partner_id) VALUES ('another-partner') RETURNING id`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `INSERT INTO hub.sync_run_seen (run_id, entity, id)
		VALUES ($1, 'client', 'a'), ($1, 'client', 'b'), ($1, 'channel', 'c'), ($2, 'client', 'stale')`, other, first.RunID); err != nil {
		t.Fatal(err)
	}
	second := h.mustSync(t)
	if n := h.count(t, `SELECT count(*) FROM hub.sync_run_seen WHERE run_id = $1`, other); n != 3 {
		t.Errorf("the running run's working set holds %d ids after another partner's run, want its 3", n)
	}
	if n := h.count(t, `SELECT count(*) FROM hub.sync_run_seen WHERE run_id <> $1`, other); n != 0 {
		t.Errorf("%d ids of finished runs (%d, %d) left in the working sets, want none", n, first.RunID, second.RunID)
	}
	if second.ClientsRemoved+second.ChannelsRemoved != 0 {
		t.Errorf("the second run removed %d clients and %d channels, want none", second.ClientsRemoved, second.ChannelsRemoved)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE hub.sync_runs SET status = 'abandoned', finished_at = now() WHERE id = $1`, other); err != nil {
		t.Fatal(err)
	}
	h.mustSync(t)
	if n := h.count(t, `SELECT count(*) FROM hub.sync_run_seen`); n != 0 {
		t.Errorf("%d ids left once no run is running; want none", n)
	}
}
