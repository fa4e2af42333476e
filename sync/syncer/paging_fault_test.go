package syncer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubsync/hubsync/sync/fakehub"
)

// listPage is a list answer taken apart for rewriting.
type listPage struct {
	Total   int
	Clients []json.RawMessage
	// NoTotal drops the total field.
	NoTotal bool
}

// rewriteList installs a fault that lets fakehub answer every list request
// as usual, then hands the page to rewrite before sending it. pass counts
// the requests at offset 0 so far (1 for the first pass).
func rewriteList(h *harness, rewrite func(pass, offset int, p *listPage)) {
	var mu sync.Mutex
	pass := 0
	h.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/clients") || r.Header.Get("X-Test-Inner") != "" {
			return false
		}
		inner := r.Clone(r.Context())
		inner.Header.Set("X-Test-Inner", "1")
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, inner)
		if rec.Code != http.StatusOK {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return true
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			h.t.Errorf("rewriteList: decode page: %v", err)
			return false
		}
		var p listPage
		_ = json.Unmarshal(env["total"], &p.Total)
		_ = json.Unmarshal(env["clients"], &p.Clients)
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		mu.Lock()
		if offset == 0 {
			pass++
		}
		n := pass
		mu.Unlock()
		rewrite(n, offset, &p)
		env["total"], _ = json.Marshal(p.Total)
		if p.NoTotal {
			delete(env, "total")
		}
		if p.Clients == nil {
			p.Clients = []json.RawMessage{}
		}
		env["clients"], _ = json.Marshal(p.Clients)
		env["count"], _ = json.Marshal(len(p.Clients))
		b, _ := json.Marshal(env)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return true
	})
}

// removeSome removes n clients from the simulator (every third one, say)
// and returns their ids; a complete sync would mark them removed.
func removeSome(t *testing.T, srv *fakehub.Server, n int) []string {
	t.Helper()
	ids := srv.ClientIDs()
	var out []string
	for i := 1; i < len(ids) && len(out) < n; i += 3 {
		if err := srv.RemoveClient(ids[i]); err != nil {
			t.Fatal(err)
		}
		out = append(out, ids[i])
	}
	return out
}

// assertLive fails unless every given client is live in the database.
func (h *harness) assertLive(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		if n := h.count(t, `SELECT count(*) FROM hub.clients WHERE id = $1 AND removed_at IS NULL`, id); n != 1 {
			t.Errorf("client %s is not live in the database; an incomplete listing must not remove it", id)
		}
	}
}

// assertAllSimLive fails unless every client the simulator has now is live
// in the database.
func (h *harness) assertAllSimLive(t *testing.T) {
	t.Helper()
	h.assertLive(t, h.srv.ClientIDs())
}

