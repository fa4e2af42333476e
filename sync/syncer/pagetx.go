package syncer

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

// writePageTx writes one page in tx: its clients first seen in this run
// (bad ones only recorded as seen), then their channels (good[i] to write,
// seenOnly[i] only recorded as seen). It touches no run state, so that the
// transaction can be retried; the tally joins the run once it committed.
func (r *run) writePageTx(ctx context.Context, tx pgx.Tx, pw *pageWork, good [][]*hubapi.Channel, seenOnly [][]string, tp *timeParser) (pageTally, error) {
	var t pageTally
	q := db.New(tx)
	p := r.s.cfg.PartnerID

	// Clients.
	ids := make([]string, 0, len(pw.clients))
	for _, c := range pw.clients {
		ids = append(ids, c.ID)
	}
	fresh, err := q.SyncRunSeenAdd(ctx, db.SyncRunSeenAddParams{RunID: r.id, Entity: "client", Ids: ids})
	if err != nil {
		return t, fmt.Errorf("record clients seen: %w", err)
	}
	isFresh := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		isFresh[id] = true
	}
	t.clientsSeen = len(fresh)
	stored, err := q.ClientHashes(ctx, db.ClientHashesParams{PartnerID: p, Ids: fresh})
	if err != nil {
		return t, fmt.Errorf("read client hashes: %w", err)
	}
	prev := make(map[string]db.ClientHashesRow, len(stored))
	for _, s := range stored {
		prev[s.ID] = s
	}
	var clientRows []clientRow
	pending := make(map[string]bool, len(fresh))
	for id := range isFresh {
		pending[id] = true
	}
	for i := range pw.clients {
		c := &pw.clients[i]
		if !pending[c.ID] || pw.bad[i] {
			continue
		}
		delete(pending, c.ID) // a page listing one id twice writes it once
		h := contentHash(c.Raw)
		if s, ok := prev[c.ID]; ok && !s.Removed && string(s.ContentHash) == string(h) {
			continue
		}
		clientRows = append(clientRows, newClientRow(c, h, tp))
	}
	if len(clientRows) > 0 {
		rows, err := marshalRows(clientRows)
		if err != nil {
			return t, err
		}
		res, err := q.ClientUpsert(ctx, db.ClientUpsertParams{Rows: rows, PartnerID: p, RunID: runID(r.id)})
		if err != nil {
			return t, fmt.Errorf("upsert %d clients: %w", len(clientRows), err)
		}
		t.clientsInserted, t.clientsUpdated, t.clientKinds = int(res.Inserted), int(res.Updated), res.Transitions
	}

	// Channels of the clients first seen on this page whose fetch worked.
	var chans []*hubapi.Channel
	var chIDs []string
	inPage := map[string]bool{}
	for i := range pw.clients {
		if !isFresh[pw.clients[i].ID] || pw.failed[i] != nil {
			continue
		}
		chIDs = append(chIDs, seenOnly[i]...)
		for _, ch := range good[i] {
			if inPage[ch.ID] {
				continue
			}
			inPage[ch.ID] = true
			chans = append(chans, ch)
			chIDs = append(chIDs, ch.ID)
		}
	}
	if len(chIDs) == 0 {
		return t, nil
	}
	freshCh, err := q.SyncRunSeenAdd(ctx, db.SyncRunSeenAddParams{RunID: r.id, Entity: "channel", Ids: chIDs})
	if err != nil {
		return t, fmt.Errorf("record channels seen: %w", err)
	}
	isFreshCh := make(map[string]bool, len(freshCh))
	for _, id := range freshCh {
		isFreshCh[id] = true
	}
	t.channelsSeen = len(freshCh)
	storedCh, err := q.ChannelHashes(ctx, db.ChannelHashesParams{PartnerID: p, Ids: freshCh})
	if err != nil {
		return t, fmt.Errorf("read channel hashes: %w", err)
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
		h := contentHash(ch.Raw)
		if s, ok := prevCh[ch.ID]; ok && !s.Removed && s.ClientID == ch.ClientID && string(s.ContentHash) == string(h) {
			continue
		}
		chRows = append(chRows, newChannelRow(ch, h, tp))
	}
	if len(chRows) > 0 {
		rows, err := marshalRows(chRows)
		if err != nil {
			return t, err
		}
		res, err := q.ChannelUpsert(ctx, db.ChannelUpsertParams{Rows: rows, PartnerID: p, RunID: r.id})
		if err != nil {
			return t, fmt.Errorf("upsert %d channels: %w", len(chRows), err)
		}
		t.channelsInserted, t.channelsUpdated, t.channelKinds = int(res.Inserted), int(res.Updated), res.Transitions
	}
	return t, nil
}
