// Package syncer runs one sync pass: it lists every client of a partner,
// fetches each client's channels, and brings hub.clients, hub.channels and
// hub.status_history in step with what the API returned, recording the run in
// hub.sync_runs.
//
// A run is a pipeline: one goroutine pages through the client list, a bounded
// pool fetches shared numbers, and one writer commits each page (its clients
// and their channels, with their history) in a single transaction. Rows whose
// content hash is unchanged are never sent to Postgres, so a quiet re-sync
// rewrites and locks nothing.
package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/logattr"
	"github.com/hubsync/hubsync/sync/metrics"
)

// Status is how a run ended.
type Status string

// The statuses of a run. Skipped runs have no hub.sync_runs row.
const (
	StatusSucceeded Status = "succeeded"
	StatusPartial   Status = "partial"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped"
)

// Mass-removal guard: a complete run may not remove more than this share of a
// table's live rows, when that is also more than massRemovalMinRows rows.
const (
	massRemovalShare   = 0.20
	massRemovalMinRows = 10
)

// Config configures a Syncer.
type Config struct {
	// Pool is the database to write to. Its schema must be migrated.
	Pool *pgxpool.Pool
	// API is the Partner API client; its partner is the one synced.
	API *hubapi.Client
	// PartnerID is the partner whose clients are synced.
	PartnerID string
	// PageSize is the number of clients asked for per list request (default 100).
	PageSize int
	// Concurrency is the number of shared-number requests in flight (default 8).
	Concurrency int
	// AllowMassRemoval lets a complete run remove more rows than the
	// mass-removal guard allows.
	AllowMassRemoval bool
	// Logger receives the run's log lines, each with its run_id.
	Logger *slog.Logger
	// Metrics, when set, receives rows written, transitions, unknown values,
	// bad records and the channel gauge.
	Metrics *metrics.Metrics
	// Progress, when set, is called after each page is committed.
	Progress func(Progress)
}

// Progress is a snapshot of a running sync, for a progress display.
type Progress struct {
	RunID    int64
	Pages    int
	Clients  int
	Channels int
	Requests int
	Total    int // clients the API says there are; 0 until the first page
	Elapsed  time.Duration
}

// Counts are what a run saw and wrote; they land in hub.sync_runs.
type Counts struct {
	Pages                 int
	ClientsSeen           int
	ClientsInserted       int
	ClientsUpdated        int
	ClientsRemoved        int
	ChannelsSeen          int
	ChannelsInserted      int
	ChannelsUpdated       int
	ChannelsRemoved       int
	Transitions           int
	APIRequests           int
	APIRetries            int
	APIThrottled          int
	ClientsFailed         int
	BadRecords            int
	UnparseableTimestamps int
	UnknownValues         int
}

// Result describes a finished run.
type Result struct {
	RunID    int64 // 0 when skipped
	Status   Status
	Complete bool // the run saw everything, so unseen rows were marked removed
	Counts
	// TransitionsByKind counts history rows by "entity.attribute: from → to".
	TransitionsByKind map[string]int
	// Unknown counts values outside the documented enums, by "attribute=value".
	Unknown  map[string]int
	Started  time.Time
	Duration time.Duration
	// Error says why the run ended failed or partial.
	Error string
}

// Syncer runs sync passes for one partner. It is safe to call Run from
// several goroutines or processes: only one run per partner proceeds at a
// time, the others are skipped.
type Syncer struct {
	cfg Config
	log *slog.Logger
}

