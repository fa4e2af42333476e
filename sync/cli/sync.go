package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

var syncSettings = []string{"DATABASE_URL", "HUB_API_URL", "HUB_PARTNER_ID", "HUB_API_KEY", "HUB_TOKEN",
	"HUBSYNC_PAGE_SIZE", "HUBSYNC_CONCURRENCY", "HUBSYNC_RATE_LIMIT", "HUBSYNC_LOG_FORMAT", "HUBSYNC_ALLOW_MASS_REMOVAL",
	"HUBSYNC_RETRY_BUDGET"}

func cmdSync(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("sync", "hubsync sync [flags]", env)
	load := bind(fs, env.Getenv, syncSettings...)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("sync: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	tty := env.Terminal()
	level := slog.LevelInfo
	if tty {
		level = slog.LevelWarn // the progress line and summary tell the story
	}
	w, err := cfg.openWorker(ctx, env, level, nil)
	if err != nil {
		return err
	}
	defer w.close()

	sc := w.syncerConfig()
	var prog *progressLine
	stopTicker := func() {}
	if tty {
		prog = newProgressLine(env.Stderr, w.api.Stats, time.Now)
		sc.Progress = prog.update
		tctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); prog.run(tctx, progressInterval) }()
		stopTicker = func() { cancel(); <-done }
	}
	res, runErr := syncer.New(sc).Run(ctx)
	stopTicker()
	if prog != nil {
		prog.clear()
	}
	if res.Status == syncer.StatusSkipped {
		fmt.Fprintln(env.Stdout, "sync skipped: another hubsync run holds the lock for this partner")
		return nil
	}
	writeSummary(env.Stdout, cfg.PartnerID, res)
	switch res.Status {
	case syncer.StatusSucceeded:
		return nil
	case syncer.StatusPartial:
		return &exitError{code: ExitPartial, msg: "sync partial: " + res.Error}
	}
	if runErr == nil {
		runErr = errors.New(res.Error)
	}
	return &exitError{code: ExitFailed, msg: "sync failed: " + runErr.Error()}
}

// progressInterval is how often the progress line is redrawn when no page
// is written, so that a call being retried or throttled still shows.
const progressInterval = time.Second

// progressLine redraws one line on a terminal: when a page is written, and
// on a ticker (see run), with the API client's retries and 429s so far.
type progressLine struct {
	w     io.Writer
	stats func() hubapi.Stats // the API client's counters
	now   func() time.Time
	start time.Time

	mu   sync.Mutex
	last syncer.Progress
	seen bool // last holds a page's progress
	n    int  // length of the line on screen
}

func newProgressLine(w io.Writer, stats func() hubapi.Stats, now func() time.Time) *progressLine {
	return &progressLine{w: w, stats: stats, now: now, start: now()}
}

// update is the syncer's Progress callback.
func (p *progressLine) update(pr syncer.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last, p.seen = pr, true
	p.draw()
}

// redraw draws the line again with fresh API counters and elapsed time.
func (p *progressLine) redraw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
}

// run redraws the line every interval until ctx ends.
func (p *progressLine) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.redraw()
		}
	}
}

// draw writes the line; callers hold p.mu.
func (p *progressLine) draw() {
	elapsed := p.now().Sub(p.start)
	st := p.stats()
	var b strings.Builder
	if p.seen {
		pr := p.last
		fmt.Fprintf(&b, "run %d  page %d  clients %s", pr.RunID, pr.Pages, thousands(int64(pr.Clients)))
		if pr.Total > 0 {
			fmt.Fprintf(&b, "/%s (%d%%)", thousands(int64(pr.Total)), min(100, pr.Clients*100/pr.Total))
		}
		fmt.Fprintf(&b, "  channels %s  ", thousands(int64(pr.Channels)))
	} else {
		b.WriteString("starting  ")
	}
	fmt.Fprintf(&b, "%s requests, %s retries (%s throttled)  %s",
		thousands(st.Requests), thousands(st.Retries), thousands(st.Throttled), elapsed.Round(time.Second))
	if pr := p.last; p.seen && pr.Total > 0 && pr.Clients > 0 && pr.Clients < pr.Total {
		left := time.Duration(float64(elapsed) * float64(pr.Total-pr.Clients) / float64(pr.Clients))
		fmt.Fprintf(&b, "  ETA %s", left.Round(time.Second))
	}
	line := b.String()
	fmt.Fprintf(p.w, "\r%-*s", p.n, line)
	p.n = len(line)
}

