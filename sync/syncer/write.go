package syncer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/db"
)

// Mass-removal guard: a complete run may not remove more than this share of a
// table's live rows, when that is also more than massRemovalMinRows rows.
const (
	massRemovalShare   = 0.20
	massRemovalMinRows = 10
)

func runID(id int64) pgtype.Int8 { return pgtype.Int8{Int64: id, Valid: id != 0} }

func (r *run) queries() *db.Queries { return db.New(r.s.cfg.Pool) }

// pagePlan is what a page writes: the new and changed rows.
type pagePlan struct {
	clients  []db.ClientStageCopyParams
	channels []db.ChannelStageCopyParams
	// clientsSeen and channelsSeen count the page's distinct ids.
	clientsSeen, channelsSeen int
}

// maxBatchRows bounds how many rows the writer puts in one transaction when
// it joins pages that were ready at once.
const maxBatchRows = 1000

func (pl *pagePlan) rows() int { return len(pl.clients) + len(pl.channels) }

// add joins another page's plan to pl. A channel that both pages list
// (it moved between them while the run went on) is written as the later
// page saw it.
func (pl *pagePlan) add(next pagePlan) {
	pl.clients = append(pl.clients, next.clients...)
	if len(next.channels) > 0 {
		later := make(map[string]bool, len(next.channels))
		for _, c := range next.channels {
			later[c.ID] = true
		}
		pl.channels = slices.DeleteFunc(pl.channels, func(c db.ChannelStageCopyParams) bool { return later[c.ID] })
		pl.channels = append(pl.channels, next.channels...)
	}
	pl.clientsSeen += next.clientsSeen
	pl.channelsSeen += next.channelsSeen
}

// plan turns a fetched page into what it must write: its new and changed
// records, decoded. Unchanged records (the same content hash as a live
// row) are not decoded.
func (r *run) plan(ctx context.Context, p *page) (pagePlan, error) {
	var failed []string
	for i, c := range p.clients {
		if err := p.failed[i]; err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return pagePlan{}, ctx.Err()
			}
			failed = append(failed, c.id)
			r.log.Error("could not fetch a client's channels; they stay untouched", "client_id", c.id, "err", err)
		}
	}
	if len(failed) > 0 {
		r.mu.Lock()
		r.counts.ClientsFailed += len(failed)
		r.mu.Unlock()
		r.markIncomplete("channels of %d client(s) could not be fetched (first: %s)", len(failed), failed[0])
	}
	if p.storedErr != nil {
		return pagePlan{}, p.storedErr
	}
	return r.planPage(p), nil
}

// writePlan commits a page's plan: its rows, with their history, in one
// transaction.
func (r *run) writePlan(ctx context.Context, pl *pagePlan) error {
	var t tally
	if len(pl.clients)+len(pl.channels) > 0 {
		err := r.retryDB(ctx, "write page", func() error {
			return pgx.BeginFunc(ctx, r.s.cfg.Pool, func(tx pgx.Tx) error {
				var err error
				t, err = writeRows(ctx, db.New(tx), r.s.cfg.PartnerID, pl.clients, pl.channels, runID(r.id))
				return err
			})
		})
		if err != nil {
			return fmt.Errorf("write page: %w", err)
		}
	}
	m := r.s.cfg.Metrics
	m.AddRows("clients", "insert", t.clients.inserted)
	m.AddRows("clients", "update", t.clients.updated)
	m.AddRows("channels", "insert", t.channels.inserted)
	m.AddRows("channels", "update", t.channels.updated)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts.ClientsSeen += pl.clientsSeen
	r.counts.ChannelsSeen += pl.channelsSeen
	r.counts.ClientsInserted += t.clients.inserted
	r.counts.ClientsUpdated += t.clients.updated
	r.counts.ChannelsInserted += t.channels.inserted
	r.counts.ChannelsUpdated += t.channels.updated
	r.addKinds("client", t.clients.kinds)
	r.addKinds("channel", t.channels.kinds)
	return nil
}

// storedPage is what is stored of a page's clients and of the channels
// stored under them.
type storedPage struct {
	clients        map[string]db.ClientStoredRow
	channelsByHash map[[sha256.Size]byte]db.ChannelStoredRow
}

