package syncer_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

// blockFrom blocks the shared-numbers requests of srv's clients from the
// k-th on (0-based, in id order, as the sync lists them) until release is
// closed, and closes reached at the first. It picks requests by client, not
// by arrival: two fetchers' requests reach the server in either order, so
// "the 15th request" was at times one of the first page's, which then never
// committed.
func blockFrom(srv *fakehub.Server, k int, reached, release chan struct{}) fakehub.Fault {
	blocked := map[string]bool{}
	for _, id := range srv.ClientIDs()[k:] {
		blocked[id] = true
	}
	var once sync.Once
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !isShared(r) || !blocked[path.Base(path.Dir(r.URL.Path))] {
			return false
		}
		once.Do(func() { close(reached) })
		select {
		case <-release:
			return false // answered normally
		case <-r.Context().Done():
			return true
		}
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestFaultCrash: a `hubsync sync` process killed with SIGKILL mid-run
// leaves its sync_runs row 'running' and its committed pages in place; the
// next run takes the lock (the dead process's connections are gone), marks
// the old run abandoned and completes, with no history duplicated or
// missing.
func TestFaultCrash(t *testing.T) {
	t.Parallel()
	bin := hubsyncBinary(t)
	h := setup(t, fakehub.Config{Seed: 601, Clients: 30})
	h.mustSync(t)
	h.srv.Churn(40)

	reached, release := make(chan struct{}), make(chan struct{})
	h.srv.SetFault(blockFrom(h.srv, 11, reached, release))
	cmd := exec.Command(bin, "sync")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+h.dbURL, "HUB_API_URL="+h.ts.URL,
		"HUB_PARTNER_ID="+h.srv.Config().PartnerID, "HUB_API_KEY="+h.srv.Config().APIKey,
		"HUBSYNC_PAGE_SIZE=5", "HUBSYNC_CONCURRENCY=1", "HUBSYNC_RATE_LIMIT=1000", "HUBSYNC_LOG_FORMAT=json")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); close(release) })
	wait(t, reached, "the subprocess to reach the blocked request")
	var crashedRun int64
	waitFor(t, "the subprocess to commit its first pages", time.Minute, func() bool {
		err := h.pool.QueryRow(context.Background(), `SELECT id FROM hub.sync_runs WHERE status = 'running' AND clients_seen >= 9`).Scan(&crashedRun)
		return err == nil
	})
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if n := h.count(t, `SELECT count(*) FROM hub.sync_runs WHERE id = $1 AND status = 'running'`, crashedRun); n != 1 {
		t.Fatalf("the killed run's row is not 'running'\n%s", out.tail(20))
	}
	waitFor(t, "the killed process's connections to close", 20*time.Second, func() bool {
		return h.tryCount(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'hubsync'`) == 0
	})
	h.srv.SetFault(nil)

	res := h.mustSync(t)
	var status, why string
	var finished bool
	if err := h.pool.QueryRow(context.Background(), `SELECT status, coalesce(error, ''), finished_at IS NOT NULL FROM hub.sync_runs WHERE id = $1`, crashedRun).
		Scan(&status, &why, &finished); err != nil || status != "abandoned" || why == "" || !finished {
		t.Errorf("killed run %d: status %q, error %q, finished %v (%v); want abandoned, saying why", crashedRun, status, why, finished, err)
	}
	if res.RunID <= crashedRun {
		t.Errorf("the next run has id %d, not after the killed run %d", res.RunID, crashedRun)
	}
	h.settle(t)
}

// terminateBackends ends every connection to the database of dbURL, as an
// administrator (or a failover) would.
func terminateBackends(t *testing.T, dbURL string) int {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := dbName(dbURL)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func dbName(dbURL string) string {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		panic(err)
	}
	return cfg.Database
}

// assertWholePages checks that every client in the database has exactly
// the channels the simulator gives it: a page is written whole or not at
// all, never a client without its channels.
func (h *harness) assertWholePages(t *testing.T) {
	t.Helper()
	sim := h.simState(t)
	rows, err := h.pool.Query(context.Background(), `SELECT c.id, coalesce(string_agg(ch.id, ',' ORDER BY ch.id), '')
		FROM hub.clients c LEFT JOIN hub.channels ch ON ch.client_id = c.id AND ch.removed_at IS NULL GROUP BY c.id`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := pgx.CollectRows(rows, pgx.RowTo[struct {
		ID, Channels string
	}])
	for _, g := range got {
		var want []string
		for id := range sim[g.ID].channels {
			want = append(want, id)
		}
		slices.Sort(want)
		if g.Channels != strings.Join(want, ",") {
			t.Errorf("client %s is in the database with channels [%s], the API has [%s]: a half-written page", g.ID, g.Channels, strings.Join(want, ","))
		}
	}
}

// TestFaultDatabaseOutage: every connection to the database is terminated
// mid-run. The run either rides it out (page writes are retried on a lost
// connection) or fails cleanly, saying why in its sync_runs row; no page is
// ever half-written; and the next run succeeds. When the database refuses
// connections for the rest of the run, the run fails, and the next run
// marks its row abandoned if it could not even record its end.
func TestFaultDatabaseOutage(t *testing.T) {
	t.Parallel()

	t.Run("BackendsTerminated", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 701, Clients: 40}, func(ac *hubapi.Config, sc *syncer.Config) {
			sc.Concurrency = 2
			// The blocked requests wait for the test, which waits for a
			// page to commit: on a loaded machine that outlasts the
			// harness's 3 s retry budget.
			ac.RequestTimeout, ac.MaxElapsed = 30*time.Second, time.Minute
		})
		reached, release := make(chan struct{}), make(chan struct{})
		h.srv.SetFault(blockFrom(h.srv, 14, reached, release))
		type result struct {
			res syncer.Result
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := h.run(t)
			done <- result{res, err}
		}()
		wait(t, reached, "the run to reach the blocked request")
		waitFor(t, "a page to be committed", time.Minute, func() bool {
			return h.tryCount(`SELECT count(*) FROM hub.clients`) > 0
		})
		if n := terminateBackends(t, h.dbURL); n == 0 {
			t.Fatal("no backend was terminated")
		}
		close(release)
		var r result
		select {
		case r = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("the run did not return after the outage")
		}
		var status, why string
		if err := h.pool.QueryRow(context.Background(), `SELECT status, coalesce(error, '') FROM hub.sync_runs WHERE id = $1`, r.res.RunID).Scan(&status, &why); err != nil {
			t.Fatal(err)
		}
		// The run takes its lock again on a new connection and retries its
		// writes: a blip costs nothing.
		if r.err != nil || r.res.Status != syncer.StatusSucceeded || !r.res.Complete || status != "succeeded" {
			t.Errorf("run through the outage: status %s, complete %v, err %v, row %q %q; want it to ride the outage out",
				r.res.Status, r.res.Complete, r.err, status, why)
		}
		h.srv.SetFault(nil)
		h.assertWholePages(t)
		h.settle(t)
	})

	t.Run("AnotherRunTakesOverDuringTheOutage", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 703, Clients: 30}, func(_ *hubapi.Config, sc *syncer.Config) { sc.Concurrency = 2 })
		reached, release := make(chan struct{}), make(chan struct{})
		h.srv.SetFault(blockFrom(h.srv, 11, reached, release))
		done := make(chan error, 1)
		var first syncer.Result
		go func() {
			var err error
			first, err = h.run(t)
			done <- err
		}()
		wait(t, reached, "the first run to reach the blocked request")
		var firstID int64
		waitFor(t, "the first run's row", time.Minute, func() bool {
			return h.pool.QueryRow(context.Background(), `SELECT id FROM hub.sync_runs WHERE status = 'running'`).Scan(&firstID) == nil
		})
		// Another replica takes the lock before the first run notices (its
		// lock check runs every second) and marks the first run abandoned,
		// as a starting run does.
		ctx := context.Background()
		other, err := pgx.Connect(ctx, h.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close(ctx)
		took := false
		for try := 0; try < 20 && !took; try++ {
			terminateBackends(t, h.dbURL)
			if other.IsClosed() || other.Ping(ctx) != nil {
				if other, err = pgx.Connect(ctx, h.dbURL); err != nil {
					t.Fatal(err)
				}
			}
			if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, syncer.LockKey(h.cfg.PartnerID)).Scan(&took); err != nil {
				took = false
			}
		}
		if !took {
			t.Fatal("could not take the lock from the first run")
		}
		if _, err := other.Exec(ctx, `UPDATE hub.sync_runs SET status = 'abandoned', finished_at = now(), error = 'taken over by the test' WHERE id = $1`, firstID); err != nil {
			t.Fatal(err)
		}
		close(release)
		select {
		case err = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("the first run did not return")
		}
		// The other replica is done. Unlock before closing: a closed
		// session's locks go only when its backend has exited, which the
		// next run's try could beat.
		_, _ = other.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, syncer.LockKey(h.cfg.PartnerID))
		other.Close(ctx)
		if err == nil || !errors.Is(err, syncer.ErrLockLost) {
			t.Errorf("the run whose lock was taken over: status %s, err %v; want failed with ErrLockLost", first.Status, err)
		}
		if n := h.count(t, `SELECT count(*) FROM hub.sync_runs WHERE id = $1 AND status = 'abandoned'`, firstID); n != 1 {
			t.Error("the overtaken run's row no longer says abandoned: it overwrote the other run's verdict")
		}
		h.srv.SetFault(nil)
		h.assertWholePages(t)
		h.settle(t)
	})

	t.Run("DatabaseGoneForTheRestOfTheRun", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 702, Clients: 30}, func(_ *hubapi.Config, sc *syncer.Config) { sc.Concurrency = 2 })
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, dbtest.ServerURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close(context.Background()) })
		name := pgx.Identifier{dbName(h.dbURL)}.Sanitize()
		t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`) })

		reached, release := make(chan struct{}), make(chan struct{})
		h.srv.SetFault(blockFrom(h.srv, 11, reached, release))
		done := make(chan error, 1)
		var res syncer.Result
		go func() {
			var err error
			res, err = h.run(t)
			done <- err
		}()
		wait(t, reached, "the run to reach the blocked request")
		waitFor(t, "a page to be committed", time.Minute, func() bool {
			return h.tryCount(`SELECT count(*) FROM hub.clients`) > 0
		})
		if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
			t.Fatal(err)
		}
		terminateBackends(t, h.dbURL)
		close(release)
		var runErr error
		select {
		case runErr = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("the run did not return with the database gone")
		}
		if runErr == nil || res.Status != syncer.StatusFailed {
			t.Errorf("run with the database gone: status %s, err %v; want failed", res.Status, runErr)
		}
		if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
			t.Fatal(err)
		}
		h.srv.SetFault(nil)
		next := h.mustSync(t)
		var status string
		if err := h.pool.QueryRow(ctx, `SELECT status FROM hub.sync_runs WHERE id = $1`, res.RunID).Scan(&status); err != nil ||
			(status != "failed" && status != "abandoned") {
			t.Errorf("the run that lost its database: row status %q (%v); want failed, or abandoned by run %d", status, err, next.RunID)
		}
		h.assertWholePages(t)
		h.settle(t)
	})
}

