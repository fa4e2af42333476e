// Package syncer runs one sync pass: it lists every client of a partner,
// fetches each client's channels, and brings hub.clients, hub.channels and
// hub.status_history in step with what the API returned, recording the run in
// hub.sync_runs.
//
// A run is a pipeline (pipeline.go): one goroutine pages through the client
// list (list.go), a pool of Config.Concurrency goroutines fetches shared
// numbers, and one writer commits each page in a single transaction
// (write.go). The writer compares each record's content hash with what is
// stored and decodes only the new and changed records (records.go), so a
// quiet re-sync writes and locks nothing. Every record costs at most itself:
// a member of the wrong type becomes NULL in its column, a record that
// cannot be keyed is counted as bad, and neither stops the page.
//
// To add a column: add it to the table in a migration, to the staging COPY
// and the upsert in queries/, and map it in clientParams or channelParams.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
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
	FieldsMadeSafe        int
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
	// Unknown counts values outside the documented enums, by
	// "attribute=value".
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
	lock    *lock

	mu         sync.Mutex
	counts     Counts
	kinds      map[string]int
	unknown    map[string]int
	incomplete []string
	total      int
	complete   bool
	// channelsSeen holds every channel id the run saw (written, unchanged or
	// bad), for the removal step; the lister keeps the clients'.
	channelsSeen *idSet
	// firstSync: the partner had nothing stored when the run started, so
	// its pages have nothing to look up (a row that appears meanwhile, by a
	// write-through, is still found by the upserts).
	firstSync bool
	// What is logged once per run.
	logged onceSet
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
		s:            s,
		firstSync:    firstSync,
		id:           row.ID,
		log:          s.log.With("run_id", row.ID),
		started:      time.Now(),
		api0:         s.cfg.API.Stats(),
		kinds:        map[string]int{},
		unknown:      map[string]int{},
		channelsSeen: newIDSet(),
	}
	r.log.Info("sync run started", "page_size", s.cfg.PageSize, "concurrency", s.cfg.Concurrency)
	return r, nil
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
	clientsSeen, err := r.pipeline(ctx)
	if err != nil || clientsSeen == nil {
		return err
	}
	r.mu.Lock()
	complete := len(r.incomplete) == 0
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
	return r.removeUnseen(ctx, clientsSeen)
}

// finish records the run's outcome in hub.sync_runs and builds its Result.
func (r *run) finish(ctx context.Context, runErr error) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r.mu.Lock()
	c := r.counts
	c.APIRequests, c.APIRetries, c.APIThrottled = r.apiCounts()
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

	unknownList, _ := json.Marshal(res.Unknown, json.Deterministic(true))
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
			FieldsMadeSafe:        int32(c.FieldsMadeSafe),
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

// noteUnknowns counts a channel's values outside the documented enums, and
// logs each the first time the run sees it.
func (r *run) noteUnknowns(values enumValues) {
	for i, v := range values {
		e := channelEnums[i]
		if !v.Valid || slices.Contains(e.known, v.String) {
			continue
		}
		key := e.attr + "=" + v.String
		r.mu.Lock()
		r.unknown[key]++
		r.counts.UnknownValues++
		r.mu.Unlock()
		r.s.cfg.Metrics.AddUnknown(e.attr, 1)
		if r.logged.first("unknown " + key) {
			r.log.Warn("value outside the documented enum: stored as sent", "attribute", e.attr, "value", truncate(v.String, 80))
		}
	}
}

// noteRecord counts and logs, once per run and kind, what reading a stored
// record found: members made safe, timestamps that did not parse, and nulls
// the spec does not allow.
func (r *run) noteRecord(entity, id string, rec *record) {
	r.mu.Lock()
	r.counts.FieldsMadeSafe += len(rec.madeSafe)
	r.counts.UnparseableTimestamps += len(rec.badTimes)
	r.mu.Unlock()
	r.s.cfg.Metrics.AddMadeSafe(entity, len(rec.madeSafe))
	for _, f := range rec.madeSafe {
		if r.logged.first("safe " + entity + "." + f) {
			r.log.Warn("a member could not be stored as sent: its column is NULL or made safe, raw keeps it (logged once per member and run)",
				"entity", entity, "id", truncate(id, 80), "member", f)
		}
	}
	for _, t := range rec.badTimes {
		if r.logged.first("time " + entity + "." + t.path) {
			r.log.Warn("unparseable timestamp: stored as NULL, kept in raw (logged once per member and run)",
				"entity", entity, "id", truncate(id, 80), "member", t.path, "value", truncate(safeText(t.value), 80))
		}
	}
	for _, f := range rec.nulls {
		if r.logged.first("null " + entity + "." + f) {
			r.log.Warn("null in a member the API spec does not mark nullable: stored as NULL (logged once per member and run)",
				"entity", entity, "id", truncate(id, 80), "member", f)
		}
	}
}

// noteBad counts and logs a record the run could not store.
func (r *run) noteBad(entity, id, why string, raw []byte) {
	r.mu.Lock()
	r.counts.BadRecords++
	n := r.counts.BadRecords
	r.mu.Unlock()
	r.s.cfg.Metrics.AddBad(entity)
	if n <= 50 {
		r.log.Warn("skipped a bad record", "entity", entity, "id", truncate(safeText(id), 80), "reason", why,
			"record_starts", truncate(safeText(string(raw[:min(len(raw), 256)])), 200))
	}
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
