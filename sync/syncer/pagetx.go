package syncer

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

// pagePlan is what a page must write: the rows whose content differs from
// what is stored, and whether none of its clients is stored yet.
type pagePlan struct {
	clientIDs, channelIDs []string // every id of the page, for the run's seen set
	clients               []clientRow
	channels              []channelRow
	allNew                bool
}

// planPage compares a page with what is stored, outside any transaction: the
// stored content hashes of the page's clients and of the channels stored
// under them, which the lister read (lookUpStored), and keeps the rows that
// differ. A quiet page ends here, having written nothing. good[i] are client
// i's channels to write; bad clients, and the channels in seenOnly[i] and in
// pw.known[i] (left undecoded as unchanged), are only recorded as seen. The
// lister hands on each client once per run; a channel that two clients of a
// page list is written once, and one listed again on a later page (it moved
// while the run went on) is written again, as it was then seen.
func planPage(pw *pageWork, good [][]*hubapi.Channel, seenOnly [][]string, tp *timeParser) pagePlan {
	var pl pagePlan
	pl.clientIDs = make([]string, 0, len(pw.clients))
	for _, c := range pw.clients {
		pl.clientIDs = append(pl.clientIDs, c.ID)
	}
	var chans []*hubapi.Channel
	inPage := map[string]bool{}
	for i := range pw.clients {
		if pw.failed[i] != nil {
			continue
		}
		for _, ids := range [2][]string{pw.known[i], seenOnly[i]} {
			for _, id := range ids {
				if !inPage[id] {
					inPage[id] = true
					pl.channelIDs = append(pl.channelIDs, id)
				}
			}
		}
		for _, ch := range good[i] {
			if inPage[ch.ID] {
				continue
			}
			inPage[ch.ID] = true
			chans = append(chans, ch)
			pl.channelIDs = append(pl.channelIDs, ch.ID)
		}
	}

	var st storedPage // nothing stored: every lookup misses
	if pw.stored != nil {
		st = *pw.stored
	}
	pl.allNew = len(st.clients)+len(st.channels) == 0
	if pl.allNew { // every row is written
		pl.clients = make([]clientRow, 0, len(pw.clients))
		pl.channels = make([]channelRow, 0, len(chans))
	}

	for i := range pw.clients {
		c := &pw.clients[i]
		if pw.bad[i] {
			continue
		}
		h := contentHash(c.Raw)
		if s, ok := st.clients[c.ID]; ok && !s.Removed && string(s.ContentHash) == string(h) {
			continue
		}
		pl.clients = append(pl.clients, newClientRow(c, h, tp))
	}
	for _, ch := range chans {
		h := contentHash(ch.Raw)
		if s, ok := st.channels[ch.ID]; ok && !s.Removed && s.ClientID == ch.ClientID && string(s.ContentHash) == string(h) {
			continue
		}
		pl.channels = append(pl.channels, newChannelRow(ch, h, tp))
	}
	return pl
}

// writePageTx writes a page's plan in tx: by COPY when none of its clients
// was stored, else (or when a row exists after all) by ClientUpsert and
// ChannelUpsert, each with its history. It touches no run state, so that the
// transaction can be retried; the tally joins the run once it committed.
func (r *run) writePageTx(ctx context.Context, tx pgx.Tx, pl *pagePlan) (pageTally, error) {
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
	if pl.allNew {
		if done, err := r.copyNewPage(ctx, tx, pl.clients, pl.channels, &t); done || err != nil {
			return t, err
		}
	}
	if len(pl.clients) > 0 {
		rows, err := marshalRows(pl.clients)
		if err != nil {
			return t, err
		}
		res, err := q.ClientUpsert(ctx, db.ClientUpsertParams{Rows: rows, PartnerID: p, RunID: runID(r.id)})
		if err != nil {
			return t, fmt.Errorf("upsert %d clients: %w", len(pl.clients), err)
		}
		t.clientsInserted, t.clientsUpdated, t.clientKinds = int(res.Inserted), int(res.Updated), kindCounts(res.Transitions)
	}
	if len(pl.channels) > 0 {
		rows, err := marshalRows(pl.channels)
		if err != nil {
			return t, err
		}
		res, err := q.ChannelUpsert(ctx, db.ChannelUpsertParams{Rows: rows, PartnerID: p, RunID: r.id})
		if err != nil {
			return t, fmt.Errorf("upsert %d channels: %w", len(pl.channels), err)
		}
		t.channelsInserted, t.channelsUpdated, t.channelKinds = int(res.Inserted), int(res.Updated), kindCounts(res.Transitions)
	}
	return t, nil
}
