package syncer

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

// writePageTx writes one page in tx: it records the page's ids as seen, then
// writes the clients and channels whose content differs from what is stored
// (bad clients, and the channels in seenOnly[i], are only recorded as seen;
// good[i] are client i's channels to write). The lister hands on each client
// once per run; a channel that two clients of a page list is written once,
// and one listed again on a later page (it moved while the run went on) is
// written again, as it was then seen. It touches no run state, so that the
// transaction can be retried; the tally joins the run once it committed.
func (r *run) writePageTx(ctx context.Context, tx pgx.Tx, pw *pageWork, good [][]*hubapi.Channel, seenOnly [][]string, tp *timeParser) (pageTally, error) {
	var t pageTally
	q := db.New(tx)
	p := r.s.cfg.PartnerID
	// A page's commit need not wait for its WAL to reach disk: should the
	// server crash within the next moment (wal_writer_delay, 200 ms by
	// default), the database is still consistent and the next run writes the
	// page again. Waiting cost a first sync one flush per page.
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return t, fmt.Errorf("page transaction: %w", err)
	}

	// The page's ids: its clients, and the channels of those whose fetch
	// worked (a channel listed under two of them counts once).
	ids := make([]string, 0, len(pw.clients))
	for _, c := range pw.clients {
		ids = append(ids, c.ID)
	}
	var chans []*hubapi.Channel
	var chIDs []string
	inPage := map[string]bool{}
	for i := range pw.clients {
		if pw.failed[i] != nil {
			continue
		}
		for _, id := range seenOnly[i] {
			if !inPage[id] {
				inPage[id] = true
				chIDs = append(chIDs, id)
			}
		}
		for _, ch := range good[i] {
			if inPage[ch.ID] {
				continue
			}
			inPage[ch.ID] = true
			chans = append(chans, ch)
			chIDs = append(chIDs, ch.ID)
		}
	}
	seen, err := q.PageSeen(ctx, db.PageSeenParams{RunID: r.id, ClientIds: ids, ChannelIds: chIDs, PartnerID: p})
	if err != nil {
		return t, fmt.Errorf("record the page as seen: %w", err)
	}
	prev := make(map[string]db.PageSeenRow, len(ids))
	prevCh := make(map[string]db.PageSeenRow, len(chIDs))
	for _, s := range seen {
		if s.Entity == "client" {
			prev[s.ID] = s
		} else {
			prevCh[s.ID] = s
		}
	}
	t.clientsSeen, t.channelsSeen = len(ids), len(chIDs)

	// Clients.
	var clientRows []clientRow
	for i := range pw.clients {
		c := &pw.clients[i]
		if pw.bad[i] {
			continue
		}
		h := contentHash(c.Raw)
		if s, ok := prev[c.ID]; ok && !s.Removed && string(s.ContentHash) == string(h) {
			continue
		}
		clientRows = append(clientRows, newClientRow(c, h, tp))
	}
	// Channels.
	var chRows []channelRow
	for _, ch := range chans {
		h := contentHash(ch.Raw)
		if s, ok := prevCh[ch.ID]; ok && !s.Removed && s.ClientID == ch.ClientID && string(s.ContentHash) == string(h) {
			continue
		}
		chRows = append(chRows, newChannelRow(ch, h, tp))
	}
	// A page none of whose clients is stored yet goes in by COPY.
	if len(seen) == 0 && len(clientRows)+len(chRows) > 0 {
		if done, err := r.copyNewPage(ctx, tx, clientRows, chRows, &t); done || err != nil {
			return t, err
		}
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