// TestFaultPagingCompleteness: the client listing is shown complete (pages
// overlap by one, ids are deduplicated, total must hold still and match the
// distinct ids seen) before anything is marked removed. A listing that moves
// is paged again; one that cannot be proven complete makes the run partial
// with no removals; a following quiet sync puts everything right.
func TestFaultPagingCompleteness(t *testing.T) {
	t.Parallel()

	t.Run("ClientsAddedAndDeletedWhilePaging", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 101, Clients: 45})
		h.mustSync(t)
		ids := h.srv.ClientIDs()
		seenEarly, unseenLate := ids[2], ids[40]
		var fired atomic.Int32
		var added []string
		// The lister runs ahead of the fetches: the client that goes after
		// it was listed must have had its channels fetched by then, or the
		// run rightly ends partial (a listed client whose channels answer
		// 404 cannot be accounted for).
		fetchedEarly := make(chan struct{})
		var once sync.Once
		h.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if isShared(r) && strings.Contains(r.URL.Path, "/"+seenEarly+"/") {
				once.Do(func() { close(fetchedEarly) })
			}
			return false
		})
		h.srv.OnList(func(offset, limit int) {
			if offset >= 18 && fired.Add(1) == 1 {
				select {
				case <-fetchedEarly:
				case <-time.After(10 * time.Second):
					t.Error("the early client's channels were never fetched")
				}
				// One page in: a client already listed goes, one not yet
				// listed goes, and two new ones arrive (their ids land
				// anywhere in id order).
				_ = h.srv.RemoveClient(seenEarly)
				_ = h.srv.RemoveClient(unseenLate)
				added = append(added, h.srv.AddClient(), h.srv.AddClient())
			}
		})
		res := h.mustSync(t)
		h.srv.OnList(nil)
		h.srv.SetFault(nil)
		if fired.Load() == 0 {
			t.Fatal("the hook never fired")
		}
		if res.Pages <= 6 {
			t.Errorf("the run fetched %d pages; want a second pass after the list moved", res.Pages)
		}
		h.assertAllSimLive(t) // the new clients are there, nothing vanished
		if n := h.count(t, `SELECT count(*) FROM hub.clients WHERE id = $1 AND removed_at IS NOT NULL`, unseenLate); n != 1 {
			t.Errorf("client %s, deleted before the run reached it, is not marked removed", unseenLate)
		}
		h.settle(t)
	})

	t.Run("ListKeepsMoving", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 102, Clients: 30})
		h.mustSync(t)
		gone := removeSome(t, h.srv, 3)
		h.srv.OnList(func(offset, limit int) {
			if offset > 0 {
				h.srv.AddClient()
			}
		})
		res, err := h.run(t)
		h.srv.OnList(nil)
		wantPartial(t, res, err, "could not be proven complete")
		h.assertLive(t, gone)
		h.settle(t)
	})

	t.Run("ShortPageInTheMiddle", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 103, Clients: 45})
		rewriteList(h, func(pass, offset int, p *listPage) {
			if offset == 18 && len(p.Clients) > 3 {
				p.Clients = p.Clients[:len(p.Clients)-3] // total unchanged
			}
		})
		h.mustSync(t)
		h.settle(t)
	})

	t.Run("TotalSaysMoreThanTheListHolds", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 104, Clients: 35})
		h.mustSync(t)
		gone := removeSome(t, h.srv, 2)
		rewriteList(h, func(pass, offset int, p *listPage) { p.Total += 5 })
		res, err := h.run(t)
		wantPartial(t, res, err, "could not be proven complete")
		h.assertLive(t, gone)
		h.settle(t)
	})

	t.Run("DuplicateAcrossPagesOnce", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 105, Clients: 40})
		h.mustSync(t)
		gone := removeSome(t, h.srv, 2)
		var first json.RawMessage
		rewriteList(h, func(pass, offset int, p *listPage) {
			switch {
			case offset == 0:
				first = p.Clients[1]
			case pass == 1 && offset == 18:
				p.Clients[4] = first // shown twice, and one client never
			}
		})
		res := h.mustSync(t)
		if res.ClientsRemoved != len(gone) {
			t.Errorf("removed %d clients, want the %d really gone", res.ClientsRemoved, len(gone))
		}
		h.settle(t)
	})

	t.Run("DuplicateAcrossPagesAlways", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 106, Clients: 40})
		h.mustSync(t)
		hidden := h.srv.ClientIDs()[22]
		var first json.RawMessage
		rewriteList(h, func(pass, offset int, p *listPage) {
			switch {
			case offset == 0:
				first = p.Clients[1]
			case offset == 18:
				p.Clients[4] = first // client 22 is never listed
			}
		})
		res, err := h.run(t)
		wantPartial(t, res, err, "distinct")
		h.assertLive(t, []string{hidden})
		h.settle(t)
	})

	t.Run("EmptyPageInTheMiddleOnce", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 107, Clients: 40})
		rewriteList(h, func(pass, offset int, p *listPage) {
			if pass == 1 && offset == 9 {
				p.Clients = nil
			}
		})
		h.mustSync(t)
		h.settle(t)
	})

	t.Run("EmptyPageInTheMiddleAlways", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 108, Clients: 40})
		h.mustSync(t)
		gone := removeSome(t, h.srv, 2)
		rewriteList(h, func(pass, offset int, p *listPage) {
			if offset == 18 {
				p.Clients = nil
			}
		})
		res, err := h.run(t)
		wantPartial(t, res, err, "empty page")
		h.assertLive(t, gone)
		h.settle(t)
	})

	t.Run("TotalZeroEmptyList", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 109, Clients: 5, ChannelsPerClient: 1})
		h.mustSync(t)
		for _, id := range h.srv.ClientIDs() {
			if err := h.srv.RemoveClient(id); err != nil {
				t.Fatal(err)
			}
		}
		res := h.mustSync(t) // total 0 and no clients is a proven-complete listing
		if res.ClientsRemoved != 5 {
			t.Errorf("removed %d clients, want all 5", res.ClientsRemoved)
		}
		h.settle(t)
	})

	t.Run("TotalZeroButClients", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 110, Clients: 12})
		h.mustSync(t)
		gone := removeSome(t, h.srv, 1)
		rewriteList(h, func(pass, offset int, p *listPage) { p.Total = 0 })
		res, err := h.run(t)
		wantPartial(t, res, err, "could not be proven complete")
		h.assertLive(t, gone)
		h.settle(t)
	})

	t.Run("ServerClampsLimit", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Seed: 112, Clients: 40, MaxLimit: 7})
		var maxSeen atomic.Int32
		h.srv.OnList(func(offset, limit int) {
			if int32(limit) > maxSeen.Load() {
				maxSeen.Store(int32(limit))
			}
		})
		res := h.mustSync(t)
		if maxSeen.Load() != 7 {
			t.Fatalf("the server served pages of %d; the test wants the clamp at 7", maxSeen.Load())
		}
		if res.ClientsSeen != 40 {
			t.Errorf("saw %d clients, want 40", res.ClientsSeen)
		}
		h.settle(t)
	})
}