func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.n, "")
		p.n = 0
	}
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeSummary prints the one-screen account of a run.
func writeSummary(w io.Writer, partner string, r syncer.Result) {
	fmt.Fprintf(w, "hubsync sync: run %d for partner %s %s in %s\n", r.RunID, partner, strings.ToUpper(string(r.Status)), r.Duration.Round(time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  reason: %s\n", r.Error)
	}
	fmt.Fprintf(w, "\n  %-10s %8s %9s %8s %8s\n", "", "seen", "inserted", "updated", "removed")
	fmt.Fprintf(w, "  %-10s %8d %9d %8d %8d\n", "clients", r.ClientsSeen, r.ClientsInserted, r.ClientsUpdated, r.ClientsRemoved)
	fmt.Fprintf(w, "  %-10s %8d %9d %8d %8d\n", "channels", r.ChannelsSeen, r.ChannelsInserted, r.ChannelsUpdated, r.ChannelsRemoved)
	fmt.Fprintf(w, "\n  API: %d requests, %d retries, %d rate-limited (429); %d pages\n", r.APIRequests, r.APIRetries, r.APIThrottled, r.Pages)
	if r.ClientsFailed+r.BadRecords+r.UnparseableTimestamps > 0 {
		fmt.Fprintf(w, "  problems: %d clients' channels not fetched, %d bad records skipped, %d unparseable timestamps\n",
			r.ClientsFailed, r.BadRecords, r.UnparseableTimestamps)
	}
	fmt.Fprintf(w, "\n  transitions recorded: %d\n", r.Transitions)
	printTop(w, groupSightings(r.TransitionsByKind), 12)
	if len(r.Unknown) > 0 {
		fmt.Fprintf(w, "\n  values outside the documented enums (stored as sent): %d\n", r.UnknownValues)
		printTop(w, r.Unknown, 6)
	}
}

// groupSightings folds first sightings and returns ("x: ∅ → v") into one
// line per attribute, so that a first sync's summary stays one screen;
// changes and removals keep a line each.
func groupSightings(kinds map[string]int) map[string]int {
	out := make(map[string]int, len(kinds))
	for k, n := range kinds {
		attr, change, ok := strings.Cut(k, ": ")
		if ok && strings.HasPrefix(change, "∅ → ") {
			out[attr+": first seen or returned"] += n
			continue
		}
		out[k] += n
	}
	return out
}

// printTop prints the n largest entries of m, then how many more there are.
func printTop(w io.Writer, m map[string]int, n int) {
	type kv struct {
		k string
		v int
	}
	var kvs []kv
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool {
		if kvs[i].v != kvs[j].v {
			return kvs[i].v > kvs[j].v
		}
		return kvs[i].k < kvs[j].k
	})
	for i, e := range kvs {
		if i == n {
			rest := 0
			for _, e := range kvs[n:] {
				rest += e.v
			}
			fmt.Fprintf(w, "    … %d more kinds (%d rows)\n", len(kvs)-n, rest)
			break
		}
		fmt.Fprintf(w, "    %6d  %s\n", e.v, e.k)
	}
}

var clientsSettings = []string{"DATABASE_URL", "HUB_API_URL", "HUB_PARTNER_ID", "HUB_API_KEY", "HUB_TOKEN", "HUBSYNC_LOG_FORMAT",
	"HUBSYNC_RETRY_BUDGET"}

func cmdClients(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "update" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, "Usage: hubsync clients update CLIENT_ID [--max-channels N] [--partner-payload TEXT]")
			return nil
		}
		return usagef("clients: want 'hubsync clients update CLIENT_ID [--max-channels N] [--partner-payload TEXT]'")
	}
	fs := newFlagSet("clients update", "hubsync clients update CLIENT_ID [--max-channels N] [--partner-payload TEXT] [flags]", env)
	load := bind(fs, env.Getenv, clientsSettings...)
	maxCh := fs.Int64("max-channels", -1, "new maximum number of channels of the client")
	payload := fs.String("partner-payload", "\x00", "new partner_payload text")
	// The client id may come before or after the flags.
	rest := args[1:]
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usagef("clients update: unexpected argument %q", fs.Arg(0))
	}
	if id == "" {
		return usagef("clients update: CLIENT_ID is required")
	}
	var u hubapi.ClientUpdate
	maxSet, payloadSet := false, *payload != "\x00"
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "max-channels" {
			maxSet = true
		}
	})
	if maxSet {
		if *maxCh < 0 {
			return usagef("--max-channels: must be zero or more (got %d)", *maxCh)
		}
		u.MaxChannels = maxCh
	}
	if payloadSet {
		u.PartnerPayload = payload
	}
	if !maxSet && !payloadSet {
		return usagef("clients update: give --max-channels and/or --partner-payload")
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	w, err := cfg.openWorker(ctx, env, slog.LevelWarn, nil)
	if err != nil {
		return err
	}
	defer w.close()

	c, err := w.api.UpdateClient(ctx, id, u)
	if err != nil {
		var ae *hubapi.Error
		if errors.As(err, &ae) {
			msg := fmt.Sprintf("the API refused the update (HTTP %d): %s", ae.StatusCode, ae.DeveloperMessage)
			if ae.TraceID != "" {
				msg += fmt.Sprintf(" [360dialog trace id %s]", ae.TraceID)
			}
			return &exitError{code: ExitFailed, msg: msg}
		}
		if errors.Is(err, hubapi.ErrOutcomeUnknown) {
			return &exitError{code: ExitFailed, msg: fmt.Sprintf("update of client %s may or may not have been applied (%v); the next sync will show", id, err)}
		}
		return fmt.Errorf("update client %s: %w", id, err)
	}
	wr, err := syncer.WriteThrough(ctx, w.pool, cfg.PartnerID, c)
	if err != nil {
		return &exitError{code: ExitFailed, msg: fmt.Sprintf("the API applied the update, but storing it failed (the next sync will): %v", err)}
	}
	what := "unchanged"
	switch {
	case wr.Inserted:
		what = "inserted"
	case wr.Updated:
		what = "updated"
	}
	fmt.Fprintf(env.Stdout, "client %s updated through the API; database row %s", wr.ID, what)
	if wr.Transitions > 0 {
		fmt.Fprintf(env.Stdout, ", %d history row(s)", wr.Transitions)
	}
	fmt.Fprintln(env.Stdout)
	if wr.MaxChannels.Valid {
		fmt.Fprintf(env.Stdout, "  max_channels:    %d\n", wr.MaxChannels.Int64)
	}
	if wr.PartnerPayload.Valid {
		fmt.Fprintf(env.Stdout, "  partner_payload: %q\n", wr.PartnerPayload.String)
	}
	return nil
}