// New returns a Syncer. It panics on a missing Pool or API, which is a
// programming error; settings are validated by the command line.
func New(cfg Config) *Syncer {
	if cfg.Pool == nil || cfg.API == nil {
		panic("syncer: Config.Pool and Config.API are required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg, log: cfg.Logger.With("component", "syncer", "partner_id", cfg.PartnerID)}
}

// LockKey is the name of the advisory lock that serialises runs of a partner.
func LockKey(partnerID string) string { return "hubsync/sync/" + partnerID }

// Run does one sync pass. It returns an error only when the run failed;
// a partial run returns its Result with Status partial and a nil error.
func (s *Syncer) Run(ctx context.Context) (Result, error) {
	start := time.Now()
	res := Result{Started: start}
	lk, err := tryLock(ctx, s.cfg.Pool, LockKey(s.cfg.PartnerID))
	if err != nil {
		res.Status, res.Error = StatusFailed, err.Error()
		return res, err
	}
	if lk == nil {
		s.log.Info("sync skipped: another run holds the lock")
		res.Status = StatusSkipped
		return res, nil
	}
	defer lk.release()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lk.watch(runCtx, cancel)

	r, err := s.startRun(runCtx)
	if err != nil {
		res.Status, res.Error = StatusFailed, err.Error()
		return res, err
	}
	lk.setRun(r.id)
	r.lock = lk
	// Lines logged with the run's context (the API client's) carry its id.
	runCtx = logattr.With(runCtx, slog.Int64("run_id", r.id))
	err = r.execute(runCtx)
	if err != nil {
		if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			if !errors.Is(err, cause) {
				err = fmt.Errorf("%w (%w)", err, cause)
			}
		} else if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	return r.finish(context.WithoutCancel(ctx), err)
}

// run is the state of one sync run.
type run struct {
	s       *Syncer
	id      int64
	log     *slog.Logger
	started time.Time
	api0    hubapi.Stats

	mu      sync.Mutex
	counts  Counts
	kinds   map[string]int
	unknown map[string]int
	lock    *lock
	// Fields already logged as null (see noteNulls), a bit per field.
	clientNulls, channelNulls atomic.Uint32
	badSeen                   map[string]bool // bad client records already counted
	incomplete                []string
	total                     int
	complete                  bool
	badStamps                 int // unparseable timestamps in committed pages
	warnedTime                int // unparseable timestamps logged
	pagesWritten              int // pages committed, for recordProgress
	// firstSync: the partner had nothing stored when the run started, so
	// pages skip PageStored and go straight to COPY (see lookUpStored).
	firstSync bool

	// Ids seen since the last flushSeen, for hub.sync_run_seen.
	seenMu sync.Mutex
	seen   []db.SyncRunSeenCopyParams
}

func (s *Syncer) startRun(ctx context.Context) (*run, error) {
	q := db.New(s.cfg.Pool)
	abandoned, err := q.SyncRunAbandonStale(ctx, s.cfg.PartnerID)
	if err != nil {
		return nil, fmt.Errorf("mark abandoned runs: %w", err)
	}
	for _, id := range abandoned {
		s.log.Warn("marked an earlier run abandoned: its process stopped without finishing", "abandoned_run_id", id)
	}
	if err := s.clearWorkingSets(ctx); err != nil {
		return nil, fmt.Errorf("clear stale working sets: %w", err)
	}
	host, _ := os.Hostname()
	row, err := q.SyncRunStart(ctx, db.SyncRunStartParams{PartnerID: s.cfg.PartnerID, Host: pgtype.Text{String: host, Valid: host != ""}})
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	firstSync, err := q.PartnerStoresNothing(ctx, s.cfg.PartnerID)
	if err != nil {
		return nil, fmt.Errorf("look for stored rows: %w", err)
	}
	r := &run{
		s:         s,
		firstSync: firstSync,
		id:        row.ID,
		log:       s.log.With("run_id", row.ID),
		started:   time.Now(),
		api0:      s.cfg.API.Stats(),
		kinds:     map[string]int{},
		unknown:   map[string]int{},
	}
	r.log.Info("sync run started", "page_size", s.cfg.PageSize, "concurrency", s.cfg.Concurrency)
	return r, nil
}

// warnTime logs an unparseable timestamp, the first 20 of a run.
func (r *run) warnTime(field, value string) {
	r.mu.Lock()
	r.warnedTime++
	n := r.warnedTime
	r.mu.Unlock()
	if n <= 20 {
		r.log.Warn("unparseable timestamp: stored as NULL, kept in raw", "field", field, "value", truncate(value, 80))
	}
}

// markIncomplete records why the run did not see everything. Such a run
// marks nothing removed and ends partial.
func (r *run) markIncomplete(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.incomplete) < 20 {
		r.incomplete = append(r.incomplete, msg)
	}
	r.log.Warn("run will be partial: " + msg)
}

func (r *run) apiCounts() (requests, retries, throttled int) {
	st := r.s.cfg.API.Stats()
	return int(st.Requests - r.api0.Requests), int(st.Retries - r.api0.Retries), int(st.Throttled - r.api0.Throttled)
}

// execute runs the pipeline and, when the run saw everything, the removals.
func (r *run) execute(ctx context.Context) error {
	complete, err := r.pipeline(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	complete = complete && len(r.incomplete) == 0
	r.mu.Unlock()
	if !complete {
		return nil
	}
	// Removals are the one step another run must never overlap: make sure
	// the lock still holds (the watcher looks only every second).
	if r.lock != nil {
		if err := r.lock.check(ctx); err != nil {
			return err
		}
	}
	return r.removeUnseen(ctx)
}

// removeUnseen marks removed, with history, the live rows this complete run
// did not see, unless that trips the mass-removal guard.
//
// A first sync removes nothing: the partner had no rows when it started, so
// every live row is one the run wrote (it saw them all) or one a
// write-through added meanwhile, which the API had just returned.
func (r *run) removeUnseen(ctx context.Context) error {
	if r.firstSync {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		r.mu.Lock()
		r.complete = true
		r.mu.Unlock()
		return nil
	}
	return r.retryDB(ctx, "mark removals", func() error { return r.removeUnseenTx(ctx) })
}

func (r *run) removeUnseenTx(ctx context.Context) error {
	tx, err := r.s.cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin removals: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The working set was filled during this run and has no statistics, nor
	// do the tables a first sync filled (autovacuum analyzes them later); the
	// planner may then take either side for small and pick a nested loop that
	// rescans the other for every row (quadratic: 10 s at 10,000 clients,
	// minutes at 100,000). Every statement here compares whole sets: hash
	// joins, sized by fresh statistics of the working set.
	if _, err := tx.Exec(ctx, `SET LOCAL enable_nestloop = off`); err != nil {
		return fmt.Errorf("plan removals: %w", err)
	}
	if _, err := tx.Exec(ctx, `ANALYZE hub.sync_run_seen`); err != nil {
		return fmt.Errorf("analyze the run's working set: %w", err)
	}
	q := db.New(tx)
	p := r.s.cfg.PartnerID
	cc, err := q.ClientRemovalCount(ctx, db.ClientRemovalCountParams{PartnerID: p, RunID: r.id})
	if err != nil {
		return fmt.Errorf("count clients to remove: %w", err)
	}
	hc, err := q.ChannelRemovalCount(ctx, db.ChannelRemovalCountParams{PartnerID: p, RunID: r.id})
	if err != nil {
		return fmt.Errorf("count channels to remove: %w", err)
	}
	if !r.s.cfg.AllowMassRemoval {
		var tripped []string
		for _, t := range []struct {
			name          string
			live, missing int32
		}{{"clients", cc.Live, cc.Missing}, {"channels", hc.Live, hc.Missing}} {
			if t.missing > massRemovalMinRows && float64(t.missing) > massRemovalShare*float64(t.live) {
				tripped = append(tripped, fmt.Sprintf("%d of %d live %s", t.missing, t.live, t.name))
			}
		}
		if len(tripped) > 0 {
			r.markIncomplete("mass-removal guard: the run would remove %s (more than %.0f%%); nothing was removed; rerun with --allow-mass-removal to accept",
				strings.Join(tripped, " and "), massRemovalShare*100)
			return nil
		}
	}
	// Most runs remove nothing: skip the statements that would look for it
	// again (each is a full anti join). Nothing else writes these tables
	// while the run holds the partner's lock but a write-through, whose rows
	// the API has just returned.
	var cr db.ClientMarkRemovedRow
	if cc.Missing > 0 {
		if cr, err = q.ClientMarkRemoved(ctx, db.ClientMarkRemovedParams{PartnerID: p, RunID: r.id}); err != nil {
			return fmt.Errorf("mark clients removed: %w", err)
		}
	}
	var hr db.ChannelMarkRemovedRow
	if hc.Missing > 0 {
		if hr, err = q.ChannelMarkRemoved(ctx, db.ChannelMarkRemovedParams{PartnerID: p, RunID: r.id}); err != nil {
			return fmt.Errorf("mark channels removed: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit removals: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.complete = true
	r.counts.ClientsRemoved += int(cr.Removed)
	r.counts.ChannelsRemoved += int(hr.Removed)
	r.addKinds("client", kindCounts(cr.Transitions))
	r.addKinds("channel", kindCounts(hr.Transitions))
	r.s.cfg.Metrics.AddRows("clients", "remove", int(cr.Removed))
	r.s.cfg.Metrics.AddRows("channels", "remove", int(hr.Removed))
	if cr.Removed+hr.Removed > 0 {
		r.log.Info("marked rows removed", "clients", cr.Removed, "channels", hr.Removed)
	}
	return nil
}

// transition is one kind of history row: an attribute going from one value
// to another ("" for none).
type transition struct{ attr, from, to string }

// kindCounts decodes the transition counts a write query returns as JSON
// ({"attribute:from>to": n}); nil when there are none.
func kindCounts(raw []byte) map[transition]int {
	var m map[string]int
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	if len(m) == 0 {
		return nil
	}
	out := make(map[transition]int, len(m))
	for k, n := range m {
		attr, change, _ := strings.Cut(k, ":")
		from, to, _ := strings.Cut(change, ">")
		out[transition{attr, from, to}] += n
	}
	return out
}

// addKinds adds transition counts to the run's tally. r.mu must be held.
func (r *run) addKinds(entity string, m map[transition]int) {
	for k, n := range m {
		from, to := k.from, k.to
		if from == "" {
			from = "∅"
		}
		if to == "" {
			to = "∅"
		}
		r.kinds[fmt.Sprintf("%s.%s: %s → %s", entity, k.attr, from, to)] += n
		r.counts.Transitions += n
		r.s.cfg.Metrics.AddTransitions(entity, k.attr, n)
	}
}

// finish records the run's outcome in hub.sync_runs and builds its Result.
func (r *run) finish(ctx context.Context, runErr error) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r.mu.Lock()
	c := r.counts
	c.APIRequests, c.APIRetries, c.APIThrottled = r.apiCounts()
	c.UnparseableTimestamps = r.badStamps
	res := Result{
		RunID:             r.id,
		Complete:          r.complete && runErr == nil,
		Counts:            c,
		TransitionsByKind: r.kinds,
		Unknown:           r.unknown,
		Started:           r.started,
		Duration:          time.Since(r.started),
	}
	switch {
	case runErr != nil:
		res.Status, res.Error = StatusFailed, runErr.Error()
	case len(r.incomplete) > 0:
		res.Status, res.Error = StatusPartial, strings.Join(r.incomplete, "; ")
	default:
		res.Status = StatusSucceeded
	}
	r.mu.Unlock()

	unknownList, _ := json.Marshal(res.Unknown)
	q := db.New(r.s.cfg.Pool)
	// A run that lost its lock may have been marked abandoned by the run
	// that took over: that verdict stands, and this run's end is not written
	// over it.
	if row, gerr := q.SyncRunGet(ctx, r.id); gerr == nil && row.Status != "running" {
		r.log.Warn("another run marked this one "+row.Status+" while it ran; leaving its row as it is", "err", res.Error)
		if res.Status == StatusFailed {
			return res, runErr
		}
		return res, nil
	}
	err := r.retryDB(ctx, "record run end", func() error {
		return q.SyncRunFinish(ctx, db.SyncRunFinishParams{
			ID:                    r.id,
			Status:                string(res.Status),
			Complete:              res.Complete,
			Pages:                 int32(c.Pages),
			ClientsSeen:           int32(c.ClientsSeen),
			ClientsInserted:       int32(c.ClientsInserted),
			ClientsUpdated:        int32(c.ClientsUpdated),
			ClientsRemoved:        int32(c.ClientsRemoved),
			ChannelsSeen:          int32(c.ChannelsSeen),
			ChannelsInserted:      int32(c.ChannelsInserted),
			ChannelsUpdated:       int32(c.ChannelsUpdated),
			ChannelsRemoved:       int32(c.ChannelsRemoved),
			Transitions:           int32(c.Transitions),
			ApiRequests:           int32(c.APIRequests),
			ApiRetries:            int32(c.APIRetries),
			ApiThrottled:          int32(c.APIThrottled),
			ClientsFailed:         int32(c.ClientsFailed),
			BadRecords:            int32(c.BadRecords),
			UnparseableTimestamps: int32(c.UnparseableTimestamps),
			UnknownValues:         int32(c.UnknownValues),
			UnknownValueList:      unknownList,
			Error:                 pgtype.Text{String: res.Error, Valid: res.Error != ""},
		})
	})
	if err != nil {
		r.log.Error("could not record the end of the run", "err", err)
		if runErr == nil {
			runErr = fmt.Errorf("record run end: %w", err)
			res.Status, res.Error = StatusFailed, runErr.Error()
		}
	}
	if err := r.s.clearWorkingSets(ctx); err != nil {
		r.log.Warn("could not clear the run's working set; the next run will", "err", err)
	}
	r.updateChannelGauge(ctx)

	attrs := []any{"status", res.Status, "duration", res.Duration.Round(time.Millisecond),
		"clients", c.ClientsSeen, "channels", c.ChannelsSeen, "transitions", c.Transitions,
		"requests", c.APIRequests}
	switch res.Status {
	case StatusSucceeded:
		r.log.Info("sync run finished", attrs...)
	case StatusPartial:
		r.log.Warn("sync run finished partial", append(attrs, "reason", res.Error)...)
	default:
		r.log.Error("sync run failed", append(attrs, "err", res.Error)...)
	}
	if res.Status == StatusFailed {
		return res, runErr
	}
	return res, nil
}

func (r *run) updateChannelGauge(ctx context.Context) {
	m := r.s.cfg.Metrics
	if m == nil {
		return
	}
	rows, err := db.New(r.s.cfg.Pool).ChannelCountByStatus(ctx, r.s.cfg.PartnerID)
	if err != nil {
		r.log.Warn("could not count channels by status", "err", err)
		return
	}
	m.ChannelsByStatus.Reset()
	for _, row := range rows {
		m.ChannelsByStatus.WithLabelValues(row.Status).Set(float64(row.Channels))
	}
}

func (r *run) progress() {
	if r.s.cfg.Progress == nil {
		return
	}
	r.mu.Lock()
	p := Progress{RunID: r.id, Pages: r.counts.Pages, Clients: r.counts.ClientsSeen,
		Channels: r.counts.ChannelsSeen, Total: r.total, Elapsed: time.Since(r.started)}
	r.mu.Unlock()
	p.Requests, _, _ = r.apiCounts()
	r.s.cfg.Progress(p)
}

// noteUnknown counts a value outside an attribute's documented enum, and logs
// it the first time the run sees it.
func (r *run) noteUnknown(attr string, v *string, known func(string) bool) {
	if v == nil || known(*v) {
		return
	}
	key := attr + "=" + *v
	r.mu.Lock()
	first := r.unknown[key] == 0
	r.unknown[key]++
	r.counts.UnknownValues++
	r.mu.Unlock()
	r.s.cfg.Metrics.AddUnknown(attr)
	if first {
		r.log.Warn("value outside the documented enum: stored as sent", "attribute", attr, "value", truncate(*v, 80))
	}
}

// noteBadOnce is noteBad for a record that a later pass of the listing may
// show again: key identifies it, and it is counted once.
func (r *run) noteBadOnce(entity, id, key, why string) {
	r.mu.Lock()
	if r.badSeen == nil {
		r.badSeen = map[string]bool{}
	}
	dup := r.badSeen[key]
	r.badSeen[key] = true
	r.mu.Unlock()
	if !dup {
		r.noteBad(entity, id, why)
	}
}

// noteBad counts and logs a record the run could not use.
func (r *run) noteBad(entity, id, why string) {
	r.mu.Lock()
	r.counts.BadRecords++
	n := r.counts.BadRecords
	r.mu.Unlock()
	r.s.cfg.Metrics.AddBad(entity)
	if n <= 50 {
		r.log.Warn("skipped a bad record", "entity", entity, "id", truncate(id, 80), "reason", truncate(why, 300))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sortedKeys returns m's keys in order, for stable output.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// clearWorkingSets empties hub.sync_run_seen of the runs that are no longer
// running (this one too, once its end is recorded). With no run running, as
// is usual, it TRUNCATEs the table, under a lock that makes runs starting
// meanwhile wait for it: a DELETE leaves the 350,000 rows of a run at 100,000
// clients as dead tuples that every later scan reads until vacuum comes by
// (the start of a run spent 0.2 s deleting nothing). Else, or when the
// table cannot be locked at once or truncated by this role, it deletes.
func (s *Syncer) clearWorkingSets(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE hub.sync_run_seen IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		running, err := db.New(tx).SyncRunAnyRunning(ctx)
		if err != nil {
			return err
		}
		if running {
			return errRunning
		}
		_, err = tx.Exec(ctx, "TRUNCATE hub.sync_run_seen")
		return err
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, errRunning) {
		s.log.Debug("could not truncate the working sets; deleting instead", "err", err)
	}
	return db.New(s.cfg.Pool).SyncRunSeenClearStale(ctx)
}

// errRunning stops clearWorkingSets from truncating while a run is running.
var errRunning = errors.New("a run is running")
