package syncer

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

// maxListPasses bounds how often the client list is paged again when a pass
// cannot be proven complete (the list moved under it).
const maxListPasses = 3

// pageWork is one page of clients on its way through the pipeline.
type pageWork struct {
	clients  []hubapi.PartnerClient
	channels [][]hubapi.Channel // per client, filled by the fetchers
	failed   []error            // per client: why its channels could not be fetched
	fetched  sync.WaitGroup
}

// pipeline lists, fetches and writes. It reports whether the listing was
// proven complete.
func (r *run) pipeline(ctx context.Context) (bool, error) {
	g, ctx := errgroup.WithContext(ctx)
	pages := make(chan *pageWork, 3)
	sem := make(chan struct{}, r.s.cfg.Concurrency)
	var listed bool

	g.Go(func() error {
		defer close(pages)
		ok, err := r.list(ctx, func(clients []hubapi.PartnerClient) error {
			pw := &pageWork{
				clients:  clients,
				channels: make([][]hubapi.Channel, len(clients)),
				failed:   make([]error, len(clients)),
			}
			for i := range clients {
				pw.fetched.Add(1)
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					pw.fetched.Done()
					continue
				}
				go func() {
					defer func() { <-sem; pw.fetched.Done() }()
					chs, bad, err := r.s.cfg.API.SharedNumbers(ctx, clients[i].ID)
					if err != nil {
						pw.failed[i] = err
						return
					}
					for _, b := range bad {
						r.noteBad("channel", b.ID, fmt.Sprintf("client %s: %v", clients[i].ID, b.Err))
					}
					pw.channels[i] = chs
				}()
			}
			select {
			case pages <- pw:
				return nil
			case <-ctx.Done():
				pw.fetched.Wait()
				return ctx.Err()
			}
		})
		listed = ok
		return err
	})
	g.Go(func() error {
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
	err := g.Wait()
	return listed && err == nil, err
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
func (r *run) list(ctx context.Context, emit func([]hubapi.PartnerClient) error) (bool, error) {
	var why string
	for pass := 1; pass <= maxListPasses; pass++ {
		proven, reason, err := r.listPass(ctx, emit)
		if err != nil {
			return false, err
		}
		if proven {
			if pass > 1 {
				r.log.Info("client listing proven complete on a later pass", "pass", pass)
			}
			return true, nil
		}
		why = reason
		r.log.Warn("client listing not proven complete; paging again", "pass", pass, "reason", reason)
	}
	r.markIncomplete("client listing could not be proven complete after %d passes: %s", maxListPasses, why)
	return false, nil
}

func (r *run) listPass(ctx context.Context, emit func([]hubapi.PartnerClient) error) (proven bool, why string, err error) {
	seed := maphash.MakeSeed()
	distinct := map[uint64]struct{}{}
	total := -1
	offset := 0
	lastID := ""
	unproven := func(format string, args ...any) {
		if why == "" {
			why = fmt.Sprintf(format, args...)
		}
	}
	for requests := 0; ; requests++ {
		page, err := r.s.cfg.API.ListClients(ctx, hubapi.ListParams{Offset: offset, Limit: r.s.cfg.PageSize, Sort: "id"})
		if err != nil {
			return false, "", fmt.Errorf("list clients at offset %d: %w", offset, err)
		}
		r.mu.Lock()
		r.counts.Pages++
		r.mu.Unlock()
		n := len(page.Clients) + len(page.Bad)

		switch {
		case !page.TotalKnown:
			unproven("the API sent no total")
		case total == -1:
			total = page.Total
			r.mu.Lock()
			r.total = total
			r.mu.Unlock()
		case page.Total != total:
			unproven("total moved from %d to %d while paging", total, page.Total)
		}

		badAt := map[int]hubapi.BadRecord{}
		for _, b := range page.Bad {
			badAt[b.Index] = b
			r.noteBad("client", b.ID, b.Err.Error())
			if b.ID == "" {
				unproven("a client record at offset %d has no usable id", offset+b.Index)
			} else {
				// Unusable, but it exists: keep it from being marked removed.
				if err := r.markSeen(ctx, "client", b.ID); err != nil {
					return false, "", err
				}
			}
		}
		idAt := func(i int) string {
			if b, ok := badAt[i]; ok {
				return b.ID
			}
			gi := i
			for j := range i {
				if _, ok := badAt[j]; ok {
					gi--
				}
			}
			return page.Clients[gi].ID
		}
		emitted := page.Clients
		if offset > 0 && lastID != "" && n > 0 { // an empty page is reported below
			if idAt(0) != lastID {
				unproven("the list shifted between pages near offset %d", offset)
			} else if _, bad := badAt[0]; !bad {
				emitted = emitted[1:] // the overlap: already emitted with the previous page
			}
		}
		for i := range n {
			if id := idAt(i); id != "" {
				distinct[maphash.String(seed, id)] = struct{}{}
			}
		}
		if len(emitted) > 0 {
			if err := emit(emitted); err != nil {
				return false, "", err
			}
		}

		switch {
		case n == 0 && offset < total:
			unproven("empty page at offset %d while total is %d", offset, total)
			return false, why, nil
		case total >= 0 && offset+n >= total, n == 0:
			if total >= 0 && len(distinct) != total {
				unproven("saw %d distinct clients, total says %d", len(distinct), total)
			}
			return why == "", why, nil
		case requests > 2*(total+10):
			unproven("paging did not converge")
			return false, why, nil
		}
		lastID = idAt(n - 1)
		if n > 1 {
			offset += n - 1 // overlap by one client to detect shifts
		} else {
			offset += n
			lastID = ""
		}
	}
}

// markSeen records one id as seen by the run, outside a page transaction.
func (r *run) markSeen(ctx context.Context, entity, id string) error {
	_, err := db.New(r.s.cfg.Pool).SyncRunSeenAdd(ctx, db.SyncRunSeenAddParams{RunID: r.id, Entity: entity, Ids: []string{id}})
	if err != nil {
		return fmt.Errorf("record %s %s as seen: %w", entity, id, err)
	}
	return nil
}

// pageTally is what one page wrote; it joins the run's counts only once its
// transaction committed.
type pageTally struct {
	clientsSeen, clientsInserted, clientsUpdated    int
	channelsSeen, channelsInserted, channelsUpdated int
	clientKinds, channelKinds                       []byte
}

// writePage commits one page: its new clients and their channels, with
// history, in one transaction. Clients already seen in this run (pages
// overlap) are dropped; rows whose content hash is unchanged are not sent.
func (r *run) writePage(ctx context.Context, pw *pageWork) error {
	// Validate and map outside the transaction.
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

	var t pageTally
	err := pgx.BeginFunc(ctx, r.s.cfg.Pool, func(tx pgx.Tx) error {
		t = pageTally{}
		q := db.New(tx)
		p := r.s.cfg.PartnerID

		// Clients.
		ids := make([]string, 0, len(pw.clients))
		for _, c := range pw.clients {
			ids = append(ids, c.ID)
		}
		fresh, err := q.SyncRunSeenAdd(ctx, db.SyncRunSeenAddParams{RunID: r.id, Entity: "client", Ids: ids})
		if err != nil {
			return fmt.Errorf("record clients seen: %w", err)
		}
		isFresh := make(map[string]bool, len(fresh))
		for _, id := range fresh {
			isFresh[id] = true
		}
		t.clientsSeen = len(fresh)
		stored, err := q.ClientHashes(ctx, db.ClientHashesParams{PartnerID: p, Ids: fresh})
		if err != nil {
			return fmt.Errorf("read client hashes: %w", err)
		}
		prev := make(map[string]db.ClientHashesRow, len(stored))
		for _, s := range stored {
			prev[s.ID] = s
		}
		var clientRows []clientRow
		for i := range pw.clients {
			c := &pw.clients[i]
			if !isFresh[c.ID] {
				continue
			}
			delete(isFresh, c.ID) // a page listing one id twice writes it once
			h := contentHash(c.Raw)
			if s, ok := prev[c.ID]; ok && !s.Removed && string(s.ContentHash) == string(h) {
				continue
			}
			clientRows = append(clientRows, newClientRow(c, h, &r.tp))
		}
		if len(clientRows) > 0 {
			rows, err := marshalRows(clientRows)
			if err != nil {
				return err
			}
			res, err := q.ClientUpsert(ctx, db.ClientUpsertParams{Rows: rows, PartnerID: p, RunID: runID(r.id)})
			if err != nil {
				return fmt.Errorf("upsert %d clients: %w", len(clientRows), err)
			}
			t.clientsInserted, t.clientsUpdated, t.clientKinds = int(res.Inserted), int(res.Updated), res.Transitions
		}

		// Channels of the clients first seen on this page whose fetch worked.
		freshClient := make(map[string]bool, len(fresh))
		for _, id := range fresh {
			freshClient[id] = true
		}
		var chans []*hubapi.Channel
		var chIDs []string
		inPage := map[string]bool{}
		for i := range pw.clients {
			if !freshClient[pw.clients[i].ID] || pw.failed[i] != nil {
				continue
			}
			for j := range pw.channels[i] {
				ch := &pw.channels[i][j]
				switch {
				case ch.ID == "":
					r.noteBad("channel", "", fmt.Sprintf("client %s: channel without id", pw.clients[i].ID))
					continue
				case ch.Status == nil:
					r.noteBad("channel", ch.ID, "channel without status")
					// It exists: keep it from being marked removed.
					chIDs = append(chIDs, ch.ID)
					continue
				case inPage[ch.ID]:
					continue
				}
				if ch.ClientID == "" {
					ch.ClientID = pw.clients[i].ID
				}
				inPage[ch.ID] = true
				chans = append(chans, ch)
				chIDs = append(chIDs, ch.ID)
			}
		}
		if len(chIDs) == 0 {
			return nil
		}
		freshCh, err := q.SyncRunSeenAdd(ctx, db.SyncRunSeenAddParams{RunID: r.id, Entity: "channel", Ids: chIDs})
		if err != nil {
			return fmt.Errorf("record channels seen: %w", err)
		}
		isFreshCh := make(map[string]bool, len(freshCh))
		for _, id := range freshCh {
			isFreshCh[id] = true
		}
		t.channelsSeen = len(freshCh)
		storedCh, err := q.ChannelHashes(ctx, db.ChannelHashesParams{PartnerID: p, Ids: freshCh})
		if err != nil {
			return fmt.Errorf("read channel hashes: %w", err)
		}
		prevCh := make(map[string]db.ChannelHashesRow, len(storedCh))
		for _, s := range storedCh {
			prevCh[s.ID] = s
		}
		var chRows []channelRow
		for _, ch := range chans {
			if !isFreshCh[ch.ID] {
				continue
			}
			r.noteUnknownChannel(ch)
			h := contentHash(ch.Raw)
			if s, ok := prevCh[ch.ID]; ok && !s.Removed && s.ClientID == ch.ClientID && string(s.ContentHash) == string(h) {
				continue
			}
			chRows = append(chRows, newChannelRow(ch, h, &r.tp))
		}
		if len(chRows) > 0 {
			rows, err := marshalRows(chRows)
			if err != nil {
				return err
			}
			res, err := q.ChannelUpsert(ctx, db.ChannelUpsertParams{Rows: rows, PartnerID: p, RunID: r.id})
			if err != nil {
				return fmt.Errorf("upsert %d channels: %w", len(chRows), err)
			}
			t.channelsInserted, t.channelsUpdated, t.channelKinds = int(res.Inserted), int(res.Updated), res.Transitions
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write page: %w", err)
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
	if t.clientKinds != nil {
		r.addKinds("client", t.clientKinds)
	}
	if t.channelKinds != nil {
		r.addKinds("channel", t.channelKinds)
	}
	c := r.counts
	r.mu.Unlock()

	req, retries, throttled := r.apiCounts()
	err = db.New(r.s.cfg.Pool).SyncRunProgress(ctx, db.SyncRunProgressParams{
		ID: r.id, Pages: int32(c.Pages),
		ClientsSeen: int32(c.ClientsSeen), ClientsInserted: int32(c.ClientsInserted), ClientsUpdated: int32(c.ClientsUpdated),
		ChannelsSeen: int32(c.ChannelsSeen), ChannelsInserted: int32(c.ChannelsInserted), ChannelsUpdated: int32(c.ChannelsUpdated),
		Transitions: int32(c.Transitions), ApiRequests: int32(req), ApiRetries: int32(retries), ApiThrottled: int32(throttled),
	})
	if err != nil {
		return fmt.Errorf("record progress: %w", err)
	}
	return nil
}

func (r *run) noteUnknownChannel(ch *hubapi.Channel) {
	r.noteUnknown("channel.status", ch.Status, hubapi.IsKnownChannelStatus)
	r.noteUnknown("channel.availability_status", ch.AvailabilityStatus, hubapi.IsKnownAvailabilityStatus)
	r.noteUnknown("channel.hub_status", ch.HubStatus, hubapi.IsKnownHubStatus)
	r.noteUnknown("channel.current_limit", ch.CurrentLimit, hubapi.IsKnownCurrentLimit)
	r.noteUnknown("channel.current_quality_rating", ch.CurrentQualityRating, hubapi.IsKnownQualityRating)
}