// TestFaultMassRemovalGuard: a complete run that would mark more than 20%
// (and more than 10 rows) of a table's live rows removed marks none, ends
// partial and says why; --allow-mass-removal or
// HUBSYNC_ALLOW_MASS_REMOVAL=true accepts it once. Fewer rows pass.
func TestFaultMassRemovalGuard(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 801, Clients: 60})
	h.mustSync(t)
	env := func(extra ...string) cli.Env {
		m := map[string]string{
			"DATABASE_URL": h.dbURL, "HUB_API_URL": h.ts.URL, "HUB_PARTNER_ID": h.srv.Config().PartnerID,
			"HUB_API_KEY": h.srv.Config().APIKey, "HUBSYNC_RATE_LIMIT": "1000",
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return cli.Env{Getenv: envMap(m), Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, Terminal: func() bool { return false }}
	}
	live := func() int { return h.count(t, `SELECT count(*) FROM hub.clients WHERE removed_at IS NULL`) }

	// 15 of 60 clients (25%) go.
	gone := removeSome(t, h.srv, 15)
	res, err := h.run(t)
	wantPartial(t, res, err, "mass-removal guard", "15 of 60 live clients", "allow-mass-removal")
	h.assertLive(t, gone)
	if n := h.count(t, `SELECT count(*) FROM hub.sync_runs WHERE id = $1 AND status = 'partial' AND error LIKE '%mass-removal%'`, res.RunID); n != 1 {
		t.Error("the guarded run's sync_runs row does not say partial because of the guard")
	}
	// The command line refuses too (exit 3), then accepts with the flag.
	e := env()
	if code := cli.Run(context.Background(), []string{"sync"}, e); code != cli.ExitPartial || !strings.Contains(e.Stderr.(*syncBuffer).String(), "mass-removal") {
		t.Errorf("hubsync sync over the guard: exit %d, stderr %q; want 3 naming the guard", code, e.Stderr.(*syncBuffer).tail(3))
	}
	if code := cli.Run(context.Background(), []string{"sync", "--allow-mass-removal"}, env()); code != cli.ExitOK {
		t.Errorf("hubsync sync --allow-mass-removal: exit %d, want 0", code)
	}
	if n := live(); n != 45 {
		t.Errorf("%d live clients after the accepted removal, want 45", n)
	}

	// Once only: the next mass removal is refused again, then accepted
	// through the environment.
	removeSome(t, h.srv, 12)
	if code := cli.Run(context.Background(), []string{"sync"}, env()); code != cli.ExitPartial {
		t.Errorf("a second mass removal without the setting: exit %d, want 3", code)
	}
	if code := cli.Run(context.Background(), []string{"sync"}, env("HUBSYNC_ALLOW_MASS_REMOVAL", "true")); code != cli.ExitOK {
		t.Errorf("HUBSYNC_ALLOW_MASS_REMOVAL=true: exit %d, want 0", code)
	}
	if n := live(); n != 33 {
		t.Errorf("%d live clients, want 33", n)
	}

	// Under the guard: 3 clients of 33 (9%) and their channels pass.
	removeSome(t, h.srv, 3)
	small := h.mustSync(t)
	if small.ClientsRemoved != 3 || small.ChannelsRemoved == 0 {
		t.Errorf("removed %d clients and %d channels, want 3 and their channels", small.ClientsRemoved, small.ChannelsRemoved)
	}
	h.settle(t)
}