// lookUpStored reads what is stored of p's clients and their channels.
func (r *run) lookUpStored(ctx context.Context, p *page) (storedPage, error) {
	st := storedPage{clients: map[string]db.ClientStoredRow{}, channelsByHash: map[[sha256.Size]byte]db.ChannelStoredRow{}}
	if r.firstSync {
		return st, nil
	}
	ids := make([]string, len(p.clients))
	for i, c := range p.clients {
		ids[i] = c.id
	}
	err := r.retryDB(ctx, "read the page's stored rows", func() error {
		q := r.queries()
		clients, err := q.ClientStored(ctx, db.ClientStoredParams{PartnerID: r.s.cfg.PartnerID, Ids: ids})
		if err != nil {
			return err
		}
		channels, err := q.ChannelStored(ctx, db.ChannelStoredParams{PartnerID: r.s.cfg.PartnerID, ClientIds: ids})
		if err != nil {
			return err
		}
		for _, c := range clients {
			st.clients[c.ID] = c
		}
		for _, c := range channels {
			if len(c.ContentHash) == sha256.Size {
				st.channelsByHash[[sha256.Size]byte(c.ContentHash)] = c
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("read the page's stored rows: %w", err)
	}
	return st, nil
}

// planPage keeps the page's records that differ from what is stored,
// decoded into rows, and notes every id it saw. A channel that two clients
// of the page list is written once.
func (r *run) planPage(p *page) pagePlan {
	partner, st := r.s.cfg.PartnerID, p.stored
	var pl pagePlan
	pl.clientsSeen = len(p.clients)
	for _, c := range p.clients {
		if c.rec == nil {
			continue // bad: counted by the lister; its row stays as it is
		}
		h := contentHash(c.raw)
		if s, ok := st.clients[c.id]; ok && !s.Removed && string(s.ContentHash) == string(h) {
			continue
		}
		row := clientParams(partner, c.id, c.rec)
		r.noteRecord("client", c.id, c.rec)
		pl.clients = append(pl.clients, row)
	}
	inPage := map[string]bool{}
	seen := func(id string) bool {
		first := !inPage[id]
		inPage[id] = true
		return first
	}
	for i, c := range p.clients {
		if p.failed[i] != nil {
			continue
		}
		for _, raw := range p.channels[i] {
			if s, ok := st.channelsByHash[sha256.Sum256(raw)]; ok && !s.Removed && s.ClientID == c.id {
				if seen(s.ID) {
					r.noteUnknowns(readEnums(raw))
				}
				continue
			}
			rec, id, err := readRecord(raw)
			if id == "" {
				r.noteBad("channel", "", fmt.Sprintf("client %s: %v", c.id, err), raw)
				r.markIncomplete("a channel record of client %s has no usable id, so its channels cannot all be accounted for", c.id)
				continue
			}
			if !seen(id) {
				continue
			}
			if err != nil {
				r.noteBad("channel", id, fmt.Sprintf("client %s: %v", c.id, err), raw)
				continue
			}
			row := channelParams(partner, id, c.id, rec)
			r.noteRecord("channel", id, rec)
			r.noteUnknowns(rowEnums(&row))
			pl.channels = append(pl.channels, row)
		}
	}
	pl.channelsSeen = len(inPage)
	for id := range inPage {
		r.channelsSeen.add(id)
	}
	return pl
}

// changes is what one write did to a table: rows inserted, updated and
// removed, and history rows by transition.
type changes struct {
	inserted, updated, removed int
	kinds                      map[transition]int
}

// transition is one kind of history row: an attribute going from one value
// to another (invalid for none).
type transition struct {
	attr     string
	from, to pgtype.Text
}

// tally is what one write did to both tables.
type tally struct{ clients, channels changes }

// resultRow is the shape of the rows the write queries return.
type resultRow = struct {
	Kind      string
	Attribute pgtype.Text
	FromValue pgtype.Text
	ToValue   pgtype.Text
	N         int32
}

// countRows adds up a write query's result rows.
func countRows[T ~resultRow](rows []T) changes {
	c := changes{kinds: map[transition]int{}}
	for _, x := range rows {
		row := resultRow(x)
		switch row.Kind {
		case "inserted":
			c.inserted += int(row.N)
		case "updated":
			c.updated += int(row.N)
		case "removed":
			c.removed += int(row.N)
		case "transition":
			c.kinds[transition{row.Attribute.String, row.FromValue, row.ToValue}] += int(row.N)
		}
	}
	return c
}

// writeRows stages rows by COPY and writes them, with their history, by one
// statement per table. q must be in a transaction: the staging tables empty
// at its commit.
func writeRows(ctx context.Context, q *db.Queries, partnerID string, clients []db.ClientStageCopyParams, channels []db.ChannelStageCopyParams, run pgtype.Int8) (tally, error) {
	var t tally
	if len(clients) > 0 {
		if err := q.ClientStageCreate(ctx); err != nil {
			return t, fmt.Errorf("create client staging table: %w", err)
		}
		if _, err := q.ClientStageCopy(ctx, clients); err != nil {
			return t, fmt.Errorf("stage %d clients: %w", len(clients), err)
		}
		rows, err := q.ClientUpsert(ctx, db.ClientUpsertParams{PartnerID: partnerID, RunID: run})
		if err != nil {
			return t, fmt.Errorf("write %d clients: %w", len(clients), err)
		}
		t.clients = countRows(rows)
	}
	if len(channels) > 0 {
		if err := q.ChannelStageCreate(ctx); err != nil {
			return t, fmt.Errorf("create channel staging table: %w", err)
		}
		if _, err := q.ChannelStageCopy(ctx, channels); err != nil {
			return t, fmt.Errorf("stage %d channels: %w", len(channels), err)
		}
		rows, err := q.ChannelUpsert(ctx, db.ChannelUpsertParams{PartnerID: partnerID, RunID: run})
		if err != nil {
			return t, fmt.Errorf("write %d channels: %w", len(channels), err)
		}
		t.channels = countRows(rows)
	}
	return t, nil
}

// addKinds adds transition counts to the run's tally. r.mu must be held.
func (r *run) addKinds(entity string, m map[transition]int) {
	for k, n := range m {
		from, to := "∅", "∅"
		if k.from.Valid {
			from = k.from.String
		}
		if k.to.Valid {
			to = k.to.String
		}
		r.kinds[fmt.Sprintf("%s.%s: %s → %s", entity, k.attr, from, to)] += n
		r.counts.Transitions += n
		r.s.cfg.Metrics.AddTransitions(entity, k.attr, n)
	}
}

// removeUnseen marks removed, with history, the live rows this complete run
// did not see, unless that trips the mass-removal guard.
//
// A first sync removes nothing: the partner had no rows when it started, so
// every live row is one it wrote, or one a write-through added meanwhile,
// which the API had just returned.
func (r *run) removeUnseen(ctx context.Context, clientsSeen *idSet) error {
	if r.firstSync {
		r.mu.Lock()
		r.complete = true
		r.mu.Unlock()
		return nil
	}
	var clients, channels []string
	err := r.retryDB(ctx, "find unseen rows", func() error {
		q := r.queries()
		live, err := q.ClientLiveIDs(ctx, r.s.cfg.PartnerID)
		if err != nil {
			return err
		}
		clients = unseen(live, clientsSeen)
		liveChannels, err := q.ChannelLiveIDs(ctx, r.s.cfg.PartnerID)
		if err != nil {
			return err
		}
		channels = unseen(liveChannels, r.channelsSeen)
		if !r.s.cfg.AllowMassRemoval {
			var tripped []string
			for _, t := range []struct {
				name          string
				live, missing int
			}{{"clients", len(live), len(clients)}, {"channels", len(liveChannels), len(channels)}} {
				if t.missing > massRemovalMinRows && float64(t.missing) > massRemovalShare*float64(t.live) {
					tripped = append(tripped, fmt.Sprintf("%d of %d live %s", t.missing, t.live, t.name))
					r.s.cfg.Metrics.MassRemovalGuardTripped(t.name)
				}
			}
			if len(tripped) > 0 {
				r.markIncomplete("mass-removal guard: the run would remove %s (more than %.0f%%); nothing was removed; rerun with --allow-mass-removal to accept",
					strings.Join(tripped, " and "), massRemovalShare*100)
				clients, channels = nil, nil
				return errGuard
			}
		}
		return nil
	})
	if errors.Is(err, errGuard) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find unseen rows: %w", err)
	}
	var t tally
	if len(clients)+len(channels) > 0 {
		err = r.retryDB(ctx, "mark removals", func() error {
			return pgx.BeginFunc(ctx, r.s.cfg.Pool, func(tx pgx.Tx) error {
				q := db.New(tx)
				p, run := r.s.cfg.PartnerID, runID(r.id)
				cr, err := q.ClientMarkRemoved(ctx, db.ClientMarkRemovedParams{PartnerID: p, Ids: clients, RunID: run})
				if err != nil {
					return fmt.Errorf("mark clients removed: %w", err)
				}
				hr, err := q.ChannelMarkRemoved(ctx, db.ChannelMarkRemovedParams{PartnerID: p, Ids: channels, RunID: run})
				if err != nil {
					return fmt.Errorf("mark channels removed: %w", err)
				}
				t = tally{clients: countRows(cr), channels: countRows(hr)}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.complete = true
	r.counts.ClientsRemoved += t.clients.removed
	r.counts.ChannelsRemoved += t.channels.removed
	r.addKinds("client", t.clients.kinds)
	r.addKinds("channel", t.channels.kinds)
	r.s.cfg.Metrics.AddRows("clients", "remove", t.clients.removed)
	r.s.cfg.Metrics.AddRows("channels", "remove", t.channels.removed)
	if t.clients.removed+t.channels.removed > 0 {
		r.log.Info("marked rows removed", "clients", t.clients.removed, "channels", t.channels.removed)
	}
	return nil
}

// errGuard ends the removal step when the mass-removal guard trips.
var errGuard = errors.New("mass-removal guard")

// unseen returns the ids of live that seen lacks.
func unseen(live []string, seen *idSet) []string {
	var out []string
	for _, id := range live {
		if !seen.has(id) {
			out = append(out, id)
		}
	}
	return out
}

// WriteThroughResult says what writing one client through did.
type WriteThroughResult struct {
	ID                string
	Inserted, Updated bool
	Transitions       int
	// MaxChannels and PartnerPayload are the client's as stored; NULL when
	// the API sent none (or one that could not be stored as sent).
	MaxChannels    pgtype.Int8
	PartnerPayload pgtype.Text
}

// WriteThrough stores a client record the API just returned (the answer to
// a PATCH, say) with its history, outside any sync run: its history rows
// have no sync_run_id. An unchanged client writes nothing.
func WriteThrough(ctx context.Context, pool *pgxpool.Pool, partnerID string, raw jsontext.Value) (WriteThroughResult, error) {
	rec, id, err := readRecord(raw)
	if err != nil {
		return WriteThroughResult{}, fmt.Errorf("write client %s: %w", id, err)
	}
	row := clientParams(partnerID, id, rec)
	var t tally
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		t, err = writeRows(ctx, db.New(tx), partnerID, []db.ClientStageCopyParams{row}, nil, pgtype.Int8{})
		return err
	})
	if err != nil {
		return WriteThroughResult{}, fmt.Errorf("write client %s: %w", id, err)
	}
	n := 0
	for _, k := range t.clients.kinds {
		n += k
	}
	return WriteThroughResult{ID: id, Inserted: t.clients.inserted > 0, Updated: t.clients.updated > 0, Transitions: n,
		MaxChannels: row.MaxChannels, PartnerPayload: row.PartnerPayload}, nil
}

// progressParams are a run's counts as SyncRunProgress takes them.
func progressParams(id int64, c Counts, requests, retries, throttled int) db.SyncRunProgressParams {
	return db.SyncRunProgressParams{
		ID: id, Pages: int32(c.Pages),
		ClientsSeen: int32(c.ClientsSeen), ClientsInserted: int32(c.ClientsInserted), ClientsUpdated: int32(c.ClientsUpdated),
		ChannelsSeen: int32(c.ChannelsSeen), ChannelsInserted: int32(c.ChannelsInserted), ChannelsUpdated: int32(c.ChannelsUpdated),
		Transitions: int32(c.Transitions), ApiRequests: int32(requests), ApiRetries: int32(retries), ApiThrottled: int32(throttled),
	}
}
