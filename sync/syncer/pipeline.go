package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tidwall/gjson"
	"golang.org/x/sync/errgroup"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

// maxListPasses bounds how often the client list is paged again when a pass
// cannot be proven complete (the list moved under it).
const maxListPasses = 3

// pageWork is one page of clients on its way through the pipeline.
type pageWork struct {
	clients []hubapi.PartnerClient
	// bad marks clients whose record could not be used: only their id is
	// known. Their row is left as it is, but their channels are synced.
	bad         []bool
	channels    [][]hubapi.Channel // per client, filled by the fetchers
	badChannels [][]hubapi.BadRecord
	failed      []error // per client: why its channels could not be fetched
	// known[i] are the ids of client i's channels whose record was what is
	// stored, so the fetcher left it undecoded (see knownChannel).
	known   [][]string
	fetched sync.WaitGroup
	// stored is what is stored for the page's clients and their channels,
	// read by the lister before the page's fetches (lookUpStored); nil on a
	// first sync.
	stored *storedPage
}

// storedPage is PageStored's answer for a page, by id and, for channels,
// by content hash too.
type storedPage struct {
	clients, channels map[string]db.PageStoredRow
	channelsByHash    map[[sha256.Size]byte]db.PageStoredRow
}

// pageItem is one client of a page as the lister hands it on.
type pageItem struct {
	client hubapi.PartnerClient
	bad    bool
}

// pageWriters is how many pages are written at once, each in its own
// transaction, so that Postgres works on more than one core. Pages are
// independent: the lister hands on each client once per run.
const pageWriters = 2