// TestListingWithoutTotal: total is optional in the spec. Without it the
// lister pages until a page brings nothing beyond its overlap, however long
// the list, and proves the listing by the overlaps: the run completes and
// removes what is gone. A shift between two pages still makes the listing
// unproven (partial, nothing removed), and a clamped limit changes nothing.
func TestListingWithoutTotal(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 111, Clients: 260, ChannelsPerClient: 1, MaxLimit: 7})
	rewriteList(h, func(pass, offset int, p *listPage) { p.NoTotal = true })
	res := h.mustSync(t)
	if res.ClientsSeen != 260 || !res.Complete {
		t.Fatalf("first sync without total saw %d clients (complete %v), want all 260 and complete", res.ClientsSeen, res.Complete)
	}
	gone := removeSome(t, h.srv, 3)
	res = h.mustSync(t)
	if res.ClientsRemoved != len(gone) {
		t.Errorf("removed %d clients, want the %d gone", res.ClientsRemoved, len(gone))
	}

	// A client inserted before the offset while paging shifts the list.
	if err := h.srv.RemoveClient(h.srv.ClientIDs()[100]); err != nil {
		t.Fatal(err)
	}
	var shifted json.RawMessage
	rewriteList(h, func(pass, offset int, p *listPage) {
		p.NoTotal = true
		if offset == 0 && len(p.Clients) > 0 {
			shifted = p.Clients[0]
		}
		if offset >= 60 && len(p.Clients) > 0 {
			p.Clients = append([]json.RawMessage{shifted}, p.Clients[:len(p.Clients)-1]...)
		}
	})
	res, err := h.run(t)
	wantPartial(t, res, err, "shifted")
	if res.ClientsRemoved != 0 {
		t.Errorf("an unproven listing removed %d clients", res.ClientsRemoved)
	}
}

// TestSyncAgainstHostileSimulator: `hubsync fakehub --hostile` serves every
// class of awkward record (U+0000, lone surrogates, invalid UTF-8, megabyte
// strings, deep nesting, huge integers, duplicate keys, wrong types) and
// list answers without total. A sync stores every client and channel,
// counts what it made safe, and the next sync writes nothing.
func TestSyncAgainstHostileSimulator(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 14, Clients: 60, Hostile: true})
	res := h.mustSync(t)
	clients, channels := h.srv.Counts()
	if res.ClientsSeen != clients || res.ChannelsSeen != channels || res.BadRecords != 0 || !res.Complete {
		t.Fatalf("first sync saw %d clients and %d channels (%d bad, complete %v); want all %d and %d, none bad",
			res.ClientsSeen, res.ChannelsSeen, res.BadRecords, res.Complete, clients, channels)
	}
	if res.FieldsMadeSafe == 0 {
		t.Errorf("fields_made_safe 0; the hostile simulator serves fields of the wrong type")
	}
	if n := h.count(t, `SELECT count(*) FROM hub.clients WHERE raw_original IS NOT NULL`) + h.count(t, `SELECT count(*) FROM hub.channels WHERE raw_original IS NOT NULL`); n == 0 {
		t.Errorf("no row keeps raw_original; the hostile simulator serves records jsonb cannot hold as sent")
	}
	again := h.mustSync(t)
	if w := again.ClientsInserted + again.ClientsUpdated + again.ChannelsInserted + again.ChannelsUpdated + again.Transitions; w != 0 {
		t.Errorf("second sync wrote %d rows or history rows, want none: %+v", w, again.Counts)
	}
}