// pipeline lists, fetches and writes. It reports whether the listing was
// proven complete.
//
// The lister runs a page ahead of the fetches, so that the next list request
// overlaps the current page's shared-number requests instead of leaving the
// fetch pool idle; the fetch pool is shared by all pages; pageWriters
// goroutines commit fetched pages.
func (r *run) pipeline(ctx context.Context) (bool, error) {
	g, ctx := errgroup.WithContext(ctx)
	listedPages := make(chan *pageWork, 1)
	pages := make(chan *pageWork, 3)
	var listed bool

	g.Go(func() error {
		defer close(listedPages)
		ok, err := r.list(ctx, func(items []pageItem) error {
			pw := &pageWork{
				clients:     make([]hubapi.PartnerClient, len(items)),
				bad:         make([]bool, len(items)),
				channels:    make([][]hubapi.Channel, len(items)),
				badChannels: make([][]hubapi.BadRecord, len(items)),
				failed:      make([]error, len(items)),
				known:       make([][]string, len(items)),
			}
			for i, it := range items {
				pw.clients[i], pw.bad[i] = it.client, it.bad
			}
			if err := r.lookUpStored(ctx, pw); err != nil {
				return err
			}
			select {
			case listedPages <- pw:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		listed = ok
		return err
	})
	// The fetch pool: Concurrency goroutines for the whole run, as a goroutine
	// per request grew a new stack each time (1 s of CPU at 100,000 clients).
	type fetchJob struct {
		pw *pageWork
		i  int
	}
	jobs := make(chan fetchJob)
	for range r.s.cfg.Concurrency {
		g.Go(func() error {
			for j := range jobs {
				var known func(json.RawMessage) bool
				if j.pw.stored != nil {
					known = func(raw json.RawMessage) bool { return r.knownChannel(j.pw, j.i, raw) }
				}
				chs, bad, err := r.s.cfg.API.SharedNumbersExcept(ctx, j.pw.clients[j.i].ID, known)
				if err != nil {
					j.pw.failed[j.i] = err
				} else {
					j.pw.channels[j.i], j.pw.badChannels[j.i] = chs, bad
				}
				j.pw.fetched.Done()
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(pages)
		defer close(jobs)
		for pw := range listedPages {
			pw.fetched.Add(len(pw.clients))
			for i := range pw.clients {
				select {
				case jobs <- fetchJob{pw, i}:
				case <-ctx.Done():
					pw.fetched.Done()
				}
			}
			select {
			case pages <- pw:
			case <-ctx.Done():
				pw.fetched.Wait()
				return ctx.Err()
			}
		}
		return nil
	})
	var writers sync.WaitGroup
	writersDone := make(chan struct{})
	g.Go(func() error { return r.recordProgress(ctx, writersDone) })
	for range pageWriters {
		writers.Add(1)
		g.Go(func() error {
			defer writers.Done()
			for pw := range pages {
				pw.fetched.Wait()
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := r.writePage(ctx, pw); err != nil {
					return err
				}
				r.progress()
			}
			return nil
		})
	}
	go func() { writers.Wait(); close(writersDone) }()
	err := g.Wait()
	return listed && err == nil, err
}

// lookUpStored reads what is stored for pw's clients and the channels stored
// under them (PageStored: one read-only statement), so that the fetchers can
// leave unchanged channel records undecoded and planPage can skip unchanged
// rows. A first sync asks nothing: the partner had no rows when the run
// started, and the lookup would only find the run's own. It cost more than
// that: planned against tables that grow faster than their statistics, the
// lookups ran with parallel workers (seen in pg_stat_activity); without
// them Postgres's CPU time for a first sync of 100,000 clients fell from
// 55-66 s to 26-34 s in hand runs.
//
// The lister asks it, a page ahead of the fetches, so that it overlaps them.
// The rows it reads change only by this run's own pages, which each write
// their own clients and the channels listed under them (a channel that
// moves between pages is new to the page it moved to, as it was before),
// or by a `clients update` write-through, which the upserts' own checks
// tolerate as before.
func (r *run) lookUpStored(ctx context.Context, pw *pageWork) error {
	if r.firstSync {
		return nil
	}
	ids := make([]string, len(pw.clients))
	for i := range pw.clients {
		ids[i] = pw.clients[i].ID
	}
	var rows []db.PageStoredRow
	err := r.retryDB(ctx, "read the page's stored rows", func() error {
		var err error
		rows, err = db.New(r.s.cfg.Pool).PageStored(ctx, db.PageStoredParams{PartnerID: r.s.cfg.PartnerID, ClientIds: ids})
		return err
	})
	if err != nil {
		return fmt.Errorf("read the page's stored rows: %w", err)
	}
	st := &storedPage{clients: map[string]db.PageStoredRow{}, channels: map[string]db.PageStoredRow{},
		channelsByHash: make(map[[sha256.Size]byte]db.PageStoredRow, len(rows))}
	for _, row := range rows {
		if row.Entity == "client" {
			st.clients[row.ID] = row
			continue
		}
		st.channels[row.ID] = row
		if len(row.ContentHash) == sha256.Size {
			st.channelsByHash[[sha256.Size]byte(row.ContentHash)] = row
		}
	}
	pw.stored = st
	return nil
}

// knownChannel reports whether raw, a channel record of client i of pw, is
// what is stored: the same content hash, a live row, under that client.
// Such a record is not decoded, checked or written: it was all that when
// stored. Only what a run reports of every record it sees is done: nulls
// the spec does not allow, and values outside the documented enums, read
// from the bytes (gjson) rather than by decoding them.
func (r *run) knownChannel(pw *pageWork, i int, raw json.RawMessage) bool {
	s, ok := pw.stored.channelsByHash[sha256.Sum256(raw)]
	if !ok || s.Removed || s.ClientID != pw.clients[i].ID {
		return false
	}
	r.noteNulls("channel", s.ID, raw, channelNotNullable, &r.channelNulls)
	for _, e := range channelEnums {
		if v := gjson.GetBytes(raw, e.field); v.Type == gjson.String {
			str := v.String()
			r.noteUnknown(e.attr, &str, e.known)
		}
	}
	pw.known[i] = append(pw.known[i], s.ID)
	return true
}

// list pages through the clients, handing each page to emit. It pages again
// (up to maxListPasses) when a pass cannot be proven complete, and reports
// whether one was.
//
// A pass is proven complete when total stayed the same on every page, the
// pages overlap by one client and each overlap matched (so nothing shifted
// between two requests), the pass reached total, and it saw exactly total
// distinct ids. Pages of a later pass repeat clients already written; the
// writer drops those.
func (r *run) list(ctx context.Context, emit func([]pageItem) error) (bool, error) {
	var why string
	emitted := newIDSet() // across passes: a client is fetched and written once per run
	for pass := 1; pass <= maxListPasses; pass++ {
		proven, reason, lasting, err := r.listPass(ctx, emitted, emit)
		if err != nil {
			return false, err
		}
		if proven {
			if pass > 1 {
				r.log.Info("client listing proven complete on a later pass", "pass", pass)
			}
			return true, nil
		}
		if lasting {
			// The data itself is at fault (no total, a record without a usable
			// id): paging again would show the same.
			r.markIncomplete("client listing cannot be proven complete: %s", reason)
			return false, nil
		}
		why = reason
		r.log.Warn("client listing not proven complete; paging again", "pass", pass, "reason", reason)
	}
	r.markIncomplete("client listing could not be proven complete after %d passes: %s", maxListPasses, why)
	return false, nil
}

func (r *run) listPass(ctx context.Context, emitted *idSet, emit func([]pageItem) error) (proven bool, why string, lasting bool, err error) {
	// Distinct ids of this pass. The first pass counts them in emitted,
	// which then holds nothing else; a later one needs a set of its own.
	distinct := emitted
	if emitted.len() > 0 {
		distinct = newIDSet()
	}
	total := -1
	offset := 0
	lastID := ""
	unproven := func(format string, args ...any) {
		if why == "" {
			why = fmt.Sprintf(format, args...)
		}
	}
	// A fault in the data itself, which another pass would see again.
	unprovable := func(format string, args ...any) {
		if !lasting {
			why, lasting = fmt.Sprintf(format, args...), true
		}
	}
	for requests := 0; ; requests++ {
		page, err := r.s.cfg.API.ListClients(ctx, hubapi.ListParams{Offset: offset, Limit: r.s.cfg.PageSize, Sort: "id"})
		if err != nil {
			return false, "", false, err // hubapi names the offset
		}
		r.mu.Lock()
		r.counts.Pages++
		r.mu.Unlock()

		switch {
		case !page.TotalKnown:
			unprovable("the API sent no total")
		case total == -1:
			total = page.Total
			r.mu.Lock()
			r.total = total
			r.mu.Unlock()
		case page.Total != total:
			unproven("total moved from %d to %d while paging", total, page.Total)
		}

		// The page's records in order; "" stands for one without a usable id.
		items, ids := r.pageItems(page, offset)
		n := len(ids)
		for i, id := range ids {
			if id == "" {
				unprovable("a client record at offset %d has no usable id", offset+i)
			} else if distinct != emitted {
				distinct.add(id)
			}
		}
		if offset > 0 && lastID != "" && n > 0 { // an empty page is reported below
			if ids[0] != lastID {
				unproven("the list shifted between pages near offset %d", offset)
			}
		}
		var out []pageItem
		for _, it := range items {
			if emitted.add(it.client.ID) {
				out = append(out, it)
			}
		}
		if len(out) > 0 {
			if err := emit(out); err != nil {
				return false, "", false, err
			}
		}

		switch {
		case n == 0 && offset < total:
			unproven("empty page at offset %d while total is %d", offset, total)
			return false, why, lasting, nil
		case total >= 0 && offset+n >= total, n == 0:
			if n := distinct.len(); total >= 0 && n != total {
				unproven("saw %d distinct clients, total says %d", n, total)
			}
			return why == "", why, lasting, nil
		case requests > 2*(total+10):
			unproven("paging did not converge")
			return false, why, lasting, nil
		}
		lastID = ids[n-1]
		if n > 1 && lastID != "" {
			offset += n - 1 // overlap by one client to detect shifts
		} else {
			offset += n
			lastID = ""
		}
	}
}

// idSet is a set of ids held as 128-bit hashes: 16 bytes an id, no pointers
// for the garbage collector to follow, where a map of strings held about 50
// bytes and a string each. Two different ids collide with a chance of about
// n²/2¹²⁹ (10⁻²⁸ for a million).
type idSet struct {
	seeds [2]maphash.Seed
	m     map[[2]uint64]struct{}
}

func newIDSet() *idSet {
	return &idSet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: map[[2]uint64]struct{}{}}
}

func (s *idSet) len() int { return len(s.m) }

// add adds id and reports whether it was not in the set yet.
func (s *idSet) add(id string) bool {
	k := [2]uint64{maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)}
	if _, ok := s.m[k]; ok {
		return false
	}
	s.m[k] = struct{}{}
	return true
}

// pageItems checks a page's records: it returns the usable ones and those
// known only by id (bad records), in page order, and every record's id
// ("" when it has none that can be used), in page order too.
func (r *run) pageItems(page *hubapi.ClientsPage, offset int) ([]pageItem, []string) {
	n := len(page.Clients) + len(page.Bad)
	ids := make([]string, n)
	items := make([]pageItem, 0, n)
	badAt := make(map[int]hubapi.BadRecord, len(page.Bad))
	for _, b := range page.Bad {
		badAt[b.Index] = b
	}
	next := 0
	for i := range n {
		if b, ok := badAt[i]; ok {
			id := b.ID
			if !usableID(id) {
				id = ""
			}
			r.noteBadOnce("client", b.ID, b.ID+"\x00"+b.Snippet, fmt.Sprintf("offset %d: %v; record starts %s", offset+i, b.Err, b.Snippet))
			ids[i] = id
			if id != "" {
				items = append(items, pageItem{client: hubapi.PartnerClient{ID: id}, bad: true})
			}
			continue
		}
		c := page.Clients[next]
		next++
		if !usableID(c.ID) {
			r.noteBadOnce("client", c.ID, c.ID, fmt.Sprintf("offset %d: id longer than %d bytes", offset+i, maxKeyBytes))
			continue
		}
		ids[i] = c.ID
		if why := r.checkClient(&c); why != "" {
			r.noteBadOnce("client", c.ID, c.ID, why)
			items = append(items, pageItem{client: hubapi.PartnerClient{ID: c.ID}, bad: true})
			continue
		}
		items = append(items, pageItem{client: c})
	}
	return items, ids
}

// pageTally is what one page wrote; it joins the run's counts only once its
// transaction committed.
type pageTally struct {
	clientsSeen, clientsInserted, clientsUpdated    int
	channelsSeen, channelsInserted, channelsUpdated int
	clientKinds, channelKinds                       map[transition]int
}

// writePage commits one page: its clients and their channels, with history,
// in one transaction. Rows whose content hash is unchanged are not sent.
func (r *run) writePage(ctx context.Context, pw *pageWork) error {
	// Validate and map outside the transaction, which may be retried.
	var failedClients []string
	for i, c := range pw.clients {
		if pw.failed[i] != nil {
			if errors.Is(pw.failed[i], context.Canceled) || ctx.Err() != nil {
				return ctx.Err()
			}
			failedClients = append(failedClients, c.ID)
			r.mu.Lock()
			r.counts.ClientsFailed++
			r.mu.Unlock()
			r.log.Error("could not fetch a client's channels; they stay untouched", "client_id", c.ID, "err", pw.failed[i])
		}
	}
	if len(failedClients) > 0 {
		r.markIncomplete("channels of %d client(s) could not be fetched (first: %s)", len(failedClients), failedClients[0])
	}
	// Per client: the channels to write, and those known only by id (bad
	// records), which are kept from being marked removed but not written.
	good := make([][]*hubapi.Channel, len(pw.clients))
	seenOnly := make([][]string, len(pw.clients))
	for i := range pw.clients {
		if pw.failed[i] != nil {
			continue
		}
		cid := pw.clients[i].ID
		for _, b := range pw.badChannels[i] {
			r.noteBad("channel", b.ID, fmt.Sprintf("client %s: %v; record starts %s", cid, b.Err, b.Snippet))
			if usableID(b.ID) {
				seenOnly[i] = append(seenOnly[i], b.ID)
			} else {
				r.markIncomplete("a channel record of client %s has no usable id, so its channels cannot all be accounted for", cid)
			}
		}
		for j := range pw.channels[i] {
			ch := &pw.channels[i][j]
			if !usableID(ch.ID) || !usableID(ch.ClientID) {
				r.noteBad("channel", ch.ID, fmt.Sprintf("client %s: id or client_id longer than %d bytes", cid, maxKeyBytes))
				r.markIncomplete("a channel record of client %s has no usable id, so its channels cannot all be accounted for", cid)
				continue
			}
			if ch.ClientID == "" {
				ch.ClientID = cid
			}
			if why := r.checkChannel(ch); why != "" {
				r.noteBad("channel", ch.ID, fmt.Sprintf("client %s: %s", cid, why))
				seenOnly[i] = append(seenOnly[i], ch.ID)
				continue
			}
			r.noteUnknownChannel(ch)
			good[i] = append(good[i], ch)
		}
	}

	tp := timeParser{warn: r.warnTime}
	pl := planPage(pw, good, seenOnly, &tp)
	var t pageTally
	if len(pl.clients)+len(pl.channels) > 0 {
		err := r.retryDB(ctx, "write page", func() error {
			return pgx.BeginFunc(ctx, r.s.cfg.Pool, func(tx pgx.Tx) error {
				var err error
				t, err = r.writePageTx(ctx, tx, &pl)
				return err
			})
		})
		if err != nil {
			return fmt.Errorf("write page: %w", err)
		}
	}
	t.clientsSeen, t.channelsSeen = len(pl.clientIDs), len(pl.channelIDs)
	if err := r.addSeen(ctx, &pl); err != nil {
		return err
	}

	m := r.s.cfg.Metrics
	m.AddRows("clients", "insert", t.clientsInserted)
	m.AddRows("clients", "update", t.clientsUpdated)
	m.AddRows("channels", "insert", t.channelsInserted)
	m.AddRows("channels", "update", t.channelsUpdated)
	r.mu.Lock()
	r.counts.ClientsSeen += t.clientsSeen
	r.counts.ClientsInserted += t.clientsInserted
	r.counts.ClientsUpdated += t.clientsUpdated
	r.counts.ChannelsSeen += t.channelsSeen
	r.counts.ChannelsInserted += t.channelsInserted
	r.counts.ChannelsUpdated += t.channelsUpdated
	r.addKinds("client", t.clientKinds)
	r.addKinds("channel", t.channelKinds)
	r.badStamps += tp.bad
	r.pagesWritten++
	r.mu.Unlock()
	return nil
}

// progressEvery is how often a run's counts and heartbeat are written to its
// hub.sync_runs row while pages are being written. Once a page cost a quiet
// re-sync an UPDATE and a commit for no reader's benefit.
const progressEvery = time.Second

// recordProgress writes the run's counts to its hub.sync_runs row every
// progressEvery while pages are committed, and once more when done closes.
func (r *run) recordProgress(ctx context.Context, done <-chan struct{}) error {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	written := 0
	for last := false; !last; {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-done:
			last = true
		}
		if err := r.flushSeen(ctx); err != nil {
			return err
		}
		if err := r.writeProgress(ctx, &written); err != nil {
			return err
		}
	}
	return nil
}

// seenBatch bounds how many ids the run gathers before adding them to its
// working set (hub.sync_run_seen) itself; recordProgress adds them every
// progressEvery anyway.
const seenBatch = 20_000

// addSeen notes a page's ids as seen by the run. They reach
// hub.sync_run_seen in batches, not a statement per page: only the removal
// step, after the last page, reads them. A first sync keeps none: it has
// nothing to remove (see removeUnseen).
func (r *run) addSeen(ctx context.Context, pl *pagePlan) error {
	if r.firstSync {
		return nil
	}
	r.seenMu.Lock()
	for _, id := range pl.clientIDs {
		r.seen = append(r.seen, db.SyncRunSeenCopyParams{RunID: r.id, Entity: "client", ID: id})
	}
	for _, id := range pl.channelIDs {
		r.seen = append(r.seen, db.SyncRunSeenCopyParams{RunID: r.id, Entity: "channel", ID: id})
	}
	full := len(r.seen) >= seenBatch
	r.seenMu.Unlock()
	if full {
		return r.flushSeen(ctx)
	}
	return nil
}

// flushSeen adds the ids gathered so far to hub.sync_run_seen.
func (r *run) flushSeen(ctx context.Context) error {
	r.seenMu.Lock()
	rows := r.seen
	r.seen = nil
	r.seenMu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	// A retried COPY that had committed adds the ids twice: the working set
	// is read by anti joins, which duplicates do not change.
	err := r.retryDB(ctx, "record seen ids", func() error {
		_, err := db.New(r.s.cfg.Pool).SyncRunSeenCopy(ctx, rows)
		return err
	})
	if err != nil {
		return fmt.Errorf("record seen ids: %w", err)
	}
	return nil
}

// writeProgress writes the run's counts unless no page was committed since
// the pagesWritten in *written.
func (r *run) writeProgress(ctx context.Context, written *int) error {
	r.mu.Lock()
	c, n := r.counts, r.pagesWritten
	r.mu.Unlock()
	if n == *written {
		return nil
	}
	req, retries, throttled := r.apiCounts()
	err := r.retryDB(ctx, "record progress", func() error {
		return db.New(r.s.cfg.Pool).SyncRunProgress(ctx, db.SyncRunProgressParams{
			ID: r.id, Pages: int32(c.Pages),
			ClientsSeen: int32(c.ClientsSeen), ClientsInserted: int32(c.ClientsInserted), ClientsUpdated: int32(c.ClientsUpdated),
			ChannelsSeen: int32(c.ChannelsSeen), ChannelsInserted: int32(c.ChannelsInserted), ChannelsUpdated: int32(c.ChannelsUpdated),
			Transitions: int32(c.Transitions), ApiRequests: int32(req), ApiRetries: int32(retries), ApiThrottled: int32(throttled),
		})
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // the run is ending; finish records its counts
		}
		return fmt.Errorf("record progress: %w", err)
	}
	*written = n
	return nil
}

// channelEnums are the channel fields with documented values: their JSON
// name, their name for noteUnknown, and their check.
var channelEnums = [...]struct {
	field, attr string
	known       func(string) bool
}{
	{"status", "channel.status", hubapi.IsKnownChannelStatus},
	{"availability_status", "channel.availability_status", hubapi.IsKnownAvailabilityStatus},
	{"hub_status", "channel.hub_status", hubapi.IsKnownHubStatus},
	{"current_limit", "channel.current_limit", hubapi.IsKnownCurrentLimit},
	{"current_quality_rating", "channel.current_quality_rating", hubapi.IsKnownQualityRating},
}

func (r *run) noteUnknownChannel(ch *hubapi.Channel) {
	for k, v := range [len(channelEnums)]*string{ch.Status, ch.AvailabilityStatus, ch.HubStatus, ch.CurrentLimit, ch.CurrentQualityRating} {
		r.noteUnknown(channelEnums[k].attr, v, channelEnums[k].known)
	}
}
